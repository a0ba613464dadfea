"""Digests through the real outbox and a real SMTP exchange with the local sink: the cadre's
one mail a day and the supervisor's weekly picture. Time is injected (`as_of`)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from models.db.orm import AuditEvent, Notice, User
from models.db.session import unit_of_work
from notifications.sink import read_sink
from tests.integration.test_due import (
    COUNTY_CHAIR,
    TOWNSHIP_CHAIR,
    VILLAGE_CHAIR,
    at,
    run,
    take_in_contract,
)

XILING_CHAIR = "fulian.xiling@example.org"
NANSHAN_CHAIR = "fulian.ns@example.org"
# What the intake contract says about the victim: never in a digest.
PERSONAL = ("吴某", "139-0000-0002", "离婚后户口", "刘某某", "139-0000-0001")


@pytest.fixture
def mail_ctx(mail_ctx):
    """The demo context with digests on (conftest keeps them off for everything else)."""
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"digests_enabled": True})
    return mail_ctx


def digests(sink, kind: str = "cadre_digest") -> list:
    return [m for m in read_sink(sink.directory) if m["X-Weiquan-Notice"].startswith(
        "digest:cadre:" if kind == "cadre_digest" else "digest:supervisor:")]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


async def test_digest_at_0830_of_a_working_day_lists_number_category_due_date_and_action(mail_ctx, sink):
    take_in_contract(mail_ctx)  # 东湖村, land rights, due 2026-10-15 (Thursday)
    take_in_contract(mail_ctx, jurisdiction="990102001002",
                     received_at="2026-02-13T15:40:00+08:00")  # 西岭村, due 03-02: long overdue

    await run(mail_ctx, "2026-10-12T08:30:00")  # Monday

    mails = {m["To"]: m for m in digests(sink)}
    assert set(mails) == {VILLAGE_CHAIR, XILING_CHAIR}
    donghu, xiling = mails[VILLAGE_CHAIR], mails[XILING_CHAIR]
    assert donghu["Subject"] == "【每日待办】2026-10-12 您有 1 项待办"
    body = text_of(donghu)
    assert "3个工作日内到期（1 项）" in body
    assert "WQ-2026-000001｜答复｜土地权益｜期限 2026-10-15 24:00｜还有 3 个工作日" in body
    assert "/cases/WQ-2026-000001/act/respond" in body and "weiquan" not in body
    assert "WQ-2026-000002" not in body  # another cadre's case
    assert "已逾期" in xiling["Subject"] and "WQ-2026-000002" in text_of(xiling)
    assert "已报上" in text_of(xiling)  # escalations went out at this sweep
    for message in (donghu, xiling):
        whole = message.as_string() + text_of(message) + html_of(message)
        for secret in PERSONAL:
            assert secret not in whole
    assert "<strong>WQ-2026-000001</strong>" in html_of(donghu)


async def test_nobody_with_nothing_due_gets_a_digest(mail_ctx, sink):
    take_in_contract(mail_ctx)  # due 10-15: not within 3 working days of 09-30
    await run(mail_ctx, "2026-09-30T08:30:00")
    assert digests(sink) == []
    with unit_of_work(mail_ctx.sessions) as session:
        assert session.scalar(select(Notice.id).where(Notice.kind == "cadre_digest")) is None


async def test_nothing_at_0829(mail_ctx, sink):
    take_in_contract(mail_ctx)
    await run(mail_ctx, "2026-10-12T08:29:00")
    assert digests(sink) == []
    await run(mail_ctx, "2026-10-12T08:30:00")
    assert [m["To"] for m in digests(sink)] == [VILLAGE_CHAIR]


def test_dry_run_previews_the_days_digest_and_stores_nothing(mail_ctx, sink):
    from models.service.calendar import current_calendar
    from models.service.dry_run import preview_due

    take_in_contract(mail_ctx)
    with unit_of_work(mail_ctx.sessions) as session:
        calendar = current_calendar(session)
    preview = preview_due(mail_ctx.sessions, as_of=at("2026-10-12T08:30:00"), calendar=calendar,
                          policy=mail_ctx.reminder_policy, digest_at=mail_ctx.settings.digest_at)
    assert ("cadre_digest", VILLAGE_CHAIR) in [(p["kind"], p["to"]) for p in preview]
    with unit_of_work(mail_ctx.sessions) as session:
        assert session.scalar(select(Notice.id)) is None
    assert digests(sink) == []


async def test_once_per_day_however_often_the_sweep_runs(mail_ctx, sink):
    take_in_contract(mail_ctx)
    await run(mail_ctx, "2026-10-12T08:30:00")
    await run(mail_ctx, "2026-10-12T10:00:00")
    await run(mail_ctx, "2026-10-12T08:30:00")
    assert len(digests(sink)) == 1
    await run(mail_ctx, "2026-10-13T08:30:00")  # the next working day has its own
    assert [m["X-Weiquan-Notice"] for m in digests(sink)] == [
        f"digest:cadre:{contact_id(mail_ctx, VILLAGE_CHAIR)}:2026-10-12",
        f"digest:cadre:{contact_id(mail_ctx, VILLAGE_CHAIR)}:2026-10-13"]


async def test_a_day_is_planned_once_so_later_items_wait_for_tomorrow(mail_ctx, sink):
    await run(mail_ctx, "2026-10-12T08:30:00")  # nothing due yet: nobody gets one
    take_in_contract(mail_ctx, jurisdiction="990102001002", received_at="2026-10-12T09:00:00+08:00")
    await run(mail_ctx, "2026-10-12T10:00:00")
    assert digests(sink) == []
    with unit_of_work(mail_ctx.sessions) as session:
        notes = session.scalars(select(AuditEvent.note).where(AuditEvent.kind == "digests_planned")).all()
    assert "cadre:2026-10-12" in notes


async def test_makeup_saturday_is_a_digest_day(mail_ctx, sink):
    take_in_contract(mail_ctx)  # due 10-15; 10-10 is a make-up working Saturday
    take_in_contract(mail_ctx, tier="simple", jurisdiction="990102001002",
                     received_at="2026-10-09T10:00:00+08:00")  # due 10-09 24:00: overdue
    await run(mail_ctx, "2026-10-10T08:30:00")
    assert [m["To"] for m in digests(sink)] == [XILING_CHAIR]
    assert "2026-10-10" in digests(sink)[0]["Subject"]


async def test_national_day_monday_is_not(mail_ctx, sink):
    take_in_contract(mail_ctx, tier="simple", received_at="2026-09-29T10:00:00+08:00")  # overdue
    await run(mail_ctx, "2026-10-05T08:30:00")
    assert digests(sink) == []
    await run(mail_ctx, "2026-10-08T08:30:00")  # the first working day after the holiday
    assert [m["To"] for m in digests(sink)] == [VILLAGE_CHAIR]


async def test_missed_at_0830_goes_out_later_the_same_day_but_never_the_next(mail_ctx, sink):
    take_in_contract(mail_ctx)
    await run(mail_ctx, "2026-10-12T14:00:00")  # the machine was off all morning
    assert len(digests(sink)) == 1

    sink.stop()  # 10-13: the mail cannot go out all day
    await run(mail_ctx, "2026-10-13T08:30:00")
    sink.start()
    await run(mail_ctx, "2026-10-14T08:30:00")  # a stale one is cancelled, not sent
    assert [status for status, _ in digest_notices(mail_ctx)] == ["sent", "cancelled", "sent"]
    assert [m["X-Weiquan-Notice"].rsplit(":", 1)[1] for m in digests(sink)] == [
        "2026-10-12", "2026-10-14"]


async def test_content_is_rendered_when_sent(mail_ctx, sink):
    from models.db import repositories as repo
    from models.service import procedure

    case_id = take_in_contract(mail_ctx)
    sink.stop()
    await run(mail_ctx, "2026-10-12T08:30:00")  # queued, the sink is down
    with unit_of_work(mail_ctx.sessions) as session:  # answered before the retry
        procedure.respond(session, repo.case_by_key(session, str(case_id)), actor="test",
                          note="已答复", at=at("2026-10-12T08:40:00"))
    sink.start()
    await run(mail_ctx, "2026-10-12T09:00:00")
    assert digests(sink) == []
    assert digest_notices(mail_ctx) == [("cancelled", "nothing due any more")]


def digest_notices(ctx) -> list[tuple[str, str]]:
    with unit_of_work(ctx.sessions) as session:
        return [(n.status, n.last_error) for n in session.scalars(
            select(Notice).where(Notice.kind == "cadre_digest").order_by(Notice.key))]


def contact_id(ctx, email: str) -> int:
    from models.db.orm import Contact

    with unit_of_work(ctx.sessions) as session:
        return session.scalar(select(Contact.id).where(Contact.email == email))


def add_user(ctx, *, username: str, role: str, jurisdiction: str, email: str) -> None:
    with unit_of_work(ctx.sessions) as session:
        session.add(User(username=username, display_name=username, password_hash="x", role=role,
                         jurisdiction_code=jurisdiction, email=email, active=True,
                         created_at=at("2026-01-01T00:00:00")))


@pytest.fixture
def picture(mail_ctx):
    """Overdue in 东湖村 and 西岭村 (东湖镇), due soon in 南山社区 (南山街道)."""
    take_in_contract(mail_ctx, tier="simple", received_at="2026-10-09T10:00:00+08:00")
    take_in_contract(mail_ctx, jurisdiction="990102001002", tier="simple",
                     received_at="2026-10-09T11:00:00+08:00")
    take_in_contract(mail_ctx, jurisdiction="990102002001", received_at="2026-10-02T10:00:00+08:00")
    return mail_ctx


async def test_supervisor_digest_shows_her_subtree_only(picture, sink):
    add_user(picture, username="dhz", role="supervisor", jurisdiction="990102001", email="sup.dhz@example.org")
    add_user(picture, username="ns", role="supervisor", jurisdiction="990102002", email="sup.ns@example.org")
    add_user(picture, username="county", role="supervisor", jurisdiction="990102", email="sup.county@example.org")
    add_user(picture, username="cadre", role="cadre", jurisdiction="990102001001", email="cadre@example.org")

    await run(picture, "2026-10-12T08:30:00")  # Monday: the first working day of the week

    mails = {m["To"]: m for m in digests(sink, "supervisor_digest")}
    assert set(mails) == {"sup.dhz@example.org", "sup.ns@example.org", "sup.county@example.org"}
    dhz, ns, county = (text_of(mails[f"sup.{k}@example.org"]) for k in ("dhz", "ns", "county"))
    assert "WQ-2026-000001" in dhz and "WQ-2026-000002" in dhz and "WQ-2026-000003" not in dhz
    assert "南山" not in dhz
    assert "WQ-2026-000003" in ns and "WQ-2026-000001" not in ns and "东湖" not in ns
    assert "示范县（县）：逾期 2 项，即将到期 1 项" in county
    assert "    东湖镇（乡镇）：逾期 2 项，即将到期 0 项" in county
    assert "        东湖村（村）：逾期 1 项，即将到期 0 项" in county
    assert "    南山街道（乡镇）：逾期 0 项，即将到期 1 项" in county
    assert mails["sup.county@example.org"]["Subject"] == "【每周督办】示范县 2026年第42周：逾期 2 项，即将到期 1 项"
    for message in mails.values():
        whole = message.as_string() + text_of(message)
        for secret in PERSONAL:
            assert secret not in whole

    await run(picture, "2026-10-13T08:30:00")  # once a week
    assert len(digests(sink, "supervisor_digest")) == 3


async def test_supervisor_digest_waits_for_the_first_working_day_of_the_week(picture, sink):
    add_user(picture, username="county", role="supervisor", jurisdiction="990102", email="sup.county@example.org")
    await run(picture, "2026-10-05T08:30:00")  # National Day Monday
    assert digests(sink, "supervisor_digest") == []
    await run(picture, "2026-10-08T08:30:00")  # Thursday: the week's first working day
    assert [m["X-Weiquan-Notice"] for m in digests(sink, "supervisor_digest")] == [
        "digest:supervisor:user:1:2026-10-08"]


async def test_without_users_the_township_and_county_chairs_stand_in(picture, sink):
    await run(picture, "2026-10-12T08:30:00")
    assert sorted(m["To"] for m in digests(sink, "supervisor_digest")) == sorted(
        [TOWNSHIP_CHAIR, NANSHAN_CHAIR, COUNTY_CHAIR])


async def test_supervisor_with_a_quiet_subtree_gets_nothing(mail_ctx, sink):
    add_user(mail_ctx, username="ns", role="supervisor", jurisdiction="990102002", email="sup.ns@example.org")
    take_in_contract(mail_ctx, tier="simple", received_at="2026-10-09T10:00:00+08:00")  # 东湖村
    await run(mail_ctx, "2026-10-12T08:30:00")
    assert digests(sink, "supervisor_digest") == []


async def test_digests_can_be_switched_off(mail_ctx, sink):
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"digests_enabled": False})
    take_in_contract(mail_ctx)
    await run(mail_ctx, "2026-10-12T08:30:00")
    assert digests(sink) == []


def test_settings_digest_at_is_configurable(monkeypatch):
    from models.runtime.settings import Settings

    monkeypatch.setenv("WEIQUAN_DIGEST_AT", "07:45")
    assert Settings().digest_at.isoformat() == "07:45:00"


@pytest.mark.parametrize("when", ["2026-10-12T07:45:00"])
async def test_earlier_digest_time_from_settings(mail_ctx, sink, when):
    from datetime import time

    take_in_contract(mail_ctx)
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"digest_at": time(7, 45)})
    await run(mail_ctx, when)
    assert len(digests(sink)) == 1
    assert isinstance(datetime.fromisoformat(when), datetime)


async def test_the_service_sends_the_days_digests_at_0830_even_with_prefect_down(mail_ctx, sink):
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from app.service import FlowService
    from models.runtime.process import register_runtime_factory

    register_runtime_factory(lambda: mail_ctx)
    wake_digests = FlowService(mail_ctx).wake_digests
    take_in_contract(mail_ctx)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}):
        mail_ctx.clock.at = at("2026-10-12T08:29:00")
        await wake_digests()
        assert digests(sink) == []
        mail_ctx.clock.at = at("2026-10-12T08:30:00")
        await wake_digests()  # the flow cannot start: the same sweep runs without Prefect
        mail_ctx.clock.at = at("2026-10-12T09:45:00")
        await wake_digests()  # the service restarted: nothing pending, nothing run
    assert [m["To"] for m in digests(sink)] == [VILLAGE_CHAIR]


def test_the_service_wakes_the_digests_at_0830_shanghai_every_day(mail_ctx):
    from app.service import DIGEST_JOB, FlowService

    job = FlowService(mail_ctx).make_scheduler().get_job(DIGEST_JOB)
    fire = job.trigger.get_next_fire_time(None, at("2026-10-09T12:00:00"))
    assert fire == at("2026-10-10T08:30:00")  # the flows decide whether it is a working day
