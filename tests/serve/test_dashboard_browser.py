"""The dashboard in a real headless browser (Debian's ``chromium``), against a real service.

The browser is driven over the DevTools protocol on ``--remote-debugging-pipe`` (JSON
messages separated by NUL bytes on fds 3 and 4: stdlib only). What the page does is
recorded from the protocol's own events, which carry their level:

* problems: ``Runtime.consoleAPICalled`` of type error/warning/assert,
  ``Runtime.exceptionThrown`` (uncaught errors), ``Log.entryAdded`` of level error/warning
  (failed loads such as a 404, CSP violations, interventions), and ``Audits.issueAdded``
  (the DevTools Issues panel: CSP, deprecations, form fields without labels...);
* advisories: the Issues-panel kinds in ``ADVISORY_ISSUES``, hints that say nothing is broken
  (chromium 156, Debian's today, adds ``LazyLoadImageIssue``). They are recorded and shown
  beside a failure, never a failure themselves; any other kind, known or new, still fails;
* requests: the URL of every ``Network.requestWillBeSent`` of the page; every one must go
  to 127.0.0.1 (``data:``/``about:``/``blob:`` excepted). ``--host-resolver-rules`` also maps
  every other host to NOTFOUND, so nothing leaves the machine even if the page tried.

The first test loads tiny static pages to prove the recorder flags a ``console.error``, an
uncaught exception and a fetch of http://example.com (so the dashboard tests can fail).
The dashboard tests run the real chain (tests/chain_helpers.make_chain gives the bundle,
the store and the locations), start ``sowcast serve`` as a subprocess on a free port of
127.0.0.1, and drive the page as an operator would: the empty service says "no forecast
published yet", the page's own "Run now" queues a chain job, the service runs and
publishes it, the page's auto-refresh shows the products, the skill statement and the bulletin; a row opens
its detail panel; the language toggles. Screenshots go to pytest's tmp_path, and to
``$SOWCAST_SCREENSHOT_DIR`` when it is set.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_helpers import ISSUE_DATE, base_overrides, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps", "--disable-breakpad",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--mute-audio",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
LOCAL_SCHEMES = ("data", "about", "blob")
# DevTools issue codes that are advice, not faults (checked against Debian's chromium 156):
ADVISORY_ISSUES = {
    # "lazy-loaded image with zero size" (DevTools' lazyLoadImageZeroSize.md): a map added to a
    # box while it is laid out at zero width loads once shown. Whether every map did load is
    # asserted directly (img.complete and naturalWidth > 0).
    "LazyLoadImageIssue",
}


# ----------------------------------------------------------------------------- the browser

class Browser:
    """A headless chromium and one page, driven over ``--remote-debugging-pipe``."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 800):
        profile.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width, height
        # Our ends and chromium's: it reads commands on fd 3 and writes answers on fd 4.
        cmd_read, self._cmd_write = os.pipe()
        self._answer_read, answer_write = os.pipe()
        # Move chromium's ends to fds >= 10 so dup2 onto 3 and 4 cannot clobber either.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_read, answer_write)]
        os.close(cmd_read)
        os.close(answer_write)
        trampoline = "import os,sys; os.dup2(int(sys.argv[1]),3); os.dup2(int(sys.argv[2]),4); os.execv(sys.argv[3], sys.argv[3:])"
        self.stderr_path = profile.parent / f"{profile.name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", trampoline, str(high[0]), str(high[1]), CHROMIUM, *CHROMIUM_FLAGS,
                 f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
                pass_fds=high, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        for fd in high:
            os.close(fd)
        self._next_id = 0
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = None
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page", "Audits"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._answer_read, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._answers[-1] = {"error": {"message": "chromium closed the pipe"}}
                    self._cond.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        """One protocol command (on the page's session once attached); its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: self._next_id in self._answers or -1 in self._answers, timeout):
                raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
            answer = self._answers.pop(self._next_id, None) or self._answers[-1]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} still false after {timeout} s")
            time.sleep(0.1)

    def wait_network_idle(self, quiet: float = 0.5, timeout: float = 30) -> None:
        """Until no request of the page has been open for ``quiet`` seconds (images, fetches)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                events = list(self.events)
            started = {e["params"]["requestId"] for e in events if e.get("method") == "Network.requestWillBeSent"}
            ended = {e["params"]["requestId"] for e in events
                     if e.get("method") in ("Network.loadingFinished", "Network.loadingFailed")}
            if not started - ended:
                time.sleep(quiet)
                with self._cond:
                    if len(self.events) == len(events):
                        return
            else:
                time.sleep(0.05)
        raise TimeoutError(f"requests still open after {timeout} s")

    def goto(self, url: str, ready: str | None = None, timeout: float = 60) -> None:
        """Navigate, wait for the load event, then for ``ready`` (JS) and a quiet network."""
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", timeout)
        if ready:
            self.wait_for(ready, timeout)
        self.wait_network_idle(timeout=timeout)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG: the viewport is stretched to the page's height for the shot."""
        height = max(self.height, int(self.evaluate("document.documentElement.scrollHeight")))
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        try:
            data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        finally:
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_write, self._answer_read):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class PageRecord:
    """What a page did, from the browser's events: problems and requested URLs."""

    problems: list[str] = field(default_factory=list)
    advisories: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def outside(self) -> list[str]:
        """Requests to anything but 127.0.0.1."""
        return [u for u in self.requests
                if urlsplit(u).scheme not in LOCAL_SCHEMES and urlsplit(u).hostname != "127.0.0.1"]


def record(events: list[dict]) -> PageRecord:
    """Console errors and warnings, uncaught exceptions, failed loads, DevTools issues (advisory
    kinds apart), and all request URLs."""
    out = PageRecord()
    for event in events:
        method, p = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.problems.append(f"console.{p['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.problems.append(f"uncaught: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            e = p["entry"]
            out.problems.append(f"log {e['level']} ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())
        elif method == "Audits.issueAdded":  # DevTools' Issues: CSP, deprecations, form labels...
            issue = p.get("issue", {})
            line = f"issue {issue.get('code')}: {json.dumps(issue.get('details'))[:300]}"
            (out.advisories if issue.get("code") in ADVISORY_ISSUES else out.problems).append(line)
        elif method == "Network.requestWillBeSent":
            out.requests.append(p["request"]["url"])
    return out


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "chromium-profile")
    yield b
    b.close()


# ------------------------------------------------------------- the recorder can fail

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_server(folder: Path):
    """A stdlib file server on 127.0.0.1 (a free port); yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


PAGES = {
    "clean.html": "<!doctype html><html lang=en><head><link rel=icon href='data:,'><title>ok</title></head>"
                  "<body><p>fine</p><script>console.log('just a log'); document.body.dataset.state='ready'</script>",
    "console_error.html": "<!doctype html><html lang=en><head><link rel=icon href='data:,'><title>e</title></head>"
                          "<body><script>console.error('boom'); document.body.dataset.state='ready'</script>",
    "uncaught.html": "<!doctype html><html lang=en><head><link rel=icon href='data:,'><title>u</title></head>"
                     "<body><script>document.body.dataset.state='ready'; null.nothing()</script>",
    "csp.html": "<!doctype html><html lang=en><head><meta http-equiv=Content-Security-Policy content=\"style-src 'none'\">"
                "<link rel=icon href='data:,'><title>c</title><style>p { color: red }</style></head>"
                "<body><p>styled</p><script>document.body.dataset.state='ready'</script>",
    "outside.html": "<!doctype html><html lang=en><head><link rel=icon href='data:,'><title>o</title></head>"
                    "<body><script>fetch('http://example.com/track').catch(() => {})"
                    ".finally(() => { document.body.dataset.state='ready' })</script>",
}


@needs_chromium
@pytest.mark.timeout(120)
def test_recorder_flags_console_errors_exceptions_and_outside_requests(tmp_path, browser):
    for name, html in PAGES.items():
        (tmp_path / name).write_text(html)
    found = {}
    with static_server(tmp_path) as base:
        for name in PAGES:
            start = len(browser.events)
            browser.goto(f"{base}/{name}", ready="document.body.dataset.state === 'ready'")
            found[name] = record(browser.events[start:])
    assert found["clean.html"].problems == [] and found["clean.html"].outside == []
    assert any("boom" in p for p in found["console_error.html"].problems)
    assert any(p.startswith("uncaught:") for p in found["uncaught.html"].problems)
    assert any(p.startswith("issue ContentSecurityPolicyIssue") for p in found["csp.html"].problems)
    assert found["outside.html"].outside == ["http://example.com/track"]
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in found["clean.html"].requests)


def test_advisory_issues_are_recorded_apart_and_other_issues_fail():
    """The classifier alone, on the events chromium 156 sends (no browser needed)."""
    def issue(code: str) -> dict:
        return {"method": "Audits.issueAdded",
                "params": {"issue": {"code": code, "details": {"x": 1}}}}
    seen = record([issue("LazyLoadImageIssue"), issue("ContentSecurityPolicyIssue"),
                   issue("SomeIssueOfAFutureChromium")])
    assert [a.split(":")[0] for a in seen.advisories] == ["issue LazyLoadImageIssue"]
    assert [p.split(":")[0] for p in seen.problems] == ["issue ContentSecurityPolicyIssue",
                                                        "issue SomeIssueOfAFutureChromium"]


def chromium_version() -> str:
    return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()


# ------------------------------------------------------------------- a real service

# The service's own test helpers (tests/serve/serve_helpers.py) start ``sowcast serve`` on a
# free port; the session fixture ``chain`` (tests/serve/conftest.py) is the tiny real chain.
FULL_CHAIN = "[forecast,products,bulletin]"


@contextlib.contextmanager
def running_service(tmp_path: Path, chain: dict, token: str | None = None):
    server = start_server(tmp_path / "serve.log", base_overrides(
        tmp_path / "root", chain, **{"serve.chain": FULL_CHAIN, "serve.forecast.members": 4},
        **({"serve.token": token} if token else {})), token=token)
    try:
        yield server, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def keep_screenshot(path: Path) -> None:
    """Copy a screenshot to $SOWCAST_SCREENSHOT_DIR when it is set."""
    folder = os.environ.get("SOWCAST_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(folder) / path.name)


def text(browser: Browser, selector: str) -> str:
    return browser.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")


READY = "document.body.dataset.state === 'ready'"


@needs_chromium
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dashboard_from_empty_service_to_published_bulletin(tmp_path, chain, browser):
    with running_service(tmp_path, chain) as (server, url):
        # 1. nothing published: the page says so, asks for nothing that would 404
        browser.goto(url + "/", ready=READY)
        empty = record(browser.events)
        assert browser.evaluate("!document.getElementById('nothing-published').hidden")
        assert "No forecast published yet" in text(browser, "#nothing-published")
        assert "No bulletin published yet" in text(browser, "#bulletin")
        assert "Service OK" in text(browser, "#service-text")
        asked = {urlsplit(u).path for u in empty.requests if urlsplit(u).scheme == "http"}
        assert asked == {"/", "/api/status", "/api/runs"}, empty.requests
        assert empty.problems == [] and empty.outside == []
        browser.screenshot(tmp_path / "dashboard_empty.png")
        keep_screenshot(tmp_path / "dashboard_empty.png")

        # 2. the page's own "Run now" queues a chain job; the service runs and publishes it
        browser.evaluate(f"document.getElementById('run-init-time').value = '{ISSUE_DATE}'")
        browser.evaluate("document.getElementById('run-now').click()")
        browser.wait_for("/queued/.test(document.getElementById('run-message').textContent)")
        job_id = re.search(r"Run (\w+) queued", text(browser, "#run-message")).group(1)
        job = server.wait_job(job_id, timeout=420)
        assert job["status"] == "succeeded", (job, server.log()[-3000:])
        assert job["params"]["init_time"] == ISSUE_DATE

        # 3. the auto-refresh (every 10 s) shows the products and the bulletin
        api_locations = server.get_json("/api/locations")["locations"]
        browser.wait_for(f"document.getElementById('issue-date').textContent === '{ISSUE_DATE}' && "
                         f"document.querySelectorAll('#locations tbody tr').length === {len(api_locations)} && "
                         "document.querySelectorAll('#bulletin a').length > 0", timeout=40)
        browser.wait_network_idle()
        rows = browser.evaluate("[...document.querySelectorAll('#locations tbody tr')].map(r => r.dataset.name)")
        assert rows == [loc["name"] for loc in api_locations]
        assert browser.evaluate("document.getElementById('nothing-published').hidden")
        bulletin = server.get_json("/api/bulletins/latest")
        links = browser.evaluate("[...document.querySelectorAll('#bulletin dd a')].map(a => a.getAttribute('href'))")
        assert sorted(links) == sorted(v for k, v in bulletin["files"].items() if re.fullmatch(r"(html|pdf)_\w+", k))
        images = browser.evaluate("[...document.querySelectorAll('#bulletin img')]"
                                  ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        # each map is drawn once per language (maps/<name>_<lang>.png): the page shows its language's
        assert [src for src, _ in images] == [m for m in bulletin["maps"] if m.endswith("_en.png")], images
        assert images and all(ok for _, ok in images), images
        assert "#" + job_id in text(browser, "#runs tbody")
        # the chain's bundle came with no held-out scorecard: the page warns that every chance on
        # it is unverified, in the bulletin's own words (/api/skill), and shows no score
        skill = server.get_json("/api/skill")
        assert skill["assessed"] is False
        assert "Skill not assessed" in text(browser, "#skill .notice.bad")
        assert skill["statement"]["en"][0] in text(browser, "#skill")
        assert browser.evaluate("document.querySelectorAll('#skill-table').length") == 0
        # a small laptop screen (1280 px wide): nothing sticks out sideways
        assert browser.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

        # 4. a row opens its detail: the weekly rain terciles of that location
        first = api_locations[0]["name"]
        browser.evaluate("document.querySelector('#locations tbody tr').click()")
        browser.wait_for("!document.getElementById('detail').hidden && "
                         "document.querySelectorAll('#detail-body table').length === 2")
        detail = server.get_json(f"/api/locations/{quote(first)}")
        assert text(browser, "#detail-title") == first
        assert browser.evaluate("document.querySelectorAll('#detail-body table')[1].tBodies[0].rows.length") == \
            len(detail["weekly_rain_terciles"])
        # dry-season periods state no tercile chance; the advice's percentage says how many runs it rests on
        assert browser.evaluate("document.querySelectorAll('#detail-body td.dry-season').length") == \
            sum(detail["weekly_rain_dry_season"].values())
        if detail["advice"] != "no_data" and detail["advice_probability"] not in (None, 1):
            assert f"from {detail['members']} forecast runs: likely between" in text(browser, "#detail-body dl")
        browser.wait_network_idle()
        shot = browser.screenshot(tmp_path / "dashboard.png")
        keep_screenshot(shot)

        # 5. French: the page's labels and the advice from the bulletin's French SMS
        browser.evaluate("document.querySelector('#lang button[data-lang=fr]').click()")
        assert browser.evaluate("document.documentElement.lang") == "fr"
        assert text(browser, "#loc-title") == "Perspectives de semis par localité"
        # French typography (a no-break space before ':') and the chain's step names translated
        assert "Date d’émission\u00a0:" in text(browser, "#bulletin"), text(browser, "#bulletin")
        assert "Compétence non évaluée" in text(browser, "#skill") and skill["statement"]["fr"][0] in text(browser, "#skill")
        french_steps = {"forecast": "prévision", "products": "produits", "bulletin": "bulletin",
                        "publish": "publication"}
        assert job["step"] in french_steps, job
        step_cell = browser.evaluate("document.querySelector('#runs tbody tr td:nth-child(3)').textContent")
        assert step_cell == french_steps[job["step"]], step_cell
        french = api_locations[0]["advice_text"]["fr"]      # the bulletin's French SMS
        shown = text(browser, "#locations tbody tr .advice-text")
        assert shown and shown in french and "-NMA" not in shown, (shown, french)
        browser.wait_network_idle()
        maps_fr = browser.evaluate("[...document.querySelectorAll('#bulletin img')]"
                                   ".map(i => i.complete && i.naturalWidth > 0 && i.getAttribute('src'))")
        assert maps_fr == [m for m in bulletin["maps"] if m.endswith("_fr.png")], maps_fr
        browser.screenshot(tmp_path / "dashboard_fr.png")
        keep_screenshot(tmp_path / "dashboard_fr.png")

    seen = record(browser.events)
    assert seen.problems == [], (chromium_version(), seen.problems, seen.advisories)
    assert seen.outside == [], seen.outside
    paths = {urlsplit(u).path for u in seen.requests}
    assert {"/api/locations", f"/api/locations/{first}", "/api/bulletins/latest", "/api/skill"} <= paths, paths
    assert shot.stat().st_size > 20_000   # a rendered page, not a blank one


@needs_chromium
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dashboard_asks_for_the_token_once_and_keeps_it(tmp_path, chain, browser):
    token = "edge-box-token-0123456789"
    with running_service(tmp_path, chain, token=token) as (_server, url):
        browser.goto(url + "/", ready=READY)
        assert browser.evaluate("!document.getElementById('token-box').hidden && document.querySelector('main').hidden")
        browser.evaluate(f"document.getElementById('token-input').value = {json.dumps(token)}")
        browser.evaluate("document.querySelector('#token-form button').click()")
        browser.wait_for("/Service OK/.test(document.getElementById('service-text').textContent)")
        assert browser.evaluate(f"sessionStorage.getItem('sowcast-token') === {json.dumps(token)}")
        # a reload in the same tab needs no token again
        start = len(browser.events)
        browser.goto(url + "/", ready=READY)
        browser.wait_for("/Service OK/.test(document.getElementById('service-text').textContent)")
        assert browser.evaluate("document.getElementById('token-box').hidden")
        assert record(browser.events[start:]).problems == []
    seen = record(browser.events)
    # The one refusal the browser itself logs: the first /api/status, before the token was known.
    assert len(seen.problems) == 1 and "401" in seen.problems[0] and "/api/status" in seen.problems[0], seen.problems
    assert seen.outside == []


# rpss of the issued rain categories (value, low, high), as 'sowcast verify' writes them
SKILL = {"week1": (0.21, 0.10, 0.30), "week2": (0.05, -0.02, 0.12), "weeks3-4": (-0.03, float("nan"), float("nan"))}


@needs_chromium
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dashboard_states_the_held_out_skill_beside_the_chances(tmp_path, chain, browser):
    """A published run whose bulletin had a scorecard: the skill section's table (grey where the
    range reaches 0 or the score is 0 or below) and the bulletin's own paragraphs, and a skill
    column beside the location's tercile chances; in French too."""
    from sowcast.bulletin.options import BulletinOptions
    from sowcast.bulletin.stage import run as make_bulletin
    from sowcast.cli.main import compose
    from sowcast.serve.publish import publish
    from sowcast.verify.scorecard import Scorecard
    from sowcast.verify.summary import ScorecardSummary

    card = Scorecard()
    for period, (value, low, high) in SKILL.items():
        card.add("rpss", "total_precipitation", period, value, perfect=1.0, interval=(low, high))
    card.add("onset_mae_days", "total_precipitation", "onset", 6.5, 9.25, n=40)
    (tmp_path / "scorecard").mkdir()
    card.to_csv(tmp_path / "scorecard" / "scores.csv")
    headline = {f"rpss {p}": v for p, (v, _, _) in SKILL.items()}
    ScorecardSummary(starts=20, members=4, years=[2002, 2003], rules="sivakumar1988", weekly_rain=headline,
                     weekly_rain_all_points=headline, onset_mae_days=6.5, onset_mae_days_climatology=9.25,
                     onset_cases=40, onset_bias_days=-1.0, onset_bias_days_climatology=0.5,
                     dry_season_mm_per_day=1.0).write(tmp_path / "scorecard")
    root, run = tmp_path / "root", tmp_path / "root" / "runs" / "000001"
    shutil.copytree(chain["products"], run / "products")
    make_bulletin(BulletinOptions.from_config(compose([
        f"bulletin.products={run / 'products'}", f"bulletin.output={run / 'bulletin'}",
        f"bulletin.scorecard={tmp_path / 'scorecard'}", "bulletin.formats=[html]"]).bulletin))
    (root / "published").mkdir()
    publish(root, "000001", run, keep=5)
    server = start_server(tmp_path / "serve.log", base_overrides(root, chain))
    try:
        browser.goto(f"http://127.0.0.1:{server.port}/", ready=READY)
        browser.wait_for("document.querySelectorAll('#skill-table tbody tr').length === 3", timeout=40)
        cells = "[...document.querySelectorAll('#skill-table tbody tr')].map(r => [...r.cells].map(c => c.textContent))"
        assert browser.evaluate(cells) == [["week 1", "0.21", "0.10 … 0.30"], ["week 2", "0.05", "-0.02 … 0.12"],
                                           ["weeks 3–4", "-0.03", "–"]]
        grey = "[...document.querySelectorAll('#skill-table tbody tr')].map(r => r.classList.contains('uncertain'))"
        assert browser.evaluate(grey) == [False, True, True]
        assert "Reforecasts of 2002–2003" in text(browser, "#skill")
        statement = server.get_json("/api/skill")["statement"]
        assert statement["en"][0] in text(browser, "#skill") and not text(browser, "#skill .notice.bad")

        browser.evaluate("document.querySelector('#locations tbody tr').click()")
        browser.wait_for("document.querySelectorAll('#detail-body th.skill-col').length === 1")
        detail = ("[...document.querySelectorAll('#detail-body table')[1].tBodies[0].rows]"
                  ".map(r => [r.cells[0].textContent, r.lastElementChild.textContent, "
                  "r.lastElementChild.classList.contains('uncertain')])")
        shown = {period: (value, weak) for period, value, weak in browser.evaluate(detail)}
        assert shown["week 1"] == ("0.21", False) and shown["week 2"] == ("0.05", True)
        assert shown["weeks 3–4"] == ("-0.03", True) and shown["week 4"] == ("–", False)
        browser.screenshot(tmp_path / "dashboard_skill.png")
        keep_screenshot(tmp_path / "dashboard_skill.png")

        browser.evaluate("document.querySelector('#lang button[data-lang=fr]').click()")
        assert browser.evaluate(cells)[0] == ["semaine 1", "0,21", "0,10 … 0,30"]
        assert statement["fr"][0] in text(browser, "#skill")
        browser.wait_network_idle()   # the French maps, before the service stops
    finally:
        assert server.stop() == 0
    seen = record(browser.events)
    assert seen.problems == [] and seen.outside == [], (seen.problems, seen.outside)
