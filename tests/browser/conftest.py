"""Browser tests: Debian's chromium, driven by Playwright, against a live Tally.

The pip wheel brings Playwright's driver but no browser; the tests launch the
machine's chromium (``apt-get install chromium``). Where it is missing they
are skipped, with the reason, unless TALLY_REQUIRE_BROWSER=1 (set by
``.ci/run``), which makes a missing browser a failure instead.
"""

import os
import shutil

import pytest
from django_q.conf import Conf

CHROMIUM = os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-pass-123"

# Playwright's sync API keeps an event loop in this thread; the ORM calls the
# tests make between page steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (requirements-dev.txt)"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _browser_missing()
    if missing:
        if os.environ.get("TALLY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def run_tasks_inline(monkeypatch):
    """Queued django-q tasks run at once in the web server's thread."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def make_user(django_user_model):
    from reconcile.roles import assign

    def make(username: str, role: str):
        user = django_user_model.objects.create_user(username, password=PASSWORD)
        assign(user, role)
        return user

    return make


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


@pytest.fixture(autouse=True)
def fresh_counts():
    """The overview caches its counts; a test starts without another's."""
    from django.core.cache import cache

    cache.clear()
