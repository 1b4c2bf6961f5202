#!/usr/bin/env python3
"""Browser check of the casewatch dashboard (deploy/dashboard/index.html) against a running daemon.

Standard library only: drives Chromium through chromedriver's W3C WebDriver HTTP API with urllib.

  1. starts chromedriver on a free port and a headless Chromium session, opens --url
     (with #token=T when --token is given);
  2. waits until the event stream is connected (#live[data-live=true]), the headline figure
     #fig-open_cases shows a number and the area chart #chart-areas has a bar;
  3. (with --trigger) records the alert rows, runs --trigger (a shell command that makes the daemon raise a new
     alert), then waits until a row whose data-key contains --expect-key appears (or changes
     state) through the event stream -- same page, no reload -- and #sse-count > 0;
  4. (with --trigger) clicks that row's Acknowledge button and waits until its data-acked is
     "true";
  then compares the header's counts with GET /alerts (at least --min-firing firing), checks the
  layout at 1440x900 and at 390x844 (no horizontal overflow; every visible alert shows its rule
  and an Acknowledge button; rows at most 120 px tall on the phone);
  5. saves the screenshots and prints one summary line.

Exit 0 on success. On failure it prints what was missing, the #live state and the browser's
console log, still saves the screenshot, and exits 1. chromedriver and the browser are stopped
on every exit path.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

# One snapshot of everything the check looks at, read in the page.
STATE_JS = r"""
const q = (s) => document.querySelector(s);
const live = q('#live');
const rows = Array.from(document.querySelectorAll('#alerts tr[data-key]')).map(tr => ({
  key: tr.getAttribute('data-key'), state: tr.getAttribute('data-state'),
  acked: tr.getAttribute('data-acked'), sse: Number(tr.getAttribute('data-sse') || 0)}));
const figs = {};
document.querySelectorAll('[id^="fig-"]').forEach(e => { figs[e.id.slice(4)] = e.textContent.trim(); });
const rects = (id) => { const s = q('#' + id); return s ? s.querySelectorAll('rect').length : -1; };
return {
  live: live ? live.getAttribute('data-live') : null, liveText: live ? live.textContent.trim() : null,
  sse: Number((q('#sse-count') || {}).textContent || 0),
  rows: rows, figs: figs,
  charts: {durations: rects('chart-durations'), areas: rects('chart-areas'), alloc: rects('chart-alloc')},
  counts: (q('#alert-counts') || {}).textContent || '',
  msg: (q('#msg') || {}).textContent || '', marker: window.__dashboardCheckMarker || null,
  href: location.href.replace(/#.*$/, ''), title: document.title
};
"""


# the page's width and every visible alert row's box, rule and Acknowledge button
LAYOUT_JS = r"""
const vis = (e) => { if (!e) return false; const b = e.getBoundingClientRect(), s = getComputedStyle(e);
  return b.width > 0 && b.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
let widest = '', ww = 0;
document.querySelectorAll('body *').forEach(e => { const r = e.getBoundingClientRect().right;
  if (r > ww) { ww = r; widest = e.tagName + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className : ''); } });
const rows = Array.from(document.querySelectorAll('#alerts tr[data-key]')).filter(vis).map(tr => {
  const rule = tr.querySelector('td.c-rule'), ack = tr.querySelector('button.ack');
  return {key: tr.getAttribute('data-key'), height: tr.getBoundingClientRect().height,
          rule: vis(rule) && rule.textContent.trim() !== '', ack: vis(ack)}; });
return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, widest: widest + ' ' + Math.round(ww), rows: rows};
"""


class Failure(Exception):
    pass


def numeric(text):
    t = (text or "").replace(",", "").replace("%", "").replace("\u2009", "").strip()
    try:
        float(t)
        return True
    except ValueError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port
        self.session = None

    def call(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                payload = r.read()
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                v = json.loads(payload).get("value", {})
                detail = "%s: %s" % (v.get("error"), (v.get("message") or "").splitlines()[0:1])
            except (ValueError, AttributeError):
                detail = payload[:300]
            raise Failure("WebDriver %s %s -> HTTP %d %s" % (method, path, e.code, detail)) from None
        return json.loads(payload).get("value") if payload else None

    def s(self, method, path, body=None, timeout=60):
        return self.call(method, "/session/%s%s" % (self.session, path), body, timeout)

    def execute(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the dashboard, e.g. http://127.0.0.1:PORT/")
    ap.add_argument("--token", help="API token; appended to the URL as #token=T")
    ap.add_argument("--screenshot", required=True, help="PNG written on success and on failure")
    ap.add_argument("--trigger", help="shell command that makes the daemon raise a new alert (with --expect-key;"
                    " without both, steps 3 and 4 are left out: the figures, counts and layout of what is loaded)")
    ap.add_argument("--expect-key", help="substring of the dedup_key that must appear live")
    ap.add_argument("--min-firing", type=int, default=0,
                    help="GET /alerts must count at least this many firing alerts (a year of data loaded)")
    ap.add_argument("--phone-screenshot", help="PNG of the page at 390x844 (an on-call phone)")
    ap.add_argument("--timeout", type=float, default=60, help="overall time limit in seconds (default 60)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    a = ap.parse_args()
    if (a.trigger is None) != (a.expect_key is None):
        ap.error("--trigger and --expect-key go together")

    deadline = time.monotonic() + a.timeout
    tmp = tempfile.mkdtemp(prefix="dashboard-check-")
    driver_proc = None
    wd = None
    state = {}
    step = "starting chromedriver"

    def on_signal(signum, _frame):
        raise Failure("interrupted by signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def remaining():
        return max(0.0, deadline - time.monotonic())

    def snapshot():
        nonlocal state
        state = wd.execute(STATE_JS) or {}
        return state

    def wait_for(what, cond, interval=0.25):
        while True:
            st = snapshot()
            missing = cond(st)
            if not missing:
                return st
            if remaining() <= 0:
                raise Failure("timed out %s: %s" % (what, "; ".join(missing)))
            time.sleep(min(interval, remaining()))

    ok = False
    try:
        for exe in (a.chromium, a.chromedriver):
            if not os.access(exe, os.X_OK):
                raise Failure("not executable: %s" % exe)
        port = free_port()
        log = open(os.path.join(tmp, "chromedriver.log"), "wb")
        driver_proc = subprocess.Popen([a.chromedriver, "--port=%d" % port], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        wd = WebDriver(port)
        while True:
            try:
                if (wd.call("GET", "/status", timeout=2) or {}).get("ready"):
                    break
            except (OSError, Failure):
                pass
            if driver_proc.poll() is not None:
                raise Failure("chromedriver exited with status %s" % driver_proc.returncode)
            if remaining() <= 0:
                raise Failure("chromedriver did not become ready")
            time.sleep(0.1)

        step = "creating the browser session"
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": a.chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--window-size=1440,900",
                         "--user-data-dir=" + os.path.join(tmp, "profile")]}}}}
        sess = wd.call("POST", "/session", caps, timeout=max(5, remaining()))
        wd.session = sess["sessionId"]
        wd.s("POST", "/timeouts", {"script": 10000, "pageLoad": int(max(1, remaining()) * 1000)})

        step = "loading the page"
        url = a.url
        if a.token:
            url = url.split("#", 1)[0] + "#token=" + urllib.request.quote(a.token, safe="")
        wd.s("POST", "/url", {"url": url}, timeout=max(5, remaining() + 5))

        step = "waiting for the initial data"

        def initial(st):
            m = []
            if st.get("live") != "true":
                m.append("#live data-live=%r (%r), want \"true\"" % (st.get("live"), st.get("liveText")))
            if not numeric(st.get("figs", {}).get("open_cases")):
                m.append("#fig-open_cases text %r is not a number" % st.get("figs", {}).get("open_cases"))
            if st.get("charts", {}).get("areas", -1) < 1:
                m.append("#chart-areas has no <rect> (%s)" % st.get("charts", {}).get("areas"))
            return m

        wait_for("waiting for the initial data", initial)
        before = {r["key"]: r for r in state["rows"]}
        wd.execute("window.__dashboardCheckMarker = arguments[0];", "m%d" % os.getpid())

        key = "-"
        if a.trigger is not None:
            step = "running --trigger"
            try:
                tr = subprocess.run(a.trigger, shell=True, timeout=max(1, remaining()), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except subprocess.TimeoutExpired:
                raise Failure("--trigger did not finish in time: %s" % a.trigger) from None
            if tr.returncode != 0:
                raise Failure("--trigger exited with status %d: %s\n%s" % (
                    tr.returncode, a.trigger, tr.stdout.decode(errors="replace")[-2000:]))

            step = "waiting for the triggered alert"
            found = {}

            def triggered(st):
                m = []
                if st.get("marker") != "m%d" % os.getpid():
                    m.append("the page was reloaded (rows must arrive over the event stream)")
                hits = [r for r in st["rows"] if a.expect_key in r["key"]]
                fresh = [r for r in hits if r["sse"] > 0 and (
                    r["key"] not in before or before[r["key"]]["state"] != r["state"] or before[r["key"]]["sse"] < r["sse"])]
                if not fresh:
                    m.append("no row with data-key containing %r %s (rows: %d; matching rows not new or changed via SSE: %d)"
                             % (a.expect_key, "arrived via SSE", len(st["rows"]), len(hits)))
                else:
                    found["row"] = fresh[0]
                if st.get("sse", 0) <= 0:
                    m.append("#sse-count is %r, want > 0" % st.get("sse"))
                return m

            wait_for("waiting for the triggered alert", triggered)
            key = found["row"]["key"]

            step = "acknowledging " + key
            btn = wd.execute(
                "for (const tr of document.querySelectorAll('#alerts tr[data-key]'))"
                "  if (tr.getAttribute('data-key') === arguments[0]) return tr.querySelector('button.ack');"
                "return null;", key)
            if not isinstance(btn, dict) or ELEMENT not in btn:
                raise Failure("row %r has no .ack button" % key)
            wd.s("POST", "/element/%s/click" % btn[ELEMENT], {})

            def acked(st):
                r = [x for x in st["rows"] if x["key"] == key]
                if not r:
                    return ["row %r disappeared" % key]
                if r[0]["acked"] != "true":
                    return ["row %r data-acked=%r (message: %r)" % (key, r[0]["acked"], st.get("msg"))]
                return []

            wait_for("waiting for the acknowledgement", acked)

        # [M] the header counts the whole firing set, as the API (and SQL) count it, not the page
        step = "comparing the header's counts with GET /alerts"
        api = a.url.split("#", 1)[0].rstrip("/") + "/alerts?state=firing&limit=1"
        req = urllib.request.Request(api, headers={"Authorization": "Bearer " + a.token} if a.token else {})
        with urllib.request.urlopen(req, timeout=10) as resp:
            tot = json.load(resp)
        if tot["total"] < a.min_firing:
            raise Failure("GET /alerts counts %d firing, want at least %d" % (tot["total"], a.min_firing))
        sev = tot.get("by_severity", {})
        want = "%d firing: %d critical · %d warning · %d info" % (
            tot["total"], sev.get("critical", 0), sev.get("warning", 0), sev.get("info", 0))

        def counted(st):
            if not st.get("counts", "").startswith(want):
                return ["#alert-counts %r, want it to begin %r" % (st.get("counts"), want)]
            return []

        wait_for("waiting for the header's counts", counted)

        # [M] laptop and phone: nothing runs off the right edge; on the phone each visible alert
        # is a card at most 120 px tall that shows its rule and an Acknowledge button
        for (w, h, shot) in ((1440, 900, a.screenshot), (390, 844, a.phone_screenshot)):
            step = "checking the layout at %dx%d" % (w, h)
            wd.s("POST", "/window/rect", {"width": w, "height": h})

            def laid_out(st, w=w):
                lay = wd.execute(LAYOUT_JS) or {}
                m = []
                if lay.get("scrollWidth", 1e9) > lay.get("innerWidth", 0):
                    m.append("horizontal overflow: scrollWidth %s > viewport %s (widest: %s)" % (
                        lay.get("scrollWidth"), lay.get("innerWidth"), lay.get("widest")))
                if not lay.get("rows"):
                    m.append("no visible alert rows")
                for r in lay.get("rows", []):
                    if not r["rule"]:
                        m.append("row %s shows no rule" % r["key"])
                    if not r["ack"]:
                        m.append("row %s shows no Acknowledge button" % r["key"])
                    if w < 500 and r["height"] > 120:
                        m.append("row %s is %d px tall on the phone (at most 120)" % (r["key"], r["height"]))
                return m[:6]

            wait_for("checking the layout at %dx%d" % (w, h), laid_out)
            if shot:
                if w < 500:  # the phone's screen shows the alert cards, not the tiles above them
                    wd.execute("document.getElementById('alerts-panel').scrollIntoView();")
                    time.sleep(0.3)
                save_screenshot(wd, shot)
            print("layout OK at %dx%d" % (w, h))
        figs = state.get("figs", {})
        shown = sum(1 for v in figs.values() if numeric(v))
        print("dashboard_check OK: rows=%d (before trigger %d) sse_events=%d figures_shown=%d/%d "
              "charts(rects) durations=%d areas=%d alloc=%d acked=%s screenshot=%s" % (
                  len(state["rows"]), len(before), state.get("sse", 0), shown, len(figs),
                  state["charts"]["durations"], state["charts"]["areas"], state["charts"]["alloc"], key, a.screenshot))
        ok = True
    except Exception as e:  # noqa: BLE001 -- report every failure the same way
        print("dashboard_check FAILED while %s: %s" % (step, e), file=sys.stderr)
        if wd is not None and wd.session:
            try:
                snapshot()
            except Exception:  # noqa: BLE001
                pass
            if state:
                print("  #live: data-live=%r text=%r; #sse-count=%r; rows=%d; figures=%s; chart rects=%s; message=%r" % (
                    state.get("live"), state.get("liveText"), state.get("sse"), len(state.get("rows", [])),
                    json.dumps(state.get("figs")), json.dumps(state.get("charts")), state.get("msg")), file=sys.stderr)
                print("  page: %s (title %r)" % (state.get("href"), state.get("title")), file=sys.stderr)
            print_console(wd)
            try:
                save_screenshot(wd, a.screenshot)
                print("  screenshot: %s" % a.screenshot, file=sys.stderr)
            except Exception as e2:  # noqa: BLE001
                print("  (no screenshot: %s)" % e2, file=sys.stderr)
        elif driver_proc is not None:
            try:
                with open(os.path.join(tmp, "chromedriver.log"), "rb") as f:
                    sys.stderr.write("  chromedriver log:\n" + f.read().decode(errors="replace")[-3000:])
            except OSError:
                pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if wd is not None and wd.session:
            try:
                wd.call("DELETE", "/session/" + wd.session, timeout=10)
            except Exception:  # noqa: BLE001
                pass
        if driver_proc is not None:
            stop_group(driver_proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


def save_screenshot(wd, path):
    png = base64.b64decode(wd.s("GET", "/screenshot", timeout=30))
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(png)


def print_console(wd):
    """The browser console (chromedriver's log endpoint; goog:loggingPrefs asks for it)."""
    try:
        entries = wd.s("POST", "/se/log", {"type": "browser"}, timeout=10) or []
    except Exception as e:  # noqa: BLE001
        print("  (browser console log unavailable: %s)" % e, file=sys.stderr)
        return
    print("  browser console (%d entries):" % len(entries), file=sys.stderr)
    for e in entries[-40:]:
        print("    %s %s" % (e.get("level"), e.get("message")), file=sys.stderr)


def stop_group(proc):
    """Stop chromedriver and the browser it started: they share the process group created for it."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the group may outlive its leader (browser processes): KILL it and wait until it is gone
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)
        return


if __name__ == "__main__":
    sys.exit(main())
