"""Browser tests: the board served by uvicorn (the main job's own server class) on a free
port over a temporary database, driven by Playwright in Debian's headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.db.session import unit_of_work
from models.service.users import add_user
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "var" / "screenshots"
PASSWORD = "browser-test-pw"
USERS = {"cadre.donghu": ("cadre", "990102001001", "陈美华"),
         "sup.county": ("supervisor", "990102", "卫主席")}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "tests/browser" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def database_url(tmp_path, sqlite_template) -> str:
    """SQLite only: these tests are about pages; tests/web runs the same routes on both
    database backends."""
    path = tmp_path / "weiquan.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an asyncio loop marked running
    # in this thread while it is open, which would break the async tests collected after.
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install -y chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield instance
        instance.close()


@pytest.fixture
def board_url(demo_ctx) -> Iterator[str]:
    from web.server import WebServer

    with unit_of_work(demo_ctx.sessions) as session:
        for username, (role, code, name) in USERS.items():
            add_user(session, username=username, password=PASSWORD, role=role,
                     jurisdiction_code=code, display_name=name, now=demo_ctx.clock.now(),
                     actor="test")
    server = WebServer(demo_ctx, host="127.0.0.1", port=0)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def page(browser, board_url):
    context = browser.new_context(base_url=board_url, locale="zh-CN",
                                  viewport={"width": 1360, "height": 900})
    # Generous: a throttled CI machine once took over 15 s for one click (the board did render).
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()


def sign_in(page, username: str) -> None:
    page.goto("/board")
    assert "/signin" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/board")
