"""The cadre's casework journeys, by clicking, at a desktop viewport (one module: each
Chromium start is slow). The demo cadre 陈美华 (东湖村) signs in and
- lands on 今日待办, opens an overdue case, records a verification (登记核实), answers it
  (登记答复), closes it (结案) and sees its return visit after closing planned on the case
  page (结案回访 with its day); the case page with its actions is written to
  var/screenshots/case-actions.png;
- records two failed mediations on a marriage-and-family case: the due sweep, run in-process
  against the local mail sink, delivers the at-once report to 东湖镇's federation;
- records a granted protection order on a DV case: the case page names the day its expiry is
  first recalled, a sweep at that instant would send the reminder (dry run), and on that day
  the order stands on her 今日待办.
Time is the test's clock, which the server reads; nothing waits for a deadline."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import pytest
from sqlalchemy import select

from app.cli import DEMO_DIR
from models.runtime.sweep import sweep
from models.db import repositories as repo
from models.db.orm import FollowUp, Notice
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.casework import order_reminder_opens
from models.domain.deadlines import end_of_day
from models.domain.notice_kinds import NoticeKind
from models.service.calendar import current_calendar
from models.service.dry_run import preview_due
from models.service.users import load_demo_users
from notifications.sink import read_sink
from tests.browser.conftest import SCREENSHOTS
from tests.integration.test_casework import TOWNSHIP_CHAIR, VILLAGE_CHAIR
from tests.web.conftest import at, store_case

pytestmark = pytest.mark.browser

DONGHU = "990102001001"
NOW = "2026-11-24T10:00:00"  # a Tuesday


@pytest.fixture
def cadre(browser, board_url, demo_ctx):
    """The demo cadre signed in at a desktop viewport, on the page she lands on."""
    with unit_of_work(demo_ctx.sessions) as session:
        load_demo_users(session, path=DEMO_DIR / "users.csv", now=demo_ctx.clock.now(),
                        actor="test")
    context = browser.new_context(base_url=board_url, locale="zh-CN",
                                  viewport={"width": 1360, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page) -> None:
    page.goto("/")
    assert "/signin" in page.url
    page.fill("input[name=username]", "cadre")
    page.fill("input[name=password]", "demo-cadre")
    page.click("form button[type=submit]")
    page.wait_for_url("**/today")


def act(page, number: str, *, button: str, slug: str, fields: dict[str, str]) -> None:
    """Press the case page's button, fill the form (selects by their code), press 提交: back
    on the case page with the action's confirmation."""
    page.goto(f"/cases/{number}")
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(f"**/cases/{number}/act/{slug}*")
    for name, value in fields.items():
        if page.locator(f"select#{name}").count():
            page.select_option(f"select#{name}", value)
        else:
            page.fill(f"#{name}", value)
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(f"**/cases/{number}?done={slug}")
    assert page.locator("#done").count() == 1, page.inner_text("main")


def test_verify_answer_close_and_the_return_visit_is_planned(cadre, demo_ctx) -> None:
    number = store_case(demo_ctx, jurisdiction=DONGHU, received="2026-11-02T09:00:00")
    demo_ctx.clock.at = at(NOW)
    sign_in(cadre)
    overdue = cadre.inner_text("#todo-overdue")
    assert number in overdue and "逾期" in overdue
    cadre.click(f"#todo-overdue >> text={number}")
    cadre.wait_for_url(f"**/cases/{number}")
    buttons = cadre.inner_text("#actions")
    for label in ("登记核实", "登记调解", "登记答复", "暂停计时", "转介", "结案", "不予受理"):
        assert label in buttons
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cadre.screenshot(path=str(SCREENSHOTS / "case-actions.png"), full_page=True)

    act(cadre, number, button="登记核实", slug="verify", fields={
        "method": "visit", "with_whom": "当事人、村委会", "findings": "承包地确被调整，情况属实",
        "veracity": "true", "reasonableness": "reasonable"})
    act(cadre, number, button="登记答复", slug="respond",
        fields={"note": "已当面答复，协调村委会恢复承包地"})
    act(cadre, number, button="结案", slug="close", fields={"note": "承包地已恢复"})
    assert "结案" in cadre.inner_text("h1")

    with unit_of_work(demo_ctx.sessions) as session:
        case_id = repo.case_by_key(session, number).id
        planned = session.scalar(select(FollowUp.due_at).where(FollowUp.case_id == case_id))
    day = planned.astimezone(SHANGHAI).date().isoformat()
    assert day > NOW[:10]
    assert cadre.inner_text("#follow-up") == f"结案回访\t应于 {day} 当天回访"
    timeline = cadre.inner_text(".timeline")
    assert "核实" in timeline and "答复" in timeline and "结案" in timeline
    assert cadre.get_by_role("button", name="登记结案回访", exact=True).count() == 1


def _sweep(ctx, when: datetime) -> None:
    """The due sweep in-process, on a thread of its own: Playwright's sync API keeps an event
    loop running on this one."""
    with unit_of_work(ctx.sessions) as session:
        calendar = current_calendar(session)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, sweep(ctx, as_of=when, calendar=calendar)).result()


def test_two_failed_mediations_reach_the_upper_federation_at_once(cadre, mail_ctx, sink) -> None:
    number = store_case(mail_ctx, jurisdiction=DONGHU, received="2026-11-20T09:00:00",
                        category="marriage_family")
    mail_ctx.clock.at = at(NOW)
    sign_in(cadre)
    for held_on, mediator in (("2026-11-21", "村人民调解员李某"), ("2026-11-24", "许调解")):
        act(cadre, number, button="登记调解", slug="mediation", fields={
            "held_on": held_on, "mediator": mediator, "outcome": "failed",
            "note": "双方分歧较大，未达成协议"})
    _sweep(mail_ctx, at(NOW))

    with unit_of_work(mail_ctx.sessions) as session:
        at_once = {n.key: n.to_address for n in session.scalars(
            select(Notice).where(Notice.kind == NoticeKind.AT_ONCE, Notice.status == "sent"))}
    mails = [m for m in read_sink(sink.directory) if m["X-Weiquan-Notice"] in at_once]
    assert [m["To"] for m in mails] == [TOWNSHIP_CHAIR]
    body = mails[0].get_body(("plain",)).get_content()
    assert number in body and "调解" in body
    cadre.goto(f"/cases/{number}")
    assert TOWNSHIP_CHAIR in cadre.inner_text("main")  # the notice, sent, on the case page


def test_a_granted_protection_order_has_its_expiry_reminder_planned(cadre, demo_ctx) -> None:
    number = store_case(demo_ctx, jurisdiction=DONGHU, received="2026-11-20T09:00:00",
                        category="domestic_violence", risk=["threat_to_kill"])
    demo_ctx.clock.at = at(NOW)
    sign_in(cadre)
    expires = date(2027, 5, 20)
    act(cadre, number, button="登记保护措施", slug="measure", fields={
        "kind": "protection_order", "status": "granted", "on": "2026-11-23",
        "until": expires.isoformat(), "issuer": "示范县人民法院"})

    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
    reminds_on = order_reminder_opens(expires_on=expires, calendar=calendar)
    shown = cadre.inner_text("#protection-order")
    assert f"有效期至 {expires.isoformat()}" in shown
    assert reminds_on.isoformat() in shown and f"{expires.isoformat()} " in shown.split("、")[-1]

    # a sweep at the end of that day would have sent the reminder to the village's federation
    evening = datetime.combine(reminds_on, datetime.min.time(), SHANGHAI).replace(hour=18)
    preview = preview_due(demo_ctx.sessions, as_of=evening, calendar=calendar,
                          policy=demo_ctx.reminder_policy)
    assert [(p["kind"], p["to"]) for p in preview if p["case"] == number
            and p["kind"].startswith("protection_order")] == [
        (NoticeKind.PROTECTION_ORDER_EXPIRING, VILLAGE_CHAIR)]

    # and on that day the order stands on her 今日待办, due on its expiry day
    demo_ctx.clock.at = evening
    cadre.goto("/today")
    listed = cadre.inner_text("#todo-protection_orders")
    assert number in listed and "保护令到期" in listed
    assert f"期限 {expires.isoformat()} 24:00" in listed
    assert end_of_day(expires) > demo_ctx.clock.at
    link = cadre.locator(f"#todo-protection_orders a[href*='/cases/{number}/act/measure']")
    assert re.search(r"kind=protection_order", link.get_attribute("href"))
