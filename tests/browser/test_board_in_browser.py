"""A cadre signs in, takes a case in through the online complaint window, finds it on the
board and records a return visit; the county supervisor sees it on her board. A screenshot
of the board goes to var/screenshots/board.png."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.web.conftest import at, store_case

pytestmark = pytest.mark.browser


def test_sign_in_take_a_case_in_see_it_on_the_board_and_record_a_visit(page, demo_ctx) -> None:
    demo_ctx.clock.at = at("2026-11-24T10:00:00")
    sign_in(page, "cadre.donghu")
    assert "陈美华" in page.inner_text("header")

    # The online complaint window: one field wrong first, then right.
    page.click("text=网上投诉登记")
    page.select_option("#channel", "online")
    page.fill("#received_at", "2026-11-02T09:00")
    page.select_option("#category", "domestic_violence")
    page.select_option("#tier", "ordinary")  # 7 working days: due 2026-11-11
    page.fill("#summary", "丈夫酗酒后多次殴打，昨晚掐脖子并扬言“要离婚就一起死”。")
    page.fill("#party-0-name", "测试甲")
    page.fill("#party-0-phone", "139-0000-1234")
    page.fill("#party-0-age", "三十")
    page.check("input[value=strangulation_or_weapon]")
    page.check("input[value=threat_to_kill]")
    page.click("#intake-form button[type=submit]")
    assert page.is_visible("#error-party-0-age")
    assert page.input_value("#party-0-name") == "测试甲"  # nothing typed is lost
    page.fill("#party-0-age", "34")
    page.click("#intake-form button[type=submit]")
    page.wait_for_url("**/cases/WQ-2026-*?created=1")
    number = page.url.split("/cases/")[1].split("?")[0]
    assert "已受理" in page.inner_text("main")
    assert "139-0000-1234" in page.inner_text("#parties")

    # The board: the answer is late; six days on, the first return visit (within 3 days of
    # taking in a life-threatening case) is missed as well.
    page.click("text=逾期看板")
    rows = page.inner_text("#overdue-items")
    assert number in rows and "答复逾期" in rows and "回访逾期" not in rows
    demo_ctx.clock.at = at("2026-11-30T10:00:00")
    page.reload()
    rows = page.inner_text("#overdue-items")
    assert "回访逾期" in rows

    # Record the visit from the case page.
    page.click(f"#overdue-items >> text={number}")
    page.click("text=登记回访")
    page.fill("#visited_at", "2026-11-30T09:00")
    page.select_option("#mode", "home")
    page.check("#met_alone")
    page.fill("#needs", "申请人身安全保护令")
    page.fill("#condition", "情绪紧张，孩子由外婆照看")
    page.fill("#help_given", "陪同前往司法所咨询")
    page.click("#visit-form button[type=submit]")
    page.wait_for_url(f"**/cases/{number}?visit=1")
    assert "回访已登记" in page.inner_text("main")
    assert "情绪紧张，孩子由外婆照看" in page.inner_text("#visits")
    page.click("text=逾期看板")
    rows = page.inner_text("#overdue-items")
    assert "回访逾期" not in rows and "答复逾期" in rows


def test_the_county_supervisors_board_and_its_screenshot(page, demo_ctx) -> None:
    for place, received in (("990102001001", "2026-11-02T09:00:00"),
                            ("990102001002", "2026-11-05T14:00:00"),
                            ("990102001", "2026-11-09T10:30:00"),
                            ("990102002001", "2026-11-12T16:00:00")):
        store_case(demo_ctx, jurisdiction=place, received=received)
    store_case(demo_ctx, jurisdiction="990102002001", received="2026-11-03T09:00:00",
               category="domestic_violence", tier=None, risk=["threat_to_kill"])
    demo_ctx.clock.at = at("2026-11-24T10:00:00")
    sign_in(page, "sup.county")
    assert "示范县" in page.inner_text("h1")
    rows = page.inner_text("#overdue-items")
    assert rows.count("WQ-2026-") >= 5
    rollup = page.inner_text("table.rollup")
    for place in ("示范县", "东湖镇", "东湖村", "西岭村", "南山街道", "南山社区"):
        assert place in rollup
    page.click("table.rollup >> text=东湖镇")  # drill down to a township
    assert "东湖镇" in page.inner_text("h1") and "南山社区" not in page.inner_text("table.rollup")
    page.go_back()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "board.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 20_000
