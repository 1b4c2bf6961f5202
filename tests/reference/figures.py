#!/usr/bin/python3
"""Independent reference implementation of the casewatch board figures.

Reads a log of length-delimited casewatch.v1.Event messages (varint length, then the
serialized Event: the standard protobuf "delimited" format) and computes every board figure
described in README.md, "Case state and the board figures", for an as-of date D.  It shares
no code with the daemon: it exists so that an integration test can check
`casewatch report --json` against a computation written from the README alone.

Usage:
    /usr/bin/python3 tests/reference/figures.py LOG --as-of YYYY-MM-DD
        [--holidays FILE] [--area AREA | --all-scopes] [--proto-dir DIR]

Output (one JSON object on stdout):
    {"as_of": "YYYY-MM-DD", "scope": "national" | AREA, "areas_prioritised": [...],
     "figures": [{"name": N, "case_type": T, "value": V}, ...]}
or, with --all-scopes, {"national": {...}, "areas": {AREA: {...}, ...}} (one pass over the log).

Needs Debian's python3 with python3-protobuf and protoc; only the standard library otherwise.
The Python protobuf modules are generated at run time into a temporary directory.

READINGS OF THE SPEC (where the README is ambiguous, this is what this file does):

 R1  Case facts follow the README: the latest (occurred_at, FNV-1a 64 of event_id) event
     sets a fact; the EARLIEST case_opened gives start, court area and the opening type (a
     second one is an anomaly); any case_reclassified replaces the opening type (the latest
     one wins); a report's kind and ordered due date come from its earliest report_ordered,
     and the date in force is the latest extension's when one was agreed.
     Durations are close day - start day in whole days (weeks = days / 7); "within 26
     weeks" is at most 182 days.
 R2  Period figures (open, new, closed/durations, 52/100 weeks, care 26 weeks, s7) use the
     state of each case as of D: the fold of its events with occurred_at < D+1 00:00 UTC.
     That state supplies *every* fact, including the case type and court area a case is
     counted under, its children, and whether and when it is closed.  A case whose
     case_opened occurred after D is a stub at D and counts in no period figure.
 R3  The "previous year" figures (new_*_prev_fytd, care_*_prev_year) are computed from the
     SAME as-of-D state, only over the date range one year earlier (not from the state as
     of D - 1 year).  E.g. a care case that closed in last year's quarter, was reopened and
     closed again later has one closed_at (the latest close) and is counted only there.
 R4  "One year earlier" of a date is the same month/day in the previous year; 29 February
     becomes 28 February.  FYTD = 1 April (of D's financial year) .. D inclusive; the
     previous period = 1 April a year earlier .. D - 1 year inclusive.
 R5  Year-on-year change is of the COUNTS (new cases, new children), not of the
     per-working-day rates: (this - previous) / previous * 100; null when previous is 0.
 R6  new_*_per_working_day is null when the period has 0 working days (D = 1 April on a
     weekend or bank holiday).  new_children_* = the sum over new cases of their children
     as of D (children added after the start but by D included).
 R7  Open at D: case_opened present as of D, start day <= D, not closed as of D.  The
     open 52+/100+ weeks figures compare the UTC day of start with D - 364 / D - 700 days.
 R8  Closed in a period: closed as of D (latest case_closed later than the latest
     case_reopened) and the UTC day of closed_at inside the period, inclusive at both
     ends: quarter = D-90..D (91 days), year = D-364..D (365 days).  Duration in weeks =
     (closed_at - start) ms / 604800000, computed as an exact rational; mean and median
     (even count: mean of the two middle values) are exact and rounded once at the end.
 R9  Care 26 weeks: cases of (as-of-D) type s31 care or s31 supervision, closed in the
     latest calendar quarter (Jan-Mar, Apr-Jun, Jul-Sep, Oct-Dec) whose last day is <= D
     (so if D is 31 December, Oct-Dec itself); within 26 weeks = (closed_at - start) <=
     182 * 86400000 ms.  The previous-year quarter is the same quarter a year earlier.
 R10 Live (point-in-time) figures use the fold of ALL events.  Live open = case_opened
     present and not closed in the final state (no check of start against any date).  Its
     case type and court area are the final ones.  So alloc_* denominators (live open
     cases) may differ from open_cases (open as of D).
 R11 Allocation: status from the latest allocated event; WORKER and TEAM -> allocated,
     none yet -> duty.  Caseload: live open cases whose latest allocation target is WORKER,
     grouped by that event's worker_id; workers = number of distinct such workers;
     caseload_mean = cases / workers (null when 0 workers); caseload_max = 0 when none.
     In an area scope only that area's cases count toward each worker's caseload.
 R12 Children seen: over the children (the union set) of live open cases whose status is
     allocated; a child counts as seen when any child_seen on that case names it, in
     person when any of those has in_person.  A child_seen naming a child that is not one
     of the case's children is ignored.  children_seen_in_person_pct = in person /
     children_in_allocated (not / seen).
 R13 s7: per (case, report_id), reports whose kind (from report_ordered) is S7_REPORT and
     whose earliest report_filed day is in FYTD.  A report never ordered (as of D) is not
     counted, whatever report_filed.report_kind says (report_filed's kind is ignored).
     On time: filed day <= due day in force (UTC days), where all extensions as of D count,
     also ones agreed after the filing; extended: at least one extension agreed as of D.
     Counted under the case's as-of-D type and area; open or closed cases alike.
 R14 Prioritisation (live): per court area, the latest (occurred_at, event_id) of
     prioritisation_activated / _deactivated.  National: prioritisation_active = number of
     active areas, areas_prioritised = them sorted.  Area scope: 1/0 and [AREA] or [].
     Area events are keyed by court_area only; their case_id is ignored.
 R15 The areas of --all-scopes: every court area named by a valid case_opened (at any
     time) or by a prioritisation event, sorted.
 R16 Validation (rough, as the daemon's): skipped are records that fail to parse (a record
     whose length runs past the end of the file ends the log), events with no payload,
     empty event_id, empty source, schema_version != 1, occurred_at before 1990-01-01,
     empty case_id (except area events), area events with empty court_area, case_opened
     with an unknown/unspecified case_type or empty court_area, case_reclassified with an
     unknown/unspecified type, allocated with an unknown/unspecified target, and any enum
     field with a value the contract does not define.  "More than a day ahead" is not
     checked (the daemon's clock is not known here).  Duplicates (same event_id) are
     removed AFTER validation, the first valid copy winning.
 R17 Rounding: half away from zero to one decimal, applied to the exact rational value.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_PROTO_DIR = os.path.join(REPO, "proto")
DEFAULT_HOLIDAYS = os.path.join(REPO, "deploy", "bank-holidays-england-wales.txt")

DAY_MS = 86400000
WEEK_MS = 7 * DAY_MS
EPOCH = dt.date(1970, 1, 1)
MIN_OCCURRED_MS = (dt.date(1990, 1, 1) - EPOCH).days * DAY_MS

# CaseType numbers (common.proto), spelled out here rather than read from the daemon.
S31_CARE, S31_SUPERVISION, PUBLIC_OTHER, WTFH, WAFH, RULE_16_4 = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {
    S31_CARE: "PUBLIC_LAW_S31_CARE",
    S31_SUPERVISION: "PUBLIC_LAW_S31_SUPERVISION",
    PUBLIC_OTHER: "PUBLIC_LAW_OTHER",
    WTFH: "PRIVATE_LAW_WTFH",
    WAFH: "PRIVATE_LAW_WAFH",
    RULE_16_4: "RULE_16_4",
}
PUBLIC_TYPES = {S31_CARE, S31_SUPERVISION, PUBLIC_OTHER}
PRIVATE_TYPES = {WTFH, WAFH, RULE_16_4}
CARE_TYPES = {S31_CARE, S31_SUPERVISION}
TYPE_GROUPS = ["all", "public", "private"] + [TYPE_NAMES[t] for t in sorted(TYPE_NAMES)]

# AllocationTarget numbers (events.proto).
T_WORKER, T_TEAM, T_DUTY, T_PAH, T_AH = 1, 2, 3, 4, 5
ALLOC_STATUS = {T_WORKER: "allocated", T_TEAM: "allocated", T_DUTY: "duty",
                T_PAH: "post_assessment_hub", T_AH: "allocation_hub"}
ALLOC_NAMES = ["allocated", "duty", "post_assessment_hub", "allocation_hub"]

S7_REPORT = 1  # ReportKind
AREA_KINDS = ("prioritisation_activated", "prioritisation_deactivated")


# ---------------------------------------------------------------------------------------
# protobuf classes, generated at run time

_PB2 = None
_PB2_DIR = None


def load_pb2(proto_dir=DEFAULT_PROTO_DIR):
    """Generate casewatch/v1/{common,events}_pb2.py into a temp dir with protoc and import events_pb2."""
    global _PB2, _PB2_DIR
    if _PB2 is not None:
        return _PB2
    tmp = tempfile.mkdtemp(prefix="cw-ref-pb2-")
    # Only the input contract: other .proto files (state, alerts, metrics) are not needed
    # and a half-edited one must not break the reference.
    srcs = [os.path.join(proto_dir, "casewatch", "v1", f)
            for f in ("common.proto", "events.proto")]
    subprocess.run(["protoc", "--python_out=" + tmp, "-I", proto_dir] + srcs, check=True)
    for d in (os.path.join(tmp, "casewatch"), os.path.join(tmp, "casewatch", "v1")):
        open(os.path.join(d, "__init__.py"), "a").close()
    sys.path.insert(0, tmp)
    import importlib
    _PB2 = importlib.import_module("casewatch.v1.events_pb2")
    _PB2_DIR = tmp
    import atexit
    atexit.register(shutil.rmtree, tmp, True)
    return _PB2


# ---------------------------------------------------------------------------------------
# reading the log

def _read_varint(buf, pos):
    """Returns (value, new_pos) or None when the varint is truncated or too long."""
    result, shift = 0, 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    return None


def write_delimited(path, events):
    """Writes messages (or raw bytes) as a length-delimited log (helper for tests)."""
    with open(path, "wb") as f:
        for ev in events:
            data = ev if isinstance(ev, (bytes, bytearray)) else ev.SerializeToString()
            n = len(data)
            while True:
                b = n & 0x7F
                n >>= 7
                f.write(bytes([b | (0x80 if n else 0)]))
                if not n:
                    break
            f.write(data)


def _is_ident(s):
    return 0 < len(s) <= 128 and all(0x21 <= ord(c) <= 0x7E for c in s)


def _enums_defined(msg):
    """False when any enum field of msg holds a number its enum does not define."""
    for fd, value in msg.ListFields():
        if fd.enum_type is not None and fd.enum_type.values_by_number.get(value) is None:
            return False
    return True


def valid_event(ev):
    """Rough validation (reading R16)."""
    kind = ev.WhichOneof("payload")
    if kind is None or not ev.event_id or not ev.source or ev.schema_version != 1:
        return False
    if ev.occurred_at < MIN_OCCURRED_MS:
        return False
    if not _is_ident(ev.event_id):
        return False
    p = getattr(ev, kind)
    if not _enums_defined(p):
        return False
    if kind in AREA_KINDS:
        return _is_ident(p.court_area)
    if not _is_ident(ev.case_id):
        return False
    if kind == "case_opened":
        return p.case_type in TYPE_NAMES and _is_ident(p.court_area)
    if kind == "case_reclassified":
        return p.new_case_type in TYPE_NAMES
    if kind == "allocated":
        return p.target in ALLOC_STATUS
    return True


def read_log(path, pb2=None):
    """Returns the valid, de-duplicated events of a delimited log, in file order."""
    pb2 = pb2 or load_pb2()
    with open(path, "rb") as f:
        buf = f.read()
    events, seen_ids = [], set()
    pos = 0
    while pos < len(buf):
        r = _read_varint(buf, pos)
        if r is None:
            break
        n, pos = r
        if pos + n > len(buf):
            break
        data = buf[pos:pos + n]
        pos += n
        ev = pb2.Event()
        try:
            ev.ParseFromString(data)
        except Exception:  # DecodeError, invalid UTF-8, ...
            continue
        if not valid_event(ev) or ev.event_id in seen_ids:
            continue
        seen_ids.add(ev.event_id)
        events.append(ev)
    return events


# ---------------------------------------------------------------------------------------
# case state: a fold of a case's events in (occurred_at, event_id) order

class Report:
    __slots__ = ("ordered", "kind", "due_ms", "order_due_ms", "ext_due_ms", "extended",
                 "filed_ms")

    def __init__(self):
        self.ordered = False
        self.kind = 0
        self.due_ms = None
        self.order_due_ms = None
        self.ext_due_ms = None
        self.extended = False
        self.filed_ms = None


class CaseState:
    def __init__(self):
        self.opened = False
        self.start_ms = None
        self.case_type = None
        self.court_area = None
        self.children = set()
        self.closed = False
        self.closed_at_ms = None
        self.alloc_target = None
        self.worker = None
        self.seen = set()
        self.seen_in_person = set()
        self.reports = {}

    def status(self):
        return ALLOC_STATUS[self.alloc_target] if self.alloc_target else "duty"


def fnv64(s):
    """FNV-1a 64 of an event id: the README's tie-break between events of equal occurred_at."""
    h = 1469598103934665603
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def order_key(ev):
    return (ev.occurred_at, fnv64(ev.event_id))


def fold_case(events):
    """events: sorted by (occurred_at, event_id).  Since later events are applied later,
    "the latest event wins" is plain overwriting; sets are unions."""
    s = CaseState()
    last_close = last_reopen = None
    opened_type = reclass_type = None
    for ev in events:
        kind = ev.WhichOneof("payload")
        p = getattr(ev, kind)
        key = order_key(ev)
        if kind == "case_opened":
            if not s.opened:  # the earliest case_opened counts (README)
                s.opened = True
                s.start_ms = p.issued_at if p.issued_at else ev.occurred_at
                opened_type = p.case_type
                s.court_area = p.court_area
            s.children.update(p.child_ids)
        elif kind == "case_reclassified":
            reclass_type = p.new_case_type  # the latest reclassification replaces the type
        elif kind == "child_added":
            s.children.add(p.child_id)
        elif kind == "case_closed":
            last_close = key
            s.closed_at_ms = ev.occurred_at
        elif kind == "case_reopened":
            last_reopen = key
        elif kind == "allocated":
            s.alloc_target = p.target
            s.worker = p.worker_id if p.target == T_WORKER else None
        elif kind == "child_seen":
            s.seen.add(p.child_id)
            if p.in_person:
                s.seen_in_person.add(p.child_id)
        elif kind == "report_ordered":
            r = s.reports.setdefault(p.report_id, Report())
            if not r.ordered:  # the earliest order counts
                r.ordered = True
                r.kind = p.report_kind
                r.order_due_ms = p.due_at
        elif kind == "report_extension_agreed":
            r = s.reports.setdefault(p.report_id, Report())
            r.extended = True
            r.ext_due_ms = p.new_due_at  # the latest extension's date is in force
        elif kind == "report_filed":
            r = s.reports.setdefault(p.report_id, Report())
            if r.filed_ms is None:
                r.filed_ms = ev.occurred_at
    s.case_type = reclass_type if reclass_type is not None else opened_type
    for r in s.reports.values():
        r.due_ms = r.ext_due_ms if r.extended else r.order_due_ms
    s.closed = last_close is not None and (last_reopen is None or last_close > last_reopen)
    if not s.closed:
        s.closed_at_ms = None
    return s


# ---------------------------------------------------------------------------------------
# dates

def day_of(ms):
    return EPOCH + dt.timedelta(days=ms // DAY_MS)


def day_start_ms(d):
    return (d - EPOCH).days * DAY_MS


def year_earlier(d):
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def fy_start(d):
    return dt.date(d.year if d.month >= 4 else d.year - 1, 4, 1)


def latest_complete_quarter(d):
    """(first day, last day) of the latest calendar quarter whose last day is <= d."""
    ends = [dt.date(d.year, 3, 31), dt.date(d.year, 6, 30), dt.date(d.year, 9, 30),
            dt.date(d.year, 12, 31)]
    done = [e for e in ends if e <= d]
    end = done[-1] if done else dt.date(d.year - 1, 12, 31)
    return dt.date(end.year, end.month - 2, 1), end


def load_holidays(path):
    hols = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            token = line.split()[0]
            try:
                hols.add(dt.date.fromisoformat(token))
            except ValueError:
                raise SystemExit("%s:%d: expected YYYY-MM-DD name" % (path, lineno))
    return hols


def working_days(first, last, holidays):
    n, d = 0, first
    while d <= last:
        if d.weekday() < 5 and d not in holidays:
            n += 1
        d += dt.timedelta(days=1)
    return n


# ---------------------------------------------------------------------------------------
# arithmetic

def round1(x):
    """Half away from zero to one decimal of an exact rational; None stays None."""
    if x is None:
        return None
    x = Fraction(x)
    q = abs(x) * 10
    n = (q + Fraction(1, 2)).__floor__()
    return float(Fraction(-n if x < 0 else n, 10))


def ratio(part, whole):
    return None if not whole else Fraction(part, whole)


def pct(part, whole):
    return None if not whole else Fraction(100 * part, whole)


def mean(values):
    return Fraction(sum(values), len(values)) if values else None


def median(values):
    if not values:
        return None
    v = sorted(values)
    m = len(v) // 2
    return Fraction(v[m]) if len(v) % 2 else Fraction(v[m - 1] + v[m], 2)


# ---------------------------------------------------------------------------------------
# aggregation

class Bucket:
    """Everything one (scope, case-type group) needs."""

    def __init__(self):
        self.open_cases = self.open_children = 0
        self.new_cases = self.new_children = 0
        self.new_cases_prev = self.new_children_prev = 0
        self.dur_quarter = []  # durations in whole days
        self.dur_year = []
        self.open_52w_cases = self.open_52w_children = 0
        self.open_100w_cases = self.open_100w_children = 0
        self.alloc = dict.fromkeys(ALLOC_NAMES, 0)
        self.live_open = 0
        self.children_in_allocated = self.children_seen = self.children_seen_in_person = 0
        self.s7_filed = self.s7_on_time = self.s7_extended = 0
        # T = "all" only
        self.care_q = self.care_q_26w = self.care_pq = self.care_pq_26w = 0
        self.caseload = {}


def type_groups(case_type):
    return ("all", "public" if case_type in PUBLIC_TYPES else "private", TYPE_NAMES[case_type])


class Periods:
    def __init__(self, d, holidays):
        self.d = d
        self.cutoff_ms = day_start_ms(d + dt.timedelta(days=1))
        self.fy = (fy_start(d), d)
        self.fy_prev = (year_earlier(self.fy[0]), year_earlier(d))
        self.quarter = (d - dt.timedelta(days=90), d)
        self.year = (d - dt.timedelta(days=364), d)
        self.d52 = d - dt.timedelta(days=364)
        self.d100 = d - dt.timedelta(days=700)
        cq = latest_complete_quarter(d)
        self.care_q = cq
        self.care_pq = (year_earlier(cq[0]), year_earlier(cq[1]))
        self.wd = working_days(self.fy[0], self.fy[1], holidays)
        self.wd_prev = working_days(self.fy_prev[0], self.fy_prev[1], holidays)


def _in(d, period):
    return period[0] <= d <= period[1]


def add_period_facts(buckets, s, per):
    """s: a case's state as of D (reading R2)."""
    if not s.opened:
        return
    start_day = day_of(s.start_ms)
    nchild = len(s.children)
    groups = [buckets[g] for g in type_groups(s.case_type)]
    is_open = start_day <= per.d and not s.closed
    new = _in(start_day, per.fy)
    new_prev = _in(start_day, per.fy_prev)
    dur = closed_day = None
    if s.closed:
        closed_day = day_of(s.closed_at_ms)
        dur = (closed_day - start_day).days  # README: close day - start day, in days
    s7 = []
    for r in s.reports.values():
        if r.ordered and r.kind == S7_REPORT and r.filed_ms is not None \
                and _in(day_of(r.filed_ms), per.fy):
            s7.append((day_of(r.filed_ms) <= day_of(r.due_ms), r.extended))
    for b in groups:
        if is_open:
            b.open_cases += 1
            b.open_children += nchild
            if start_day <= per.d52:
                b.open_52w_cases += 1
                b.open_52w_children += nchild
            if start_day <= per.d100:
                b.open_100w_cases += 1
                b.open_100w_children += nchild
        if new:
            b.new_cases += 1
            b.new_children += nchild
        if new_prev:
            b.new_cases_prev += 1
            b.new_children_prev += nchild
        if closed_day is not None:
            if _in(closed_day, per.quarter):
                b.dur_quarter.append(dur)
            if _in(closed_day, per.year):
                b.dur_year.append(dur)
        for on_time, extended in s7:
            b.s7_filed += 1
            b.s7_on_time += on_time
            b.s7_extended += extended
    if closed_day is not None and s.case_type in CARE_TYPES:
        b = buckets["all"]
        within = dur <= 182
        if _in(closed_day, per.care_q):
            b.care_q += 1
            b.care_q_26w += within
        if _in(closed_day, per.care_pq):
            b.care_pq += 1
            b.care_pq_26w += within


def add_live_facts(buckets, s):
    """s: a case's final state (reading R10)."""
    if not s.opened or s.closed:
        return
    status = s.status()
    for g in type_groups(s.case_type):
        b = buckets[g]
        b.live_open += 1
        b.alloc[status] += 1
        if status == "allocated":
            b.children_in_allocated += len(s.children)
            b.children_seen += len(s.children & s.seen)
            b.children_seen_in_person += len(s.children & s.seen_in_person)
    if s.alloc_target == T_WORKER:
        cl = buckets["all"].caseload
        cl[s.worker] = cl.get(s.worker, 0) + 1


def render(buckets, per, scope, prioritised, d):
    figures = []

    def put(name, t, value):
        figures.append({"name": name, "case_type": t, "value": value})

    for t in TYPE_GROUPS:
        b = buckets[t]
        put("open_cases", t, b.open_cases)
        put("open_children", t, b.open_children)
        put("new_cases_fytd", t, b.new_cases)
        put("new_children_fytd", t, b.new_children)
        put("new_cases_prev_fytd", t, b.new_cases_prev)
        put("new_children_prev_fytd", t, b.new_children_prev)
        put("working_days_fytd", t, per.wd)
        put("working_days_prev_fytd", t, per.wd_prev)
        put("new_cases_per_working_day", t, round1(ratio(b.new_cases, per.wd)))
        put("new_children_per_working_day", t, round1(ratio(b.new_children, per.wd)))
        put("new_cases_yoy_pct", t,
            round1(pct(b.new_cases - b.new_cases_prev, b.new_cases_prev)))
        put("new_children_yoy_pct", t,
            round1(pct(b.new_children - b.new_children_prev, b.new_children_prev)))
        put("closed_quarter", t, len(b.dur_quarter))
        put("closed_year", t, len(b.dur_year))
        put("duration_mean_weeks_quarter", t, round1(_weeks(mean(b.dur_quarter))))
        put("duration_median_weeks_quarter", t, round1(_weeks(median(b.dur_quarter))))
        put("duration_mean_weeks_year", t, round1(_weeks(mean(b.dur_year))))
        put("duration_median_weeks_year", t, round1(_weeks(median(b.dur_year))))
        put("open_52w_cases", t, b.open_52w_cases)
        put("open_52w_children", t, b.open_52w_children)
        put("open_100w_cases", t, b.open_100w_cases)
        put("open_100w_children", t, b.open_100w_children)
        for a in ALLOC_NAMES:
            put("alloc_" + a, t, b.alloc[a])
        for a in ALLOC_NAMES:
            put("alloc_%s_pct" % a, t, round1(pct(b.alloc[a], b.live_open)))
        put("children_in_allocated", t, b.children_in_allocated)
        put("children_seen", t, b.children_seen)
        put("children_seen_in_person", t, b.children_seen_in_person)
        put("children_seen_pct", t, round1(pct(b.children_seen, b.children_in_allocated)))
        put("children_seen_in_person_pct", t,
            round1(pct(b.children_seen_in_person, b.children_in_allocated)))
        put("s7_filed_fytd", t, b.s7_filed)
        put("s7_on_time", t, b.s7_on_time)
        put("s7_extended", t, b.s7_extended)
        put("s7_on_time_pct", t, round1(pct(b.s7_on_time, b.s7_filed)))
        put("s7_extended_pct", t, round1(pct(b.s7_extended, b.s7_filed)))
    b = buckets["all"]
    put("care_closed_quarter", "all", b.care_q)
    put("care_closed_within_26w", "all", b.care_q_26w)
    put("care_within_26w_pct", "all", round1(pct(b.care_q_26w, b.care_q)))
    put("care_closed_quarter_prev_year", "all", b.care_pq)
    put("care_closed_within_26w_prev_year", "all", b.care_pq_26w)
    put("care_within_26w_pct_prev_year", "all", round1(pct(b.care_pq_26w, b.care_pq)))
    loads = list(b.caseload.values())
    put("workers", "all", len(loads))
    put("caseload_mean", "all", round1(ratio(sum(loads), len(loads))))
    put("caseload_max", "all", max(loads) if loads else 0)
    put("prioritisation_active", "all", len(prioritised))
    return {"as_of": d.isoformat(), "scope": scope, "areas_prioritised": sorted(prioritised),
            "figures": figures}


def _weeks(days):
    return None if days is None else Fraction(days) / 7


def compute(events, as_of, holidays, area=None, all_scopes=False):
    """events: valid, de-duplicated events (read_log).  Returns the report dict for the
    national scope (area None), one area, or with all_scopes every scope at once."""
    per = Periods(as_of, holidays)
    by_case = {}
    prio = {}  # area -> (key, active)
    areas = set()
    for ev in events:
        kind = ev.WhichOneof("payload")
        if kind in AREA_KINDS:
            a = getattr(ev, kind).court_area
            areas.add(a)
            key = order_key(ev)
            if a not in prio or key > prio[a][0]:
                prio[a] = (key, kind == "prioritisation_activated")
            continue
        if kind == "case_opened":
            areas.add(ev.case_opened.court_area)
        by_case.setdefault(ev.case_id, []).append(ev)
    active = {a for a, (_, on) in prio.items() if on}

    scopes = {}

    def buckets_for(scope):
        if scope not in scopes:
            scopes[scope] = {t: Bucket() for t in TYPE_GROUPS}
        return scopes[scope]

    wanted = (lambda a: True) if all_scopes else (lambda a: area is None or a == area)
    for evs in by_case.values():
        evs.sort(key=order_key)
        n = 0
        while n < len(evs) and evs[n].occurred_at < per.cutoff_ms:
            n += 1
        s_d = fold_case(evs[:n])
        s_live = fold_case(evs) if n < len(evs) else s_d
        if s_d.opened:
            if area is None or all_scopes:
                add_period_facts(buckets_for(None), s_d, per)
            if wanted(s_d.court_area) and (area is not None or all_scopes):
                add_period_facts(buckets_for(s_d.court_area), s_d, per)
        if s_live.opened:
            if area is None or all_scopes:
                add_live_facts(buckets_for(None), s_live)
            if wanted(s_live.court_area) and (area is not None or all_scopes):
                add_live_facts(buckets_for(s_live.court_area), s_live)

    def one(scope):
        if scope is None:
            return render(buckets_for(None), per, "national", active, as_of)
        return render(buckets_for(scope), per, scope, active & {scope}, as_of)

    if all_scopes:
        return {"national": one(None), "areas": {a: one(a) for a in sorted(areas)}}
    return one(area)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Reference computation of the casewatch board "
                                 "figures from a length-delimited event log.")
    ap.add_argument("log")
    ap.add_argument("--as-of", required=True, type=dt.date.fromisoformat, metavar="YYYY-MM-DD")
    ap.add_argument("--holidays", default=DEFAULT_HOLIDAYS)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--area")
    g.add_argument("--all-scopes", action="store_true")
    ap.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    args = ap.parse_args(argv)
    if not os.path.exists(args.holidays):
        ap.error("bank holiday file %s not found (give --holidays FILE)" % args.holidays)
    holidays = load_holidays(args.holidays)
    pb2 = load_pb2(args.proto_dir)
    events = read_log(args.log, pb2)
    out = compute(events, args.as_of, holidays, area=args.area, all_scopes=args.all_scopes)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
