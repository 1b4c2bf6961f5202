"""Tests of the reference board-figure computation (tests/reference/figures.py).

Run from the repository root:  /usr/bin/python3 -m unittest tests/reference/test_figures_ref.py

Every expectation below is computed by hand (the arithmetic is in the comments), from tiny
logs built with the generated protobuf classes and written in the delimited format.
"""

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import figures  # noqa: E402

PB = figures.load_pb2()
CT = importlib.import_module("casewatch.v1.common_pb2")

CARE = CT.CASE_TYPE_PUBLIC_LAW_S31_CARE
SUPERVISION = CT.CASE_TYPE_PUBLIC_LAW_S31_SUPERVISION
PUB_OTHER = CT.CASE_TYPE_PUBLIC_LAW_OTHER
WTFH = CT.CASE_TYPE_PRIVATE_LAW_WTFH
WAFH = CT.CASE_TYPE_PRIVATE_LAW_WAFH
R164 = CT.CASE_TYPE_RULE_16_4
S7 = CT.REPORT_KIND_S7_REPORT
S7_ADDENDUM = CT.REPORT_KIND_S7_ADDENDUM
WORKER = PB.ALLOCATION_TARGET_WORKER
TEAM = PB.ALLOCATION_TARGET_TEAM
DUTY = PB.ALLOCATION_TARGET_DUTY
PAH = PB.ALLOCATION_TARGET_POST_ASSESSMENT_HUB
AH = PB.ALLOCATION_TARGET_ALLOCATION_HUB

# A tiny stand-in for the bank holiday file, so the tests do not depend on it: Easter 2023
# and 2024, Christmas 2023 and New Year 2024 (the real dates).
HOLS = {dt.date(2023, 4, 7), dt.date(2023, 4, 10), dt.date(2023, 12, 25),
        dt.date(2023, 12, 26), dt.date(2024, 1, 1), dt.date(2024, 3, 29),
        dt.date(2024, 4, 1)}

D = dt.date(2024, 1, 31)  # the usual as-of date (a Wednesday)
DAY = 86400000


def ms(at):
    """'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS]' in UTC -> epoch ms; ints pass through."""
    if isinstance(at, int):
        return at
    t = dt.datetime.fromisoformat(at).replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1000


_n = [0]


def ev(case, at, kind, eid=None, **fields):
    if eid is None:
        _n[0] += 1
        eid = "e%06d" % _n[0]
    e = PB.Event(event_id=eid, case_id=case, occurred_at=ms(at), source="test",
                 schema_version=1)
    sub = getattr(e, kind)
    sub.SetInParent()
    for k, v in fields.items():
        if isinstance(v, (list, tuple)):
            getattr(sub, k).extend(v)
        else:
            setattr(sub, k, v)
    return e


def opened(case, at, ctype, area="A", children=(), issued=None, eid=None):
    f = dict(case_type=ctype, court_area=area, service_area="osa-1",
             child_ids=list(children))
    if issued is not None:
        f["issued_at"] = ms(issued)
    return ev(case, at, "case_opened", eid=eid, **f)


def closed(case, at, eid=None):
    return ev(case, at, "case_closed", eid=eid, outcome=PB.CLOSE_OUTCOME_FINAL_ORDER)


def reopened(case, at):
    return ev(case, at, "case_reopened")


def alloc(case, at, target, worker=None, eid=None):
    f = {"target": target}
    if worker:
        f["worker_id"] = worker
    if target == TEAM:
        f["team"] = "team-1"
    return ev(case, at, "allocated", eid=eid, **f)


def run(records, as_of=D, area=None, all_scopes=False, holidays=HOLS):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "log.bin")
        figures.write_delimited(path, records)
        events = figures.read_log(path, PB)
    return figures.compute(events, as_of, holidays, area=area, all_scopes=all_scopes)


def fig(out, name, t="all"):
    found = [f["value"] for f in out["figures"] if f["name"] == name and f["case_type"] == t]
    assert len(found) == 1, (name, t, found)
    return found[0]


PER_TYPE = ["open_cases", "open_children", "new_cases_fytd", "new_children_fytd",
            "new_cases_prev_fytd", "new_children_prev_fytd", "working_days_fytd",
            "working_days_prev_fytd", "new_cases_per_working_day",
            "new_children_per_working_day", "new_cases_yoy_pct", "new_children_yoy_pct",
            "closed_quarter", "closed_year", "duration_mean_weeks_quarter",
            "duration_median_weeks_quarter", "duration_mean_weeks_year",
            "duration_median_weeks_year", "open_52w_cases", "open_52w_children",
            "open_100w_cases", "open_100w_children", "alloc_allocated", "alloc_duty",
            "alloc_post_assessment_hub", "alloc_allocation_hub", "alloc_allocated_pct",
            "alloc_duty_pct", "alloc_post_assessment_hub_pct", "alloc_allocation_hub_pct",
            "children_in_allocated", "children_seen", "children_seen_in_person",
            "children_seen_pct", "children_seen_in_person_pct", "s7_filed_fytd",
            "s7_on_time", "s7_extended", "s7_on_time_pct", "s7_extended_pct"]
ALL_ONLY = ["care_closed_quarter", "care_closed_within_26w", "care_within_26w_pct",
            "care_closed_quarter_prev_year", "care_closed_within_26w_prev_year",
            "care_within_26w_pct_prev_year", "workers", "caseload_mean", "caseload_max",
            "prioritisation_active"]
TYPES = ["all", "public", "private", "PUBLIC_LAW_S31_CARE", "PUBLIC_LAW_S31_SUPERVISION",
         "PUBLIC_LAW_OTHER", "PRIVATE_LAW_WTFH", "PRIVATE_LAW_WAFH", "RULE_16_4"]


class Arithmetic(unittest.TestCase):
    def test_round_half_away_from_zero(self):
        from fractions import Fraction as F
        self.assertEqual(figures.round1(F(625, 100)), 6.3)   # banker's would give 6.2
        self.assertEqual(figures.round1(F(1, 4)), 0.3)
        self.assertEqual(figures.round1(F(-1, 4)), -0.3)
        self.assertEqual(figures.round1(F(200, 3)), 66.7)
        self.assertEqual(figures.round1(F(3, 10) * 100), 30.0)
        self.assertIsNone(figures.round1(None))

    def test_dates(self):
        self.assertEqual(figures.year_earlier(dt.date(2024, 2, 29)), dt.date(2023, 2, 28))
        self.assertEqual(figures.fy_start(dt.date(2024, 3, 31)), dt.date(2023, 4, 1))
        self.assertEqual(figures.fy_start(dt.date(2024, 4, 1)), dt.date(2024, 4, 1))
        self.assertEqual(figures.latest_complete_quarter(dt.date(2024, 1, 31)),
                         (dt.date(2023, 10, 1), dt.date(2023, 12, 31)))
        self.assertEqual(figures.latest_complete_quarter(dt.date(2023, 12, 31)),
                         (dt.date(2023, 10, 1), dt.date(2023, 12, 31)))
        self.assertEqual(figures.latest_complete_quarter(dt.date(2023, 12, 30)),
                         (dt.date(2023, 7, 1), dt.date(2023, 9, 30)))

    def test_working_days_across_bank_holidays(self):
        # Fri 22 Dec 2023 .. Tue 2 Jan 2024: Fri 22, Wed 27, Thu 28, Fri 29, Tue 2 = 5
        # (Mon 25, Tue 26 and Mon 1 are bank holidays; 23/24/30/31 are weekends).
        self.assertEqual(figures.working_days(dt.date(2023, 12, 22), dt.date(2024, 1, 2),
                                              HOLS), 5)
        self.assertEqual(figures.working_days(dt.date(2023, 12, 22), dt.date(2024, 1, 2),
                                              set()), 8)

    def test_real_holiday_file_if_present(self):
        if not os.path.exists(figures.DEFAULT_HOLIDAYS):
            self.skipTest("deploy/bank-holidays-england-wales.txt not written yet")
        hols = figures.load_holidays(figures.DEFAULT_HOLIDAYS)
        self.assertTrue(HOLS <= hols)
        self.assertEqual(figures.working_days(dt.date(2024, 4, 1), dt.date(2024, 4, 3),
                                              hols), 2)

    def test_holiday_file_format(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("# comment\n\n2024-04-01  Easter Monday\n2024-03-29 Good Friday\n")
        try:
            self.assertEqual(figures.load_holidays(f.name),
                             {dt.date(2024, 4, 1), dt.date(2024, 3, 29)})
        finally:
            os.unlink(f.name)


class OpenCases(unittest.TestCase):
    def test_open_children_stubs(self):
        out = run([
            # c1: care, 2 children at opening + 1 added = 3
            opened("c1", "2023-06-01", CARE, children=["k1", "k2"]),
            ev("c1", "2023-07-01", "child_added", child_id="k3"),
            # c2: events arrive before case_opened (a stub until then): 1 + 1 children
            ev("c2", "2023-10-01", "child_added", child_id="k9"),
            ev("c2", "2023-10-02", "child_seen", child_id="k9"),
            opened("c2", "2023-09-01", WTFH, area="B", children=["k1"]),
            # c3: never opened -> counts nowhere, not even in the live figures
            ev("c3", "2023-09-01", "child_added", child_id="k1"),
            alloc("c3", "2023-09-02", WORKER, "w1"),
            # c4: opened after D -> a stub at D (live: open, on duty)
            opened("c4", "2024-02-05", WTFH, children=["k1"]),
            # c5: closed before D
            opened("c5", "2023-01-10", WTFH, children=["k1"]),
            closed("c5", "2024-01-15"),
            # c6: case_opened before D but issued (start) after D
            opened("c6", "2024-01-20", WAFH, children=["k1"], issued="2024-02-10"),
        ])
        self.assertEqual(fig(out, "open_cases"), 2)
        self.assertEqual(fig(out, "open_children"), 5)
        self.assertEqual(fig(out, "open_cases", "public"), 1)
        self.assertEqual(fig(out, "open_children", "public"), 3)
        self.assertEqual(fig(out, "open_cases", "private"), 1)
        self.assertEqual(fig(out, "open_children", "private"), 2)
        self.assertEqual(fig(out, "open_cases", "PUBLIC_LAW_S31_CARE"), 1)
        self.assertEqual(fig(out, "open_children", "PRIVATE_LAW_WTFH"), 2)
        self.assertEqual(fig(out, "open_cases", "PRIVATE_LAW_WAFH"), 0)
        # live: c1, c2, c4, c6 open (c3 never opened, c5 closed); none allocated
        self.assertEqual(fig(out, "alloc_duty"), 4)
        self.assertEqual(fig(out, "alloc_duty_pct"), 100.0)
        self.assertEqual(fig(out, "alloc_allocated_pct"), 0.0)
        self.assertEqual(fig(out, "workers"), 0)
        self.assertIsNone(fig(out, "caseload_mean"))
        self.assertEqual(fig(out, "caseload_max"), 0)
        self.assertIsNone(fig(out, "children_seen_pct"))
        # area scope
        a = run([opened("c1", "2023-06-01", CARE, children=["k1", "k2"]),
                 opened("c2", "2023-09-01", WTFH, area="B", children=["k1"])], area="B")
        self.assertEqual(a["scope"], "B")
        self.assertEqual(fig(a, "open_cases"), 1)
        self.assertEqual(fig(a, "open_children", "PRIVATE_LAW_WTFH"), 1)
        self.assertEqual(fig(a, "open_cases", "public"), 0)

    def test_open_52_and_100_weeks(self):
        # D - 364 days = 2023-02-01; D - 700 days = 2022-03-02.
        out = run([
            opened("q1", "2023-02-01T23:00", WTFH, children=["a", "b"]),   # 52 (boundary)
            opened("q2", "2023-02-02", WTFH, children=["a"]),              # neither
            opened("q3", "2022-03-02T12:00", CARE, children=["a", "b", "c"]),  # 52, 100
            opened("q4", "2022-03-03", WTFH, children=["a"]),              # 52 only
            opened("q5", "2021-01-01", WTFH, children=["a"]), closed("q5", "2023-06-01"),
        ])
        self.assertEqual(fig(out, "open_cases"), 4)
        self.assertEqual(fig(out, "open_children"), 7)
        self.assertEqual(fig(out, "open_52w_cases"), 3)
        self.assertEqual(fig(out, "open_52w_children"), 6)
        self.assertEqual(fig(out, "open_100w_cases"), 1)
        self.assertEqual(fig(out, "open_100w_children"), 3)
        self.assertEqual(fig(out, "open_52w_children", "public"), 3)
        self.assertEqual(fig(out, "open_52w_cases", "private"), 2)
        self.assertEqual(fig(out, "open_52w_children", "private"), 3)
        self.assertEqual(fig(out, "open_100w_cases", "private"), 0)
        # issued_at, not occurred_at, is the start
        out = run([opened("x", "2023-06-01", WTFH, issued="2023-01-31")])
        self.assertEqual(fig(out, "open_52w_cases"), 1)


class Closures(unittest.TestCase):
    def test_reopen_and_close_out_of_order(self):
        # quarter = 2023-11-02..2024-01-31, year = 2023-02-01..2024-01-31
        out = run([
            # c1: the reopen arrives before the (earlier) close -> open
            opened("c1", "2023-01-02", WTFH), reopened("c1", "2023-11-01"),
            closed("c1", "2023-10-01"),
            # c2: closed 10-01, reopened 11-01, closed 12-20 (arrival scrambled) -> closed
            #     at 2023-12-20: 352 days = 50.29 weeks
            opened("c2", "2023-01-02", CARE), closed("c2", "2023-12-20"),
            reopened("c2", "2023-11-01"), closed("c2", "2023-10-01"),
            # c3: reopen (10-01, arrives first) then close (11-01) -> closed 2023-11-01,
            #     outside the quarter, inside the year: 303 days
            opened("c3", "2023-01-02", WTFH), reopened("c3", "2023-10-01"),
            closed("c3", "2023-11-01"),
            # c4: closed 2024-01-10 (223 days), reopened after D: closed at D, open live
            opened("c4", "2023-06-01", WAFH), closed("c4", "2024-01-10"),
            reopened("c4", "2024-02-10"),
        ])
        self.assertEqual(fig(out, "open_cases"), 1)
        self.assertEqual(fig(out, "closed_quarter"), 2)
        self.assertEqual(fig(out, "closed_year"), 3)
        # quarter: 352, 223 days -> 287.5 days = 41.07 weeks
        self.assertEqual(fig(out, "duration_mean_weeks_quarter"), 41.1)
        self.assertEqual(fig(out, "duration_median_weeks_quarter"), 41.1)
        # year: 352, 303, 223 -> mean 292.67 days = 41.81 weeks; median 303 d = 43.29 weeks
        self.assertEqual(fig(out, "duration_mean_weeks_year"), 41.8)
        self.assertEqual(fig(out, "duration_median_weeks_year"), 43.3)
        self.assertEqual(fig(out, "duration_mean_weeks_year", "PUBLIC_LAW_S31_CARE"), 50.3)
        # live: c1 and c4 open, both on duty
        self.assertEqual(fig(out, "alloc_duty"), 2)

    def test_durations_mean_median(self):
        out = run([
            # a: WTFH 2023-12-01 -> 2024-01-12T12:00 = 42.5 days
            opened("a", "2023-12-01", WTFH), closed("a", "2024-01-12T12:00"),
            # b: WTFH 2023-11-10 -> 2024-01-19 = 70 days
            opened("b", "2023-11-10", WTFH), closed("b", "2024-01-19"),
            # c: WAFH 2023-09-01 -> 2023-11-02 (first day of the quarter) = 62 days
            opened("c", "2023-09-01", WAFH), closed("c", "2023-11-02"),
            # d: care 2023-01-01 -> 2023-11-01 (year only) = 304 days
            opened("d", "2023-01-01", CARE), closed("d", "2023-11-01"),
            # e: closed 2023-01-31T23:59, before the year
            opened("e", "2022-06-01", WTFH), closed("e", "2023-01-31T23:59"),
            # f: public other 2022-12-01 -> 2023-02-01 (first day of the year) = 62 days
            opened("f", "2022-12-01", PUB_OTHER), closed("f", "2023-02-01"),
            # g: closed in the quarter but reopened: open
            opened("g", "2023-10-01", WTFH), closed("g", "2023-12-01"),
            reopened("g", "2024-01-05"),
            # h: closes after D: open at D
            opened("h", "2023-10-01", WTFH), closed("h", "2024-02-02"),
        ])
        self.assertEqual(fig(out, "open_cases"), 2)
        self.assertEqual(fig(out, "closed_quarter"), 3)
        self.assertEqual(fig(out, "closed_year"), 5)
        # quarter: 42.5, 70, 62 days: mean 58.17 d = 8.31 w; median 62 d = 8.857 w
        self.assertEqual(fig(out, "duration_mean_weeks_quarter"), 8.3)
        self.assertEqual(fig(out, "duration_median_weeks_quarter"), 8.9)
        self.assertEqual(fig(out, "duration_mean_weeks_quarter", "private"), 8.3)
        # WTFH quarter: 42.5 and 70 days -> median of an even count = 56.25 d = 8.04 w
        self.assertEqual(fig(out, "closed_quarter", "PRIVATE_LAW_WTFH"), 2)
        self.assertEqual(fig(out, "duration_median_weeks_quarter", "PRIVATE_LAW_WTFH"), 8.0)
        self.assertEqual(fig(out, "duration_mean_weeks_quarter", "PRIVATE_LAW_WAFH"), 8.9)
        # year: 42.5, 70, 62, 304, 62 -> mean 108.1 d = 15.44 w, median 62 d = 8.9 w
        self.assertEqual(fig(out, "duration_mean_weeks_year"), 15.4)
        self.assertEqual(fig(out, "duration_median_weeks_year"), 8.9)
        # public year: 304 and 62 -> median = mean = 183 d = 26.14 w
        self.assertEqual(fig(out, "closed_year", "public"), 2)
        self.assertEqual(fig(out, "duration_median_weeks_year", "public"), 26.1)
        self.assertEqual(fig(out, "duration_mean_weeks_year", "public"), 26.1)
        self.assertEqual(fig(out, "closed_quarter", "public"), 0)
        self.assertIsNone(fig(out, "duration_mean_weeks_quarter", "public"))
        self.assertIsNone(fig(out, "duration_median_weeks_quarter", "public"))
        self.assertIsNone(fig(out, "duration_mean_weeks_year", "RULE_16_4"))

    def test_duration_rounds_half_up(self):
        # durations 1, 2, 2, 2 days: mean 1.75 days = 0.25 weeks exactly -> 0.3 (banker's
        # rounding would give 0.2); median 2 days = 0.2857 weeks -> 0.3
        recs = []
        for i, d in enumerate([1, 2, 2, 2]):
            recs += [opened("a%d" % i, "2024-01-10", WTFH),
                     closed("a%d" % i, "2024-01-%02dT18:00" % (10 + d))]
        out = run(recs)
        self.assertEqual(fig(out, "duration_mean_weeks_quarter"), 0.3)
        self.assertEqual(fig(out, "duration_median_weeks_year"), 0.3)


class Care26Weeks(unittest.TestCase):
    def log(self):
        t = ms("2023-11-15T10:00")
        recs = []
        # durations are close day - start day in whole days (README): 182 days is within
        starts = [t - 182 * DAY, t - 100 * DAY, t - 10 * DAY,            # within 26 weeks
                  t - 183 * DAY, t - 200 * DAY] + [t - 300 * DAY] * 5    # not within
        for i, s in enumerate(starts):
            c = "care%d" % i
            recs += [opened(c, s, CARE if i % 2 else SUPERVISION, issued=s),
                     closed(c, t)]
        recs += [
            # not care: excluded
            opened("w", "2023-10-01", WTFH), closed("w", "2023-11-01"),
            # care closed after the quarter / just before it
            opened("late", "2023-12-01", CARE), closed("late", "2024-01-05"),
            opened("early", "2023-09-01", CARE), closed("early", "2023-09-30T23:59"),
        ]
        # a year earlier (2022-10-01..2022-12-31): 4 closed, 1 within 26 weeks
        p = ms("2022-12-01")
        for i, s in enumerate([p - 50 * DAY, p - 300 * DAY, p - 400 * DAY, p - 183 * DAY]):
            recs += [opened("prev%d" % i, s, CARE, issued=s), closed("prev%d" % i, p)]
        return recs

    def test_three_of_ten(self):
        out = run(self.log())  # D = 2024-01-31 -> quarter 2023-10-01..2023-12-31
        self.assertEqual(fig(out, "care_closed_quarter"), 10)
        self.assertEqual(fig(out, "care_closed_within_26w"), 3)
        self.assertEqual(fig(out, "care_within_26w_pct"), 30.0)
        self.assertEqual(fig(out, "care_closed_quarter_prev_year"), 4)
        self.assertEqual(fig(out, "care_closed_within_26w_prev_year"), 1)
        self.assertEqual(fig(out, "care_within_26w_pct_prev_year"), 25.0)

    def test_quarter_ending_on_d(self):
        out = run(self.log(), as_of=dt.date(2023, 12, 31))
        self.assertEqual(fig(out, "care_closed_quarter"), 10)
        self.assertEqual(fig(out, "care_within_26w_pct"), 30.0)
        # D = 2023-12-30: the latest complete quarter is Jul-Sep 2023: only "early"
        out = run(self.log(), as_of=dt.date(2023, 12, 30))
        self.assertEqual(fig(out, "care_closed_quarter"), 1)
        self.assertEqual(fig(out, "care_within_26w_pct"), 100.0)
        self.assertEqual(fig(out, "care_closed_quarter_prev_year"), 0)
        self.assertIsNone(fig(out, "care_within_26w_pct_prev_year"))


class NewCases(unittest.TestCase):
    def log(self):
        return [
            # this FYTD (2024-04-01..2024-04-03): 3 cases, 5 children
            opened("n1", "2024-04-01", WTFH, children=["a"]),
            opened("n2", "2024-04-02", WTFH, children=["a", "b"]),
            opened("n3", "2024-04-03T23:59:59", CARE, children=["a", "b"]),
            # start (issued) after D / before the FY / case_opened after D: none is new
            opened("x1", "2024-04-03", WTFH, children=["a"], issued="2024-04-04"),
            opened("x2", "2024-04-02", WTFH, children=["a"], issued="2024-03-31T23:59"),
            opened("x3", "2024-04-04", WTFH, children=["a"]),
            # previous period (2023-04-01..2023-04-03): 2 cases, 4 children
            opened("p1", "2023-04-01", WTFH, children=["a"]),
            opened("p2", "2023-04-03T12:00", R164, children=["a", "b", "c"]),
            opened("p3", "2023-04-04", WTFH, children=["a"]),
            opened("p4", "2023-03-31", WAFH, children=["a"]),
        ]

    def test_new_cases_yoy_and_working_days(self):
        out = run(self.log(), as_of=dt.date(2024, 4, 3))
        # Mon 1 Apr 2024 is Easter Monday: working days Tue 2, Wed 3 = 2;
        # 1-3 Apr 2023: Sat, Sun, Mon -> 1
        self.assertEqual(fig(out, "working_days_fytd"), 2)
        self.assertEqual(fig(out, "working_days_prev_fytd"), 1)
        self.assertEqual(fig(out, "working_days_fytd", "RULE_16_4"), 2)
        self.assertEqual(fig(out, "new_cases_fytd"), 3)
        self.assertEqual(fig(out, "new_children_fytd"), 5)
        self.assertEqual(fig(out, "new_cases_prev_fytd"), 2)
        self.assertEqual(fig(out, "new_children_prev_fytd"), 4)
        self.assertEqual(fig(out, "new_cases_per_working_day"), 1.5)
        self.assertEqual(fig(out, "new_children_per_working_day"), 2.5)
        self.assertEqual(fig(out, "new_cases_yoy_pct"), 50.0)       # (3-2)/2
        self.assertEqual(fig(out, "new_children_yoy_pct"), 25.0)    # (5-4)/4
        t = "PRIVATE_LAW_WTFH"
        self.assertEqual(fig(out, "new_cases_fytd", t), 2)
        self.assertEqual(fig(out, "new_cases_yoy_pct", t), 100.0)   # (2-1)/1
        self.assertEqual(fig(out, "new_children_yoy_pct", t), 200.0)  # (3-1)/1
        self.assertEqual(fig(out, "new_children_per_working_day", t), 1.5)
        t = "PUBLIC_LAW_S31_CARE"
        self.assertEqual(fig(out, "new_cases_per_working_day", t), 0.5)
        self.assertIsNone(fig(out, "new_cases_yoy_pct", t))        # previous period 0
        self.assertEqual(fig(out, "new_cases_yoy_pct", "RULE_16_4"), -100.0)
        self.assertEqual(fig(out, "new_cases_yoy_pct", "private"), 0.0)    # 2 vs 2
        self.assertEqual(fig(out, "new_children_yoy_pct", "private"), -25.0)  # 3 vs 4
        self.assertIsNone(fig(out, "new_cases_yoy_pct", "public"))
        self.assertIsNone(fig(out, "new_cases_yoy_pct", "PRIVATE_LAW_WAFH"))
        self.assertEqual(fig(out, "new_cases_per_working_day", "PRIVATE_LAW_WAFH"), 0.0)

    def test_no_working_day_yet(self):
        out = run(self.log(), as_of=dt.date(2024, 4, 1))  # FYTD = Easter Monday only
        self.assertEqual(fig(out, "working_days_fytd"), 0)
        self.assertEqual(fig(out, "new_cases_fytd"), 1)
        self.assertIsNone(fig(out, "new_cases_per_working_day"))
        # previous period = 2023-04-01 (a Saturday) alone: p1
        self.assertEqual(fig(out, "new_cases_prev_fytd"), 1)
        self.assertEqual(fig(out, "new_cases_yoy_pct"), 0.0)


class Reclassification(unittest.TestCase):
    def test_type_as_of_d_and_live(self):
        out = run([
            # r1: the reclassification (-> WAFH) arrives before the case_opened (WTFH)
            ev("r1", "2023-08-01", "case_reclassified", new_case_type=WAFH),
            opened("r1", "2023-06-01", WTFH, children=["a"]),
            # r2: reclassified after D -> WTFH at D, RULE_16_4 live
            opened("r2", "2023-06-01", WTFH, children=["a", "b"]),
            ev("r2", "2024-02-10", "case_reclassified", new_case_type=R164),
            # r3: a reclassification replaces the opening type even when it occurred
            #     before the case_opened (README: "replaced by the latest case_reclassified")
            ev("r3", "2023-05-01", "case_reclassified", new_case_type=CARE),
            opened("r3", "2023-06-01", WTFH, children=["a"]),
            # r4: two reclassifications, arriving in reverse order -> the later (care)
            opened("r4", "2023-06-01", PUB_OTHER, children=["a"]),
            ev("r4", "2023-10-01", "case_reclassified", new_case_type=CARE),
            ev("r4", "2023-09-01", "case_reclassified", new_case_type=SUPERVISION),
        ])
        self.assertEqual(fig(out, "open_cases"), 4)
        self.assertEqual(fig(out, "open_cases", "PRIVATE_LAW_WAFH"), 1)
        self.assertEqual(fig(out, "new_cases_fytd", "PRIVATE_LAW_WAFH"), 1)
        self.assertEqual(fig(out, "open_cases", "PRIVATE_LAW_WTFH"), 1)
        self.assertEqual(fig(out, "open_children", "PRIVATE_LAW_WTFH"), 2)
        self.assertEqual(fig(out, "open_cases", "RULE_16_4"), 0)
        self.assertEqual(fig(out, "open_cases", "PUBLIC_LAW_S31_CARE"), 2)
        self.assertEqual(fig(out, "open_cases", "PUBLIC_LAW_S31_SUPERVISION"), 0)
        self.assertEqual(fig(out, "open_cases", "PUBLIC_LAW_OTHER"), 0)
        self.assertEqual(fig(out, "open_cases", "public"), 2)
        self.assertEqual(fig(out, "open_cases", "private"), 2)
        # live types
        self.assertEqual(fig(out, "alloc_duty", "RULE_16_4"), 1)
        self.assertEqual(fig(out, "alloc_duty", "PRIVATE_LAW_WTFH"), 0)
        self.assertEqual(fig(out, "alloc_duty", "PRIVATE_LAW_WAFH"), 1)
        self.assertEqual(fig(out, "alloc_duty", "PUBLIC_LAW_S31_CARE"), 2)


class LiveFigures(unittest.TestCase):
    def log(self):
        return [
            # c1: worker w1; 3 children; k1 seen in person, k2 remotely, k3 seen remotely by
            #     a late event (arrives last, occurred early); kx is not a child of the case
            opened("c1", "2023-06-01", WTFH, children=["k1", "k2", "k3"]),
            alloc("c1", "2023-06-02", WORKER, "w1"),
            ev("c1", "2023-06-10", "child_seen", child_id="k1", in_person=True),
            ev("c1", "2023-06-11", "child_seen", child_id="k2"),
            ev("c1", "2023-06-12", "child_seen", child_id="kx", in_person=True),
            # c2: worker w1, then duty -> duty
            opened("c2", "2023-06-01", WTFH, children=["k1"]),
            alloc("c2", "2023-06-02", WORKER, "w1"), alloc("c2", "2023-07-01", DUTY),
            # c3: team -> allocated, care, 1 child not seen
            opened("c3", "2023-06-01", CARE, children=["k1"]),
            alloc("c3", "2023-06-02", TEAM),
            # c4: worker w1 (later, arrives first) replaces w2; 2 children, 1 in person
            opened("c4", "2023-06-01", WTFH, children=["k1", "k2"]),
            alloc("c4", "2023-08-01", WORKER, "w1"), alloc("c4", "2023-07-01", WORKER, "w2"),
            ev("c4", "2023-09-01", "child_seen", child_id="k2", in_person=True),
            # c5: no allocation -> duty;  c6: post-assessment hub;  c7: allocation hub
            opened("c5", "2023-06-01", WTFH, children=["k1"]),
            opened("c6", "2023-06-01", WTFH, children=["k1"]),
            alloc("c6", "2023-06-02", PAH),
            opened("c7", "2023-06-01", WTFH, children=["k1"]),
            alloc("c7", "2023-06-02", AH),
            # c8: worker w2 but closed -> not counted
            opened("c8", "2023-06-01", WTFH, children=["k1"]),
            alloc("c8", "2023-06-02", WORKER, "w2"), closed("c8", "2023-12-01"),
            # c9: opened after D (live counts it): worker w3, child not seen
            opened("c9", "2024-02-05", WTFH, children=["k1"]),
            alloc("c9", "2024-02-06", WORKER, "w3"),
            # c10: area B, worker w2
            opened("c10", "2023-06-01", WTFH, area="B", children=["k1"]),
            alloc("c10", "2023-06-02", WORKER, "w2"),
            # the late child_seen for c1
            ev("c1", "2023-06-03", "child_seen", child_id="k3"),
        ]

    def test_national(self):
        out = run(self.log())
        # live open: c1-c7, c9, c10 = 9; allocated c1 c3 c4 c9 c10 = 5, duty c2 c5 = 2
        self.assertEqual(fig(out, "alloc_allocated"), 5)
        self.assertEqual(fig(out, "alloc_duty"), 2)
        self.assertEqual(fig(out, "alloc_post_assessment_hub"), 1)
        self.assertEqual(fig(out, "alloc_allocation_hub"), 1)
        self.assertEqual(fig(out, "alloc_allocated_pct"), 55.6)     # 5/9
        self.assertEqual(fig(out, "alloc_duty_pct"), 22.2)          # 2/9
        self.assertEqual(fig(out, "alloc_post_assessment_hub_pct"), 11.1)
        self.assertEqual(fig(out, "alloc_allocation_hub_pct"), 11.1)
        self.assertEqual(fig(out, "open_cases"), 8)  # at D: c9 not yet, c8 closed
        # children of allocated cases: c1 3 + c3 1 + c4 2 + c9 1 + c10 1 = 8
        # seen: c1 k1 k2 k3 + c4 k2 = 4; in person: c1 k1 + c4 k2 = 2
        self.assertEqual(fig(out, "children_in_allocated"), 8)
        self.assertEqual(fig(out, "children_seen"), 4)
        self.assertEqual(fig(out, "children_seen_in_person"), 2)
        self.assertEqual(fig(out, "children_seen_pct"), 50.0)
        self.assertEqual(fig(out, "children_seen_in_person_pct"), 25.0)
        # care: c3 only, 1 child, not seen
        self.assertEqual(fig(out, "children_in_allocated", "public"), 1)
        self.assertEqual(fig(out, "children_seen_pct", "public"), 0.0)
        self.assertEqual(fig(out, "alloc_allocated_pct", "PUBLIC_LAW_S31_CARE"), 100.0)
        self.assertIsNone(fig(out, "alloc_allocated_pct", "RULE_16_4"))
        # caseload: w1 c1 c4 = 2, w2 c10 = 1, w3 c9 = 1 -> 3 workers, mean 4/3, max 2
        self.assertEqual(fig(out, "workers"), 3)
        self.assertEqual(fig(out, "caseload_mean"), 1.3)
        self.assertEqual(fig(out, "caseload_max"), 2)

    def test_area(self):
        out = run(self.log(), area="A")
        self.assertEqual(fig(out, "alloc_allocated"), 4)
        self.assertEqual(fig(out, "alloc_allocated_pct"), 50.0)     # 4/8
        self.assertEqual(fig(out, "children_in_allocated"), 7)
        self.assertEqual(fig(out, "children_seen_pct"), 57.1)      # 4/7
        self.assertEqual(fig(out, "workers"), 2)                    # w1 (2), w3 (1)
        self.assertEqual(fig(out, "caseload_mean"), 1.5)
        self.assertEqual(fig(out, "caseload_max"), 2)
        b = run(self.log(), area="B")
        self.assertEqual(fig(b, "workers"), 1)
        self.assertEqual(fig(b, "caseload_mean"), 1.0)
        self.assertEqual(fig(b, "children_seen_pct"), 0.0)


class S7Reports(unittest.TestCase):
    def test_s7(self):
        c = "c1"

        def order(rid, at, due, kind=S7):
            return ev(c, at, "report_ordered", report_id=rid, report_kind=kind, due_at=ms(due))

        def ext(rid, at, due):
            return ev(c, at, "report_extension_agreed", report_id=rid, new_due_at=ms(due))

        def filed(rid, at):
            return ev(c, at, "report_filed", report_id=rid)

        out = run([
            opened(c, "2023-01-01", WAFH),
            # r1: filed on the due day (later in the day) -> on time
            order("r1", "2023-05-01", "2023-06-10"), filed("r1", "2023-06-10T18:00"),
            # r2: extended to 07-01, filed 06-20 -> on time, extended
            order("r2", "2023-05-01", "2023-06-10"), ext("r2", "2023-06-01", "2023-07-01"),
            filed("r2", "2023-06-20"),
            # r3: filed a day late
            order("r3", "2023-05-01", "2023-06-10"), filed("r3", "2023-06-11"),
            # r4: filed before the financial year
            order("r4", "2023-01-10", "2023-03-01"), filed("r4", "2023-03-20"),
            # r5: an addendum, not an s7 report
            order("r5", "2023-05-01", "2023-06-10", S7_ADDENDUM), filed("r5", "2023-06-01"),
            # r6: filed twice; the earliest (08-01, arriving second) counts -> on time
            order("r6", "2023-05-01", "2023-08-15"), filed("r6", "2023-09-01"),
            filed("r6", "2023-08-01"),
            # r7: filed, never ordered -> not counted
            filed("r7", "2023-06-01"),
            # r8: filed after D
            order("r8", "2023-12-01", "2024-03-01"), filed("r8", "2024-02-02"),
            # r9: two extensions arriving in reverse order; the latest (to 09-01) is in
            #     force; filed 09-15 -> late, extended
            order("r9", "2023-05-01", "2023-08-01"), ext("r9", "2023-07-20", "2023-09-01"),
            ext("r9", "2023-07-10", "2023-10-01"), filed("r9", "2023-09-15"),
        ])
        # counted: r1 (on time), r2 (on time, ext), r3 (late), r6 (on time), r9 (late, ext)
        self.assertEqual(fig(out, "s7_filed_fytd"), 5)
        self.assertEqual(fig(out, "s7_on_time"), 3)
        self.assertEqual(fig(out, "s7_extended"), 2)
        self.assertEqual(fig(out, "s7_on_time_pct"), 60.0)
        self.assertEqual(fig(out, "s7_extended_pct"), 40.0)
        self.assertEqual(fig(out, "s7_filed_fytd", "PRIVATE_LAW_WAFH"), 5)
        self.assertEqual(fig(out, "s7_filed_fytd", "public"), 0)
        self.assertIsNone(fig(out, "s7_on_time_pct", "public"))


class Input(unittest.TestCase):
    def test_duplicates_and_invalid(self):
        no_payload = PB.Event(event_id="np1", case_id="d1", occurred_at=ms("2023-06-01"),
                              source="test", schema_version=1)
        bad_version = opened("d3", "2023-06-01", CARE, children=["k1"], eid="o3")
        bad_version.schema_version = 0
        recs = [
            opened("d1", "2023-06-01", WTFH, children=["k1", "k2"], eid="o1"),
            # same event_id, different content: the first copy wins
            opened("d1", "2023-06-01", CARE, children=["k1", "k2", "k3"], eid="o1"),
            alloc("d1", "2023-07-01", DUTY, eid="al1"),
            alloc("d1", "2023-07-01", WORKER, "w9", eid="al1"),
            ev("d1", "2023-07-02", "child_added", eid="ca1", child_id="k4"),
            ev("d1", "2023-07-02", "child_added", eid="ca1", child_id="k5"),
            b"\xff\xff\xff",                          # garbage: skipped
            no_payload,                               # no payload: skipped
            opened("d2", "2023-06-01", WTFH, children=["k1"], eid=""),  # empty id: skipped
            bad_version,                              # invalid first copy of o3: skipped
            opened("d3", "2023-06-01", CARE, children=["k1"], eid="o3"),  # valid copy
        ]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "log.bin")
            figures.write_delimited(path, recs)
            with open(path, "ab") as f:
                f.write(b"\x64\x01\x02\x03")          # a truncated last record
            events = figures.read_log(path, PB)
        self.assertEqual(sorted(e.event_id for e in events), ["al1", "ca1", "o1", "o3"])
        out = figures.compute(events, D, HOLS)
        self.assertEqual(fig(out, "open_cases"), 2)
        self.assertEqual(fig(out, "open_children"), 4)          # d1: k1 k2 k4; d3: k1
        self.assertEqual(fig(out, "open_cases", "PRIVATE_LAW_WTFH"), 1)
        self.assertEqual(fig(out, "open_children", "PRIVATE_LAW_WTFH"), 3)
        self.assertEqual(fig(out, "open_cases", "PUBLIC_LAW_S31_CARE"), 1)
        self.assertEqual(fig(out, "alloc_duty"), 2)
        self.assertEqual(fig(out, "workers"), 0)

    def test_prioritisation_and_scopes(self):
        def prio(area, at, on):
            kind = "prioritisation_activated" if on else "prioritisation_deactivated"
            return ev("", at, kind, court_area=area)

        recs = [
            # A: on 05-01, off 06-01 (arrives first), on 07-01 -> active
            prio("A", "2023-06-01", False), prio("A", "2023-05-01", True),
            prio("A", "2023-07-01", True),
            # B: off 06-01 arrives first, on 05-01 second -> inactive
            prio("B", "2023-06-01", False), prio("B", "2023-05-01", True),
            # C: on after D -> active (live)
            prio("C", "2024-03-01", True),
            opened("z1", "2023-06-01", WTFH, area="Z", children=["k"]),
            opened("a1", "2023-06-01", WTFH, area="A", children=["k"]),
        ]
        out = run(recs)
        self.assertEqual(out["areas_prioritised"], ["A", "C"])
        self.assertEqual(fig(out, "prioritisation_active"), 2)
        every = run(recs, all_scopes=True)
        self.assertEqual(every["national"], out)
        self.assertEqual(sorted(every["areas"]), ["A", "B", "C", "Z"])
        self.assertEqual(every["areas"]["A"]["areas_prioritised"], ["A"])
        self.assertEqual(fig(every["areas"]["A"], "prioritisation_active"), 1)
        self.assertEqual(fig(every["areas"]["B"], "prioritisation_active"), 0)
        self.assertEqual(every["areas"]["B"]["areas_prioritised"], [])
        self.assertEqual(fig(every["areas"]["Z"], "open_cases"), 1)
        self.assertEqual(fig(every["areas"]["B"], "open_cases"), 0)
        self.assertEqual(every["areas"]["Z"], run(recs, area="Z"))


class CommandLine(unittest.TestCase):
    def test_json_shape(self):
        recs = LiveFigures().log() + Care26Weeks().log()
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "log.bin")
            figures.write_delimited(log, recs)
            hols = os.path.join(tmp, "hols.txt")
            with open(hols, "w") as f:
                f.write("# stand-in\n" + "".join("%s x\n" % d for d in sorted(HOLS)))
            cmd = [sys.executable, os.path.join(HERE, "figures.py"), log,
                   "--as-of", "2024-01-31", "--holidays", hols]
            nat = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
            area = json.loads(subprocess.run(cmd + ["--area", "B"], check=True,
                                             capture_output=True).stdout)
            every = json.loads(subprocess.run(cmd + ["--all-scopes"], check=True,
                                              capture_output=True).stdout)
        self.assertEqual(set(nat), {"as_of", "scope", "areas_prioritised", "figures"})
        self.assertEqual(nat["as_of"], "2024-01-31")
        self.assertEqual(nat["scope"], "national")
        self.assertEqual(area["scope"], "B")
        self.assertEqual([(f["name"], f["case_type"]) for f in nat["figures"]],
                         [(n, t) for t in TYPES for n in PER_TYPE] + [(n, "all")
                                                                       for n in ALL_ONLY])
        for f in nat["figures"]:
            v = f["value"]
            self.assertTrue(v is None or isinstance(v, (int, float)), f)
            if f["name"] in ("caseload_mean", "care_within_26w_pct_prev_year") or \
                    f["name"].endswith(("_pct", "_weeks_year", "_weeks_quarter",
                                        "working_day")):
                self.assertTrue(v is None or isinstance(v, float), f)
            else:
                self.assertIsInstance(v, int, f)
        self.assertEqual(every["national"], nat)
        self.assertEqual(every["areas"]["B"], area)
        self.assertEqual(fig(nat, "care_within_26w_pct"), 30.0)
        self.assertEqual(fig(nat, "workers"), 3)


if __name__ == "__main__":
    unittest.main()
