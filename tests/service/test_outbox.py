"""The outbox at service level, fast: an in-memory SQLite unit of work and the recording
sender fake (tests/fakes.py). Time is injected: `as_of` for the sweep, `now` for leases."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from models.db.orm import Base, Case, Contact, Jurisdiction, Notice
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.official_calendar import builtin_calendar
from models.domain.notice_keys import at_once_key, intake_round, routing_gap_key
from models.domain.notice_kinds import NoticeKind, Priority, priority_of
from models.domain.reminders import ReminderPolicy
from models.service import outbox
from models.service.due import run_due
from tests.fakes import RecordingSender, SenderCrashed

AS_OF = datetime(2026, 10, 14, 9, 0, tzinfo=SHANGHAI)
CAL = builtin_calendar()
POLICY = ReminderPolicy()


@pytest.fixture
def sessions() -> Iterator[sessionmaker[Session]]:
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with unit_of_work(factory) as session:
        session.add(Jurisdiction(code="990102001001", name="东湖村", level="village"))
        session.add(Contact(id=1, jurisdiction_code="990102001001", role="federation_chair",
                            name="村妇联主席", post="村妇联主席", email="chair@example.org"))
        session.add(Contact(id=2, jurisdiction_code="990102001001", role="police_station",
                            name="派出所", post="派出所", email="police@example.org"))
        session.add(Case(id=1, number="WQ-2026-000001", channel="hotline_12338",
                         category="domestic_violence", tier="ordinary", status="accepted",
                         jurisdiction_code="990102001001", received_at=AS_OF - timedelta(days=1),
                         summary="", response_due_at=AS_OF + timedelta(days=5),
                         response_due_date=date(2026, 10, 19), created_at=AS_OF,
                         next_check_at=None))
    yield factory
    engine.dispose()


def add_notice(sessions, *, kind: NoticeKind, key: str, contact_id: int | None = 1,
               must_confirm: bool = False, due_at: datetime = AS_OF, **columns) -> int:
    with unit_of_work(sessions) as session:
        notice = Notice(key=key, case_id=1, kind=kind, recipient_role="federation_chair",
                        recipient_jurisdiction="990102001001", contact_id=contact_id,
                        to_address=f"to{contact_id}@example.org", reason="危及生命安全",
                        due_at=due_at, status="queued", attempts=0, next_attempt_at=due_at,
                        created_at=due_at, must_confirm=must_confirm,
                        priority=priority_of(kind, life_at_risk=must_confirm), **columns)
        session.add(notice)
        session.flush()
        return notice.id


def report_to(sessions, contact_id: int, **kwargs) -> int:
    return add_notice(sessions, kind=NoticeKind.AT_ONCE, contact_id=contact_id,
                      key=at_once_key(round_key=intake_round(case_id=1), kind=NoticeKind.AT_ONCE,
                                      contact_id=contact_id), **kwargs)


def row(sessions, notice_id: int) -> Notice:
    with unit_of_work(sessions) as session:
        return session.get(Notice, notice_id)


async def sweep(sessions, sender, as_of: datetime = AS_OF, *, max_attempts: int = 8,
                now: datetime | None = None, **kwargs):
    return await run_due(sessions, as_of=as_of, calendar=CAL, policy=POLICY, sender=sender,
                         max_attempts=max_attempts, now=(lambda: now or as_of), **kwargs)


# --- leases -----------------------------------------------------------------------------------

async def test_an_abandoned_notice_is_claimed_again_when_its_lease_runs_out(sessions) -> None:
    notice_id = report_to(sessions, 2)
    with unit_of_work(sessions) as session:  # a process claims it, then dies
        outbox.claim_notices(session, as_of=AS_OF, holder="dead", lease_from=AS_OF)
    sender = RecordingSender()

    await sweep(sessions, sender, AS_OF + timedelta(seconds=59))
    assert sender.sent == [] and row(sessions, notice_id).status == "sending"

    report = await sweep(sessions, sender, AS_OF + timedelta(seconds=61))
    assert report.sent == 1 and row(sessions, notice_id).status == "sent"
    assert row(sessions, notice_id).attempts == 2


def test_lease_is_short_and_renewed_only_by_its_holder(sessions) -> None:
    notice_id = report_to(sessions, 2)
    with unit_of_work(sessions) as session:
        outbox.claim_notices(session, as_of=AS_OF, holder="me", lease_from=AS_OF)
    assert outbox.LEASE <= timedelta(seconds=60)
    assert row(sessions, notice_id).claimed_until == AS_OF + outbox.LEASE
    later = AS_OF + timedelta(seconds=40)
    with unit_of_work(sessions) as session:
        assert outbox.renew_leases(session, notice_ids=[notice_id], holder="other", now=later) == 0
    assert row(sessions, notice_id).claimed_until == AS_OF + outbox.LEASE
    with unit_of_work(sessions) as session:
        assert outbox.renew_leases(session, notice_ids=[notice_id], holder="me", now=later) == 1
    assert row(sessions, notice_id).claimed_until == later + outbox.LEASE


def test_next_wakeup_includes_the_end_of_a_lease(sessions) -> None:
    report_to(sessions, 2)
    with unit_of_work(sessions) as session:
        outbox.claim_notices(session, as_of=AS_OF, holder="dead", lease_from=AS_OF)
        assert outbox.next_wakeup(session) == AS_OF + outbox.LEASE


# --- retries ----------------------------------------------------------------------------------

async def test_at_once_backs_off_seconds_and_routine_mail_minutes(sessions) -> None:
    urgent = report_to(sessions, 2)
    sender = RecordingSender()
    sender.fail_next(1)
    report = await sweep(sessions, sender)
    assert report.retrying == 1
    waited = row(sessions, urgent).next_attempt_at - AS_OF
    assert timedelta(0) < waited <= timedelta(seconds=30)
    for attempts in range(1, 20):
        assert outbox.backoff(attempts=attempts, priority=Priority.LIFE_AT_RISK) <= timedelta(seconds=30)
        assert outbox.backoff(attempts=attempts, priority=Priority.AT_ONCE) <= timedelta(seconds=30)
    assert outbox.backoff(attempts=1, priority=Priority.ROUTINE) == timedelta(minutes=1)
    assert outbox.backoff(attempts=3, priority=Priority.DIGEST) == timedelta(minutes=4)
    assert outbox.backoff(attempts=12, priority=Priority.ROUTINE) == timedelta(hours=1)


async def test_a_retry_goes_when_its_backoff_is_over_and_not_before(sessions) -> None:
    notice_id = report_to(sessions, 2)
    sender = RecordingSender()
    sender.fail_next(1)
    await sweep(sessions, sender)
    retry_at = row(sessions, notice_id).next_attempt_at
    await sweep(sessions, sender, retry_at - timedelta(seconds=1))
    assert sender.sent == []
    await sweep(sessions, sender, retry_at)
    assert len(sender.sent) == 1 and row(sessions, notice_id).attempts == 2


async def test_the_first_success_brings_waiting_retries_forward(sessions) -> None:
    first = report_to(sessions, 2)
    sender = RecordingSender()
    sender.fail_next(1)
    await sweep(sessions, sender)
    assert row(sessions, first).status == "queued"
    # The server answers again: a new report goes through and the waiting one follows at once.
    second = report_to(sessions, 1, due_at=AS_OF + timedelta(seconds=1))
    report = await sweep(sessions, sender, AS_OF + timedelta(seconds=1))
    assert report.sent == 2
    assert (row(sessions, first).status, row(sessions, second).status) == ("sent", "sent")


async def test_routine_mail_fails_after_max_attempts(sessions) -> None:
    notice_id = report_to(sessions, 2)
    with unit_of_work(sessions) as session:  # a routine row: same path, routine priority
        session.get(Notice, notice_id).priority = Priority.ROUTINE
    sender = RecordingSender()
    sender.fail_next(5)
    await sweep(sessions, sender, max_attempts=2)
    await sweep(sessions, sender, row(sessions, notice_id).next_attempt_at, max_attempts=2)
    notice = row(sessions, notice_id)
    assert (notice.status, notice.attempts) == ("failed", 2)
    assert "simulated transient failure" in notice.last_error


async def test_an_at_once_report_keeps_trying_as_long_as_routine_mail_would(sessions) -> None:
    notice_id = report_to(sessions, 2)
    sender = RecordingSender()
    sender.fail_next(100)
    as_of = AS_OF
    for _ in range(3):  # attempts run out in seconds: not failed yet
        await sweep(sessions, sender, as_of, max_attempts=2)
        as_of = row(sessions, notice_id).next_attempt_at
    assert row(sessions, notice_id).status == "queued"
    await sweep(sessions, sender, AS_OF + outbox.patience(2), max_attempts=2)
    assert row(sessions, notice_id).status == "failed"


async def test_a_permanent_refusal_fails_at_once(sessions) -> None:
    notice_id = report_to(sessions, 2)
    sender = RecordingSender()
    sender.fail_next(1, transient=False)
    report = await sweep(sessions, sender)
    assert report.failed == 1 and row(sessions, notice_id).status == "failed"


# --- re-check, confirmation, order ---------------------------------------------------------------

async def test_a_notice_that_no_longer_applies_is_cancelled_not_sent(sessions) -> None:
    # A reminder the case does not owe (the case has no such deadline now).
    notice_id = add_notice(sessions, kind=NoticeKind.REMINDER_DUE,
                           key="case:1:reminder_due:2026-10-14:0:to:1")
    sender = RecordingSender()
    report = await sweep(sessions, sender)
    assert report.cancelled == 1 and sender.sent == []
    assert row(sessions, notice_id).status == "cancelled"


async def test_unconfirmed_report_goes_again_after_30_minutes_unless_confirmed(sessions) -> None:
    police = report_to(sessions, 2, must_confirm=True)
    chair = report_to(sessions, 1, must_confirm=True)
    sender = RecordingSender()
    await sweep(sessions, sender)
    with unit_of_work(sessions) as session:
        assert session.get(Case, 1).next_check_at == AS_OF + timedelta(minutes=30)
        session.get(Notice, chair).acknowledged_at = AS_OF + timedelta(minutes=5)
    await sweep(sessions, sender, AS_OF + timedelta(minutes=29))
    assert len(sender.sent) == 2
    await sweep(sessions, sender, AS_OF + timedelta(minutes=30))
    with unit_of_work(sessions) as session:
        kinds = {(n.kind, n.contact_id) for n in session.scalars(
            select(Notice).where(Notice.id.not_in([police, chair])))}
    # Only the unconfirmed police station is told again; the cadre is asked to phone.
    assert (NoticeKind.AT_ONCE_AGAIN, 2) in kinds and (NoticeKind.AT_ONCE_AGAIN, 1) not in kinds
    assert NoticeKind.PHONE_UNCONFIRMED in {kind for kind, _ in kinds}


async def test_a_confirmation_cancels_the_resend_still_queued(sessions) -> None:
    police = report_to(sessions, 2, must_confirm=True)
    sender = RecordingSender()
    await sweep(sessions, sender)
    sender.fail_next(10)  # the re-send cannot go out at first
    await sweep(sessions, sender, AS_OF + timedelta(minutes=30))
    with unit_of_work(sessions) as session:
        again = session.scalar(select(Notice).where(Notice.kind == NoticeKind.AT_ONCE_AGAIN))
        assert again.status == "queued"
        session.get(Notice, police).acknowledged_at = AS_OF + timedelta(minutes=31)
        session.get(Case, 1).next_check_at = AS_OF + timedelta(minutes=31)
    await sweep(sessions, sender, AS_OF + timedelta(hours=2))
    assert row(sessions, again.id).status == "cancelled"


async def test_a_life_at_risk_goes_first_and_routine_mail_after(sessions) -> None:
    gap = add_notice(sessions, kind=NoticeKind.ROUTING_GAP,
                     key=routing_gap_key(round_key=intake_round(case_id=1),
                                         kind=NoticeKind.ROUTING_GAP))
    police = report_to(sessions, 2, must_confirm=True)
    sender = RecordingSender()
    await sweep(sessions, sender)
    assert [m.to[0] for m in sender.sent] == ["to2@example.org", "to1@example.org"]
    assert row(sessions, police).priority < row(sessions, gap).priority


def test_the_claim_orders_by_priority_then_due_time(sessions) -> None:
    ids = {}
    for name, priority, due in (("digest", 3, AS_OF - timedelta(hours=2)),
                                ("routine", 2, AS_OF - timedelta(hours=1)),
                                ("later", 0, AS_OF - timedelta(minutes=1)),
                                ("life", 0, AS_OF - timedelta(minutes=2)),
                                ("at_once", 1, AS_OF)):
        ids[name] = add_notice(sessions, kind=NoticeKind.AT_ONCE, key=name, due_at=due)
        with unit_of_work(sessions) as session:
            session.get(Notice, ids[name]).priority = priority
    with unit_of_work(sessions) as session:
        claimed = outbox.claim_notices(session, as_of=AS_OF, holder="me", lease_from=AS_OF)
    assert claimed == [ids[n] for n in ("life", "later", "at_once", "routine", "digest")]


# --- recording as the server answers ----------------------------------------------------------

async def test_each_outcome_is_recorded_as_soon_as_the_server_answered(sessions) -> None:
    ids = [report_to(sessions, contact) for contact in (1, 2)]
    third = add_notice(sessions, kind=NoticeKind.ROUTING_GAP, key="gap")
    sender = RecordingSender()
    sender.crash_after(2)
    with pytest.raises(SenderCrashed):
        await sweep(sessions, sender)
    assert [row(sessions, i).status for i in ids] == ["sent", "sent"]
    assert row(sessions, third).status == "sending"  # in flight: the only one that may repeat
    message_id = row(sessions, third).message_id
    report = await sweep(sessions, sender, AS_OF + outbox.LEASE + timedelta(seconds=1))
    assert report.sent == 1
    assert sender.sent_message_ids[-1] == message_id
    with unit_of_work(sessions) as session:
        assert session.scalars(select(Notice.status)).all() == ["sent"] * 3


async def test_running_twice_sends_nothing_twice(sessions) -> None:
    report_to(sessions, 2)
    sender = RecordingSender()
    await sweep(sessions, sender)
    await sweep(sessions, sender)
    assert len(sender.sent) == 1


async def test_an_answer_the_database_cannot_take_yet_is_recorded_later_not_sent_again(
        sessions, monkeypatch) -> None:
    """The database goes away (restarting, failing over) after the server accepted a mail: the
    outcome waits and is recorded once the database answers, instead of the mail going again
    after its lease. The fault is injected where the driver is called, twice."""
    from models.service import due
    monkeypatch.setattr(due, "RECORD_RETRY_FIRST", 0.01)  # the backoff's first step, not a deadline
    notice_id = report_to(sessions, 2)
    refusals = {"left": 2}

    def database_away(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if statement.startswith("UPDATE notices") and "sent_at=?" in statement and refusals["left"]:
            refusals["left"] -= 1
            raise sqlite3.OperationalError("the database is restarting")

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", database_away)
    try:
        sender = RecordingSender()
        report = await sweep(sessions, sender)
    finally:
        event.remove(engine, "before_cursor_execute", database_away)
    assert refusals["left"] == 0, "the fault was not injected: nothing tested"
    assert len(sender.sent) == 1 and report.sent == 1
    assert row(sessions, notice_id).status == "sent"
    await sweep(sessions, sender, AS_OF + outbox.LEASE + timedelta(seconds=1))
    assert len(sender.sent) == 1  # never a second copy
