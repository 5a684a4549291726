#!/usr/bin/env python3
"""Browser tests of the admin console (/admin) with Debian's Chromium through Playwright.

Nothing is downloaded: Playwright drives /usr/bin/chromium (never `playwright install`), and
axe-core is vendored next to this file. The script starts the qshare binary on a fresh SQLite
database seeded with 1,000 articles and 10,000 comments, then runs the flows in zh-CN and en.
Every page visited is checked for zero CSP violations, zero console errors and zero axe-core
WCAG 2.1 AA violations. Prints `N passed, M failed` and exits non-zero on any failure.

    python3 tests/browser/console_test.py            # QSHARE_BIN=target/release/qshare
    SCREENSHOTS=/work/notes python3 tests/browser/console_test.py
    MEASURE=1 ...                                     # also prints page weights and timings
"""

import datetime
import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from playwright.sync_api import sync_playwright

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("QSHARE_BIN") or next(
    (p for p in (os.path.join(ROOT, "target/release/qshare"), os.path.join(ROOT, "target/debug/qshare")) if os.path.exists(p)),
    "qshare",
)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = open(os.path.join(HERE, "vendor", "axe-4.14.1.min.js")).read()
ADMIN, PASSWORD = "console_admin", "console-password-1"
SHOTS = os.environ.get("SCREENSHOTS")

# Records CSP violations before any page script runs; a console listener alone misses some.
CSP_HOOK = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""

results = {"passed": 0, "failed": 0}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server():
    data = tempfile.mkdtemp(prefix="qshare-browser-")
    port = free_port()
    env = dict(os.environ)
    env.update({
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite://{data}/q.db?mode=rwc",
        "APP_SERVER__PORT": str(port),
        "APP_LOG__LEVEL": "warn",
        "RUST_LOG": "warn",
    })
    env.pop("REDIS_URL", None)
    run = lambda *args, **kw: subprocess.run([BIN, *args], env=env, check=True, cwd=data, **kw)
    run("migrate")
    run("admin", "create", "--username", ADMIN, "--password", PASSWORD, stdout=subprocess.DEVNULL)
    run("seed-demo", "--bulk", "1000", stdout=subprocess.DEVNULL)
    seed_comments(f"{data}/q.db", 10_000)
    log = open(os.path.join(data, "server.log"), "w")
    server = subprocess.Popen([BIN], env=env, cwd=data, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    return server, base, data


def seed_comments(path, n):
    """10,000 pending comments straight into SQLite (the API's per-user limits would make
    seeding through it take hours)."""
    db = sqlite3.connect(path)
    (user,) = db.execute("SELECT id FROM users WHERE username = ?", (ADMIN,)).fetchone()
    articles = [r[0] for r in db.execute("SELECT id FROM articles ORDER BY id LIMIT 200")]
    (stamp,) = db.execute("SELECT created_at FROM articles LIMIT 1").fetchone()
    rows = [
        (articles[i % len(articles)], user, f"seeded comment {i} 种子评论", "pending", 0, "127.0.0.1", stamp, stamp)
        for i in range(n)
    ]
    db.executemany(
        "INSERT INTO comments (article_id, user_id, content, status, reply_count, client_ip, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()


def check(name):
    def wrap(fn):
        def run(*args):
            label = f"{name} [{args[0].lang}]" if args else name
            try:
                fn(*args)
                results["passed"] += 1
                print(f"ok    {label}", flush=True)
            except Exception:
                results["failed"] += 1
                print(f"FAIL  {label}", flush=True)
                traceback.print_exc()
        return run
    return wrap


class Session:
    def __init__(self, browser, base, lang):
        self.base, self.lang = base, lang
        self.ctx = browser.new_context(locale=lang, timezone_id="Asia/Shanghai")
        self.ctx.add_init_script(CSP_HOOK)
        self.page = self.ctx.new_page()
        self.errors = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def goto(self, path):
        self.errors.clear()
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")

    def wait_until(self, predicate, what, timeout=15):
        """Polls from Python: Playwright's wait_for_function evaluates a string in the page,
        which the console's CSP (no unsafe-eval) rightly refuses."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                if predicate():
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def audit(self, where):
        """Zero CSP violations, console errors and axe WCAG 2.1 AA violations on this page."""
        csp = self.page.evaluate("window.__csp")
        assert not csp, f"{where}: CSP violations {csp}"
        assert not self.errors, f"{where}: console errors {self.errors}"
        self.page.evaluate(AXE)
        found = self.page.evaluate(
            """() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                 .then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')))"""
        )
        assert not found, f"{where}: axe violations {found}"

    def sign_in(self):
        self.goto("/admin/login")
        self.page.fill("#username", ADMIN)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/admin")
        want = "中文" if self.lang == "zh-CN" else "English"
        if self.page.locator("#language-switch option:checked").inner_text() != want:
            self.page.select_option("#language-switch", self.lang)
            self.page.wait_for_load_state("networkidle")
            self.wait_until(lambda: self.page.locator("html").get_attribute("lang") == self.lang, "the language switch")

    def api(self, method, path, body=None):
        """The JSON API as the same administrator (to check what the console did)."""
        token = json.loads(urllib.request.urlopen(urllib.request.Request(
            self.base + "/api/auth/login", data=json.dumps({"username": ADMIN, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"})).read())["access_token"]
        req = urllib.request.Request(self.base + path, method=method, headers={"Authorization": f"Bearer {token}"})
        return json.loads(urllib.request.urlopen(req).read())


PAGES = ["/admin", "/admin/articles", "/admin/articles/new", "/admin/moderation", "/admin/moderation?kind=guestbook",
         "/admin/jobs", "/admin/push", "/admin/followers", "/admin/resources", "/admin/releases",
         "/admin/taxonomy", "/admin/audit"]


@check("every page: no CSP violation, no console error, no axe WCAG 2.1 AA violation")
def every_page(s):
    for path in PAGES:
        s.goto(path)
        s.audit(path)
    job = s.api("GET", "/api/admin/jobs")["items"][0]["id"]
    art = s.api("GET", "/api/admin/articles?limit=1")["items"][0]["id"]
    for path in [f"/admin/jobs/{job}", f"/admin/articles/{art}"]:
        s.goto(path)
        s.audit(path)


@check("sign-in, CSRF refusal, logout")
def sign_in_csrf_logout(s):
    # A POST without the token is refused (the browser's fetch carries the cookie).
    status = s.page.evaluate("fetch('/admin/jobs/1/disable', {method: 'POST'}).then(r => r.status)")
    assert status == 403, status
    s.errors.clear()  # the refusal above is logged as a failed load, on purpose
    assert s.api("GET", "/api/admin/jobs/1")["enabled"] in (True, False)
    s.goto("/admin")
    s.page.click("[data-testid=logout]")
    s.page.wait_for_url(s.base + "/admin/login")
    s.goto("/admin/jobs")
    assert s.page.url.endswith("/admin/login"), s.page.url
    s.sign_in()


@check("article edit -> schedule -> publish -> feature, seen in the public API")
def article_flow(s):
    art = s.api("GET", "/api/admin/articles?status=published&limit=1")["items"][0]["id"]
    s.goto(f"/admin/articles/{art}")
    if s.page.locator("[data-op=adminUnpublishArticle]:not([disabled])").count():
        s.page.click("[data-op=adminUnpublishArticle]")
    s.page.wait_for_selector("[data-op=adminPublishArticle]:not([disabled])")
    title = f"Browser {s.lang} {int(time.time() * 1000)}"
    s.page.fill("#title", title)
    s.page.fill("#content", "# 预览 Preview\n\n**bold**")
    s.page.wait_for_selector("#preview h1")
    s.page.click("[data-testid=save]")
    s.page.wait_for_load_state("networkidle")
    if os.environ.get("DEBUG_SHOTS"):
        s.page.screenshot(path="/tmp/console-after-save.png", full_page=True)
        print(s.page.locator("#flash").inner_text())
    s.wait_until(lambda: title in s.page.locator("main > h1").inner_text(), "the saved title")
    s.page.fill("#publish-at", "2031-05-06T07:08")
    s.page.click("[data-op=adminScheduleArticle] button")
    s.wait_until(lambda: "2031-05-06 07:08:00 CST" in s.page.locator("[data-testid=published-at]").inner_text(), "the schedule")
    assert s.api("GET", f"/api/admin/articles/{art}")["status"] == "scheduled"
    s.page.click("[data-op=adminPublishArticle]")
    s.page.wait_for_selector("[data-op=adminUnpublishArticle]:not([disabled])")
    if s.page.locator("[data-op=adminFeatureArticle]:not([disabled])").count():
        s.page.click("[data-op=adminFeatureArticle]")
    s.page.wait_for_selector("[data-op=adminUnfeatureArticle]:not([disabled])")
    public = json.loads(urllib.request.urlopen(f"{s.base}/api/articles/{art}").read())
    assert public["title"] == title and public["featured"] is True, public
    s.audit("article editor")


@check("bulk moderation of 10 comments with undo, by keyboard")
def moderation_flow(s):
    s.goto("/admin/moderation?kind=comments&status=pending")
    before = s.page.locator("input[name=all_matching]").get_attribute("data-total")
    boxes = s.page.locator("input[name=ids]")
    boxes.first.focus()
    for i in range(10):
        s.page.keyboard.press("x")
        s.page.keyboard.press("j")
    ids = [b.get_attribute("value") for b in boxes.all()[:10]]
    assert all(b.is_checked() for b in boxes.all()[:10])
    s.page.keyboard.press("h")          # stage "hide"
    s.page.wait_for_selector("#undo-bar:not([hidden])")
    s.page.keyboard.press("Escape")     # undo
    s.page.wait_for_selector("#undo-bar[hidden]", state="attached")
    time.sleep(0.5)
    assert s.page.locator("input[name=all_matching]").get_attribute("data-total") == before, "undo sent nothing"
    s.page.keyboard.press("a")          # stage "approve", let it run
    s.page.wait_for_selector("[data-testid=bulk-done]", timeout=15_000)
    after = int(s.page.locator("input[name=all_matching]").get_attribute("data-total"))
    assert after == int(before) - 10, (before, after)
    s.audit("moderation after bulk")
    del ids


@check("cron edit with live preview, then run now with the next fire time unchanged")
def job_flow(s):
    jobs = s.api("GET", "/api/admin/jobs")["items"]
    job = next(j for j in jobs if j["kind"] == "purge_refresh_tokens" or j["enabled"])
    s.goto(f"/admin/jobs/{job['id']}")
    cron = "0 15 4 * * *" if s.lang == "zh-CN" else "0 20 5 * * 1-5"
    s.page.fill("#cron", cron)
    s.page.wait_for_selector("#cron-preview [data-testid=cron-description]")
    assert s.page.locator("#cron-preview [data-testid=fire-job]").count() == 5
    s.page.fill("#cron", "0 99 4 * * *")
    s.page.wait_for_selector("#cron-preview [data-testid=cron-error]")
    s.errors.clear()  # the refused expression's 400 above is the inline error, on purpose
    s.page.fill("#cron", cron)
    s.page.wait_for_selector("#cron-preview [data-testid=cron-description]")
    s.page.check("input[name=enabled]")
    s.page.click("[data-testid=save-job]")
    s.wait_until(lambda: s.page.locator(".card code").first.inner_text() == cron, "the saved cron")
    next_before = s.page.locator("[data-testid=next-fire]").inner_text()
    s.page.focus("[data-testid=run-now]")
    s.page.keyboard.press("Enter")
    s.page.wait_for_selector("#runs td", timeout=10_000)
    s.page.wait_for_load_state("networkidle")
    assert s.page.locator("[data-testid=next-fire]").inner_text() == next_before
    runs = s.api("GET", f"/api/admin/jobs/{job['id']}/runs")["items"]
    assert runs and runs[0]["trigger"] == "manual", runs[:1]
    s.audit("job page")


def measure(s):
    """First-load weight (compressed) and JS, fragment size, and list fragment server time."""
    def get(path, headers=None):
        cookies = {c["name"]: c["value"] for c in s.ctx.cookies()}
        h = {"Cookie": f"qshare_console={cookies['qshare_console']}", "Accept-Encoding": "gzip"}
        h.update(headers or {})
        t = time.perf_counter()
        body = urllib.request.urlopen(urllib.request.Request(s.base + path, headers=h)).read()
        return body, time.perf_counter() - t
    assets = 0
    js = 0
    page, _ = get("/admin/moderation")
    html = gzip.decompress(page).decode()
    for attr in ('src="', 'href="'):
        for chunk in html.split(attr)[1:]:
            url = chunk.split('"')[0]
            if url.startswith("/admin/assets/"):
                body, _ = get(url)
                assets += len(body)
                js += len(body) if url.endswith(".js") else 0
    print(f"measure: /admin/moderation first load {len(page) + assets} B compressed (html {len(page)}, js {js})")
    for path in ["/admin", "/admin/articles", "/admin/jobs"]:
        body, _ = get(path)
        print(f"measure: {path} html {len(body)} B compressed")
    frag, _ = get("/admin/moderation?kind=comments&status=pending", {"HX-Request": "true", "HX-Target": "queue"})
    print(f"measure: moderation list fragment {len(frag)} B compressed")
    for path in ["/admin/moderation?kind=comments&status=pending", "/admin/articles?status=published"]:
        times = sorted(get(path, {"HX-Request": "true", "HX-Target": "x"})[1] for _ in range(40))
        print(f"measure: {path} fragment p95 {times[int(len(times) * 0.95) - 1] * 1000:.1f} ms (n=40)")


def main():
    started = time.time()
    server, base, data = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for lang in ["zh-CN", "en"]:
                s = Session(browser, base, lang)
                try:
                    s.sign_in()
                except Exception:
                    results["failed"] += 1
                    print(f"FAIL  sign-in [{lang}]")
                    traceback.print_exc()
                    continue
                every_page(s)
                sign_in_csrf_logout(s)
                article_flow(s)
                moderation_flow(s)
                job_flow(s)
                if SHOTS and lang == "zh-CN":
                    for name, path in [("dashboard", "/admin"), ("jobs", "/admin/jobs"), ("moderation", "/admin/moderation")]:
                        s.goto(path)
                        s.page.screenshot(path=os.path.join(SHOTS, f"console-{name}.png"), full_page=True)
                if os.environ.get("MEASURE") and lang == "zh-CN":
                    measure(s)
                s.ctx.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{results['passed']} passed, {results['failed']} failed ({time.time() - started:.0f} s)")
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
