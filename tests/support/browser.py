"""Debian's headless Chromium driven by Playwright for Python, for the browser tests: the
browser (its path required when CI=true), the live server with an admin to log in as, where
screenshots go, pages routed to loopback only with their CSP violations collected, and polling
that the pages' policy allows.

Never `playwright install`: the browser is Debian's (/usr/bin/chromium), offline.
"""

import os
import shutil
import time
from pathlib import Path

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # requirements/dev.txt has it; say so rather than fail obscurely
    sync_playwright = None


CHROMIUM = os.environ.get("MARVELSITE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags Chromium keeps calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
IN_CI = os.environ.get("CI") == "true"
ADMIN, PASSWORD = "boss", "browser-test-pw"


@pytest.fixture
def chromium_path():
    if sync_playwright is None:
        pytest.fail("playwright is not installed: pip install -r requirements/dev.txt")
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true requires the browser test: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def browser(chromium_path, monkeypatch):
    """A headless Chromium, closed after the test."""
    # Playwright's sync API runs an event loop in this thread; Django checks for one before
    # each query. The test's own queries are allowed; the pages' run on the server's thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def live_admin(live_server, settings, django_user_model):
    """The live server's URL, over plain HTTP, with a superuser to log in as (log_in)."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    django_user_model.objects.create_superuser(ADMIN, f"{ADMIN}@example.com", PASSWORD)
    return live_server.url


def log_in(page, base):
    """Fill in Django's admin login form, already open on `page`."""
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/admin/")


@pytest.fixture
def shots(on_mongodb):
    folder = ARTIFACTS / ("mongodb" if on_mongodb else "sqlite")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def only_loopback(route):
    """Tests talk to 127.0.0.1 only: Marvel's image CDN and anything else is refused."""
    if route.request.url.startswith(("http://127.0.0.1", "http://localhost")):
        route.continue_()
    else:
        route.abort()


# Reports every Content-Security-Policy violation to the console, where the test collects it
# (Chromium also logs its own "Refused to ..." line). Playwright's init scripts are not
# subject to the page's policy.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} at ${e.documentURI}`));
"""


def open_page(browser, csp_violations, **context_options):
    """A page in a new context that reaches loopback only, its CSP violations collected."""
    context = browser.new_context(**context_options)
    context.route("**/*", only_loopback)
    watch_csp(context, csp_violations)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def watch_csp(context, violations):
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    context.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "CSP violation" in message.text or "Content Security Policy" in message.text
            else None
        ),
    )


def wait_until(page, expression, seconds=15.0):
    """Poll `expression` until it is true. Playwright's wait_for_function evaluates its predicate
    with eval(), which the pages' policy refuses ('unsafe-eval'); page.evaluate is not subject
    to it."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true after {seconds:g}s: {expression}"
        page.wait_for_timeout(50)
