"""Deadlines that act: reminders, escalation, pause, retries and crash recovery, through the
real outbox and a real SMTP exchange with the local sink. Time is injected (`as_of`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models.runtime.sweep import sweep
from models.db import repositories as repo
from models.db.orm import Notice
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.intake_schema import parse_intake
from models.service import procedure
from models.service.calendar import current_calendar
from models.service.intake import take_in
from models.service.overdue import overdue_report
from notifications.sink import read_sink
from tests.conftest import SHARED

VILLAGE_CHAIR = "fulian.donghu@example.org"
TOWNSHIP_CHAIR = "fulian.dhz@example.org"
COUNTY_CHAIR = "fulian.county@example.org"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# A case with no risk indicators, so only the deadline speaks (at-once notices have their
# own tests): the land-rights intake, received in 东湖村 on 2026-09-30, due 2026-10-15.
ORDINARY = {"jurisdiction": "990102001001", "received_at": "2026-09-30T10:15:00+08:00"}


def take_in_contract(ctx, name: str = "land_rights_ordinary", *, taken_at: datetime | None = None,
                     **changes) -> int:
    document = json.loads((SHARED / "contract" / "intake" / f"{name}.json").read_text(encoding="utf-8"))
    if name == "land_rights_ordinary":
        document.update(ORDINARY)
    document.update(changes)
    # The case is taken in as it is received (a sweep in October cannot see a case that
    # only reaches the database in November).
    ctx.clock.at = taken_at or datetime.fromisoformat(document["received_at"]) + timedelta(minutes=1)
    intake = parse_intake(json.dumps(document, ensure_ascii=False), limits=ctx.intake_limits,
                          now=ctx.clock.now())
    with unit_of_work(ctx.sessions) as session:
        case, _ = take_in(session, intake=intake, calendar=current_calendar(session),
                          now=ctx.clock.now(), actor="test")
        return case.id


async def run(ctx, when: str, **kwargs):
    with unit_of_work(ctx.sessions) as session:
        calendar = current_calendar(session)
    return await sweep(ctx, as_of=at(when), calendar=calendar, **kwargs)


def mailbox(sink) -> list[tuple[str, str]]:
    return [(m["To"], m["X-Weiquan-Notice"].split(":")[2]) for m in read_sink(sink.directory)]


def act(ctx, case_id: int, action, **kwargs):
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        return action(session, case, actor="test", note="", **kwargs)


async def test_reminder_day_before_then_due_day_then_escalation_up_the_levels(mail_ctx, sink):
    take_in_contract(mail_ctx)  # received 2026-09-30, due 2026-10-15

    await run(mail_ctx, "2026-10-13T18:00:00")
    assert mailbox(sink) == []
    await run(mail_ctx, "2026-10-14T09:00:00")
    assert mailbox(sink) == [(VILLAGE_CHAIR, "reminder_before")]
    await run(mail_ctx, "2026-10-15T09:00:00")
    await run(mail_ctx, "2026-10-16T09:00:00")  # breached: the township is told
    # level 2 after 3 more working days: 10-19, 10-20, 10-21 (weekend skipped)
    await run(mail_ctx, "2026-10-20T09:00:00")
    assert len(mailbox(sink)) == 3
    await run(mail_ctx, "2026-10-21T09:00:00")

    assert mailbox(sink) == [
        (VILLAGE_CHAIR, "reminder_before"), (VILLAGE_CHAIR, "reminder_due"),
        (TOWNSHIP_CHAIR, "escalation"), (COUNTY_CHAIR, "escalation"),
    ]
    await run(mail_ctx, "2026-12-31T09:00:00")  # up to the county only
    assert len(mailbox(sink)) == 4


async def test_running_twice_for_the_same_time_sends_nothing_new(mail_ctx, sink):
    take_in_contract(mail_ctx)
    first = await run(mail_ctx, "2026-10-14T09:00:00")
    second = await run(mail_ctx, "2026-10-14T09:00:00")
    assert (first.sent, second.sent, second.notices_queued) == (1, 0, 0)
    assert len(mailbox(sink)) == 1


async def test_after_downtime_due_escalations_go_once_and_stale_reminders_not_at_all(mail_ctx, sink):
    take_in_contract(mail_ctx)
    await run(mail_ctx, "2026-10-22T10:00:00")  # the service was down since intake
    assert sorted(mailbox(sink)) == [(COUNTY_CHAIR, "escalation"), (TOWNSHIP_CHAIR, "escalation")]


async def test_nothing_after_an_answer(mail_ctx, sink):
    case_id = take_in_contract(mail_ctx)
    await run(mail_ctx, "2026-10-14T09:00:00")
    act(mail_ctx, case_id, procedure.respond, at=at("2026-10-14T11:00:00"))
    await run(mail_ctx, "2026-10-30T09:00:00")
    assert mailbox(sink) == [(VILLAGE_CHAIR, "reminder_before")]


async def test_answer_between_queueing_and_sending_cancels_the_notice(mail_ctx, sink):
    case_id = take_in_contract(mail_ctx)
    sink.stop()  # the first try fails: the notice waits in the outbox
    report = await run(mail_ctx, "2026-10-14T09:00:00")
    assert report.retrying == 1
    sink.start()
    act(mail_ctx, case_id, procedure.respond, at=at("2026-10-14T09:30:00"))
    report = await run(mail_ctx, "2026-10-14T10:00:00")
    # The reminder is cancelled; the one mail is the operator's: the outbox was an hour behind
    # (models/service/backlog.py).
    assert (report.sent, report.cancelled) == (1, 1)
    assert [to for to, _ in mailbox(sink)] == [mail_ctx.settings.operator_email]


async def test_pause_extends_the_deadline_by_the_paused_working_days(mail_ctx, sink):
    case_id = take_in_contract(mail_ctx)
    mail_ctx.clock.at = at("2026-10-12T10:00:00")
    act(mail_ctx, case_id, procedure.pause, reason=procedure.PauseReason.VICTIM_UNREACHABLE,
        at=mail_ctx.clock.now())
    await run(mail_ctx, "2026-10-14T09:00:00")  # paused: no reminder
    assert mailbox(sink) == []
    days = act(mail_ctx, case_id, procedure.resume, at=at("2026-10-14T08:00:00"),
               calendar=current_calendar_of(mail_ctx))

    assert days == 2  # Monday and Tuesday stood still
    with unit_of_work(mail_ctx.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        assert case.response_due_date.isoformat() == "2026-10-19"
        kinds = [e.kind for e in repo.audit_events(session, case_id=case_id)]
    assert kinds[-2:] == ["paused", "resumed"]
    await run(mail_ctx, "2026-10-16T09:00:00")
    assert mailbox(sink) == [(VILLAGE_CHAIR, "reminder_before")]


def current_calendar_of(ctx):
    with unit_of_work(ctx.sessions) as session:
        return current_calendar(session)


async def test_smtp_failure_is_retried_with_backoff_then_sent(mail_ctx, sink):
    take_in_contract(mail_ctx)
    sink.stop()
    report = await run(mail_ctx, "2026-10-14T09:00:00")
    assert (report.sent, report.retrying) == (0, 1)
    report = await run(mail_ctx, "2026-10-14T09:00:30")  # backing off: not yet
    assert report.sent == 0
    sink.start()
    report = await run(mail_ctx, "2026-10-14T09:01:00")
    assert report.sent == 1
    assert mailbox(sink) == [(VILLAGE_CHAIR, "reminder_before")]
    with unit_of_work(mail_ctx.sessions) as session:
        notice = session.scalar(select(Notice))
        assert (notice.status, notice.attempts) == ("sent", 2)


async def test_notice_that_keeps_failing_is_marked_failed_and_shows_as_overdue(mail_ctx, sink):
    take_in_contract(mail_ctx)
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"notice_max_attempts": 2})
    sink.stop()
    await run(mail_ctx, "2026-10-14T09:00:00")
    await run(mail_ctx, "2026-10-14T09:05:00")
    with unit_of_work(mail_ctx.sessions) as session:
        report = overdue_report(session, as_of=at("2026-10-16T10:00:00"), under="990102",
                                calendar=current_calendar(session))
    assert [(f["kind"], f["to"], f["attempts"]) for f in report["failed_notices"]] == [
        ("reminder_before", VILLAGE_CHAIR, 2)]
    assert report["overdue"][0]["failed_notices"] == 1


async def test_crash_between_send_and_mark_delivers_one_copy(mail_ctx, sink):
    take_in_contract(mail_ctx)

    def crash():
        raise KeyboardInterrupt("killed between send and mark")

    with pytest.raises(KeyboardInterrupt):
        await run(mail_ctx, "2026-10-14T09:00:00", after_send=crash)
    with unit_of_work(mail_ctx.sessions) as session:
        assert session.scalar(select(Notice.status)) == "sending"
    await run(mail_ctx, "2026-10-14T09:00:40")  # lease not over: another sender keeps off
    report = await run(mail_ctx, "2026-10-14T09:01:05")  # lease (60 s) over: taken again

    assert report.sent == 1
    assert mailbox(sink) == [(VILLAGE_CHAIR, "reminder_before")]


async def test_difficult_case_transfers_at_once_then_tracks_every_7_working_days(mail_ctx, sink):
    case_id = take_in_contract(mail_ctx, tier="difficult", received_at="2026-11-02T10:00:00+08:00")
    await run(mail_ctx, "2026-11-02T10:01:05")
    assert mailbox(sink) == [(TOWNSHIP_CHAIR, "difficult_transfer")]
    await run(mail_ctx, "2026-11-11T09:00:00")  # 7 working days after 11-02
    await run(mail_ctx, "2026-11-20T09:00:00")  # 14 working days
    assert [k for _, k in mailbox(sink)].count("difficult_tracking") == 2
    act(mail_ctx, case_id, procedure.record_upper_result, at=at("2026-11-20T10:00:00"))
    await run(mail_ctx, "2026-12-31T09:00:00")
    assert len(mailbox(sink)) == 3


async def test_overdue_review_lists_the_subtree_only(mail_ctx, sink):
    take_in_contract(mail_ctx)  # 东湖村, due 10-15
    take_in_contract(mail_ctx, jurisdiction="990102001002",
                     received_at="2026-02-13T15:40:00+08:00")  # 西岭村, due 03-02
    await run(mail_ctx, "2026-10-16T09:00:00")
    with unit_of_work(mail_ctx.sessions) as session:
        calendar = current_calendar(session)
        donghu = overdue_report(session, as_of=at("2026-10-16T10:00:00"), under="990102001001", calendar=calendar)
        county = overdue_report(session, as_of=at("2026-10-16T10:00:00"), under="990102", calendar=calendar)
    assert [(i["jurisdiction"], i["working_days_overdue"], i["escalation_level"]) for i in donghu["overdue"]] == [
        ("990102001001", 1, 1)]
    assert sorted(i["jurisdiction"] for i in county["overdue"]) == ["990102001001", "990102001002"]


async def test_dry_run_lists_what_would_go_out_and_changes_nothing(mail_ctx, sink):
    from models.service.dry_run import preview_due

    take_in_contract(mail_ctx)
    calendar = current_calendar_of(mail_ctx)
    preview = preview_due(mail_ctx.sessions, as_of=at("2026-10-16T09:00:00"), calendar=calendar,
                          policy=mail_ctx.reminder_policy)
    assert [(p["kind"], p["to"]) for p in preview] == [("escalation", TOWNSHIP_CHAIR)]
    with unit_of_work(mail_ctx.sessions) as session:
        assert session.scalar(select(Notice.id)) is None
    report = await run(mail_ctx, "2026-10-16T09:00:00")
    assert report.sent == 1 and mailbox(sink) == [(TOWNSHIP_CHAIR, "escalation")]


async def test_dv_intake_sends_the_police_station_report_before_routine_mail(mail_ctx, sink):
    # Taken in late (the demo's document was received on 09-30): in the same sweep the
    # case already owes an escalation, due earlier; the life-at-risk report still goes first.
    take_in_contract(mail_ctx, "dv_strangulation", taken_at=at("2026-10-16T09:59:00"))
    await run(mail_ctx, "2026-10-16T10:00:00")
    recipients = [str(m["To"]) for m in read_sink(sink.directory)]
    assert recipients[0] == "duty.dhpolice@example.org"
    assert len(recipients) > 6  # the at-once reports, the call-110 mail, and the escalation
