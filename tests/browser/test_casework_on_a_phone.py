"""On a phone (390 × 844): the demo cadre signs in, lands on 今日待办, opens an overdue case,
answers it (登记答复) and closes it (结案). No page scrolls sideways. A screenshot of the case
page with its actions goes to var/screenshots/case-phone.png."""

from __future__ import annotations

import pytest

from app.cli import DEMO_DIR
from models.db.session import unit_of_work
from models.service.users import load_demo_users
from tests.browser.conftest import SCREENSHOTS
from tests.web.conftest import at, store_case

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide"


def act(page, number: str, *, button: str, slug: str, note: str) -> None:
    """Press the case page's button, fill the form's note, press 提交: back on the case."""
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(f"**/cases/{number}/act/{slug}*")
    fits(page)
    page.fill("#note", note)
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(f"**/cases/{number}?done={slug}")
    fits(page)


def test_a_cadre_answers_and_closes_an_overdue_case_on_her_phone(browser, board_url,
                                                                  demo_ctx) -> None:
    with unit_of_work(demo_ctx.sessions) as session:  # the demo cadre: 陈美华, 东湖村
        load_demo_users(session, path=DEMO_DIR / "users.csv", now=demo_ctx.clock.now(),
                        actor="test")
    number = store_case(demo_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", risk=["threat_to_kill"])
    demo_ctx.clock.at = at("2026-11-24T10:00:00")
    context = browser.new_context(base_url=board_url, locale="zh-CN", viewport=PHONE,
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto("/")
        assert "/signin" in page.url
        fits(page)
        page.fill("input[name=username]", "cadre")
        page.fill("input[name=password]", "demo-cadre")
        page.click("form button[type=submit]")
        page.wait_for_url("**/today")
        fits(page)
        overdue = page.inner_text("#todo-overdue")
        assert number in overdue and "逾期" in overdue

        page.click(f"#todo-overdue >> text={number}")
        page.wait_for_url(f"**/cases/{number}")
        fits(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "case-phone.png"), full_page=True)

        act(page, number, button="登记答复", slug="respond",
            note="已电话答复，告知可申请人身安全保护令")
        assert "答复已登记" in page.inner_text("main")
        act(page, number, button="结案", slug="close", note="问题已解决")
        assert "已结案" in page.inner_text("main") and "结案" in page.inner_text("h1")

        page.goto("/today")  # the answer is no longer owed; the family's return visit still is
        assert page.locator("#todo-overdue").count() == 0
        assert number in page.inner_text("#todo-visits")
    finally:
        context.close()
