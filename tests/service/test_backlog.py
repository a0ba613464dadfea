"""The outbox behind, at service level, fast: the in-memory database of test_outbox.py, the
recording sender fake, and the sweep as every process runs it (models/runtime/sweep.py).
Time is injected: each sweep is one `as_of`."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from aiosmtplib import SMTPResponseException
from sqlalchemy import select

from models.db.orm import AuditEvent, Notice
from models.db.session import unit_of_work
from models.domain.notice_kinds import NoticeKind
from models.runtime.bootstrap import Runtime
from models.runtime.clock import FixedClock
from models.runtime.settings import Settings
from models.runtime.sweep import sweep
from models.service.backlog import backlog
from models.service.service_status import service_status
from notifications.sender import classify_error, delay_reason
from tests.fakes import RecordingSender
from tests.service.test_outbox import AS_OF, CAL, report_to, sessions

__all__ = ["sessions"]  # the fixture
OPERATOR = "operator@example.org"
THRESHOLD = timedelta(minutes=10)


@pytest.fixture
def runtime(sessions, tmp_path) -> Runtime:
    settings = Settings(data_dir=tmp_path, digests_enabled=False, operator_email=OPERATOR,
                        backlog_alert_minutes=10)
    return Runtime(settings=settings, engine=sessions.kw["bind"], sessions=sessions,
                   clock=FixedClock(AS_OF), sender_override=RecordingSender())


def operator_mails(runtime: Runtime) -> list:
    return [mail for mail in runtime.sender.sent if mail.to == (OPERATOR,)]


def alerts(runtime: Runtime) -> list[Notice]:
    with unit_of_work(runtime.sessions) as session:
        return list(session.scalars(select(Notice).where(Notice.kind == NoticeKind.OUTBOX_BACKLOG)))


async def test_an_old_backlog_mails_the_operator_once_as_soon_as_the_relay_answers(
        runtime, caplog) -> None:
    for contact in (1, 2):
        report_to(runtime.sessions, contact)
    down = runtime.sender
    minutes = [0, 4, 9, 10, 11, 12, 15, 20]  # the relay refuses throughout
    with caplog.at_level(logging.WARNING, logger="models.runtime.sweep"):
        for minute in minutes:
            down.fail_next(100)
            await sweep(runtime, as_of=AS_OF + timedelta(minutes=minute), calendar=CAL)
    warnings = [r.getMessage() for r in caplog.records if "the outbox is behind" in r.getMessage()]
    # Behind from the first sweep past 10 minutes (11, 12, 15, 20), a warning each sweep, with
    # counts only.
    assert len(warnings) == 4
    assert "2 of 2 queued notices have waited more than 10 min (the oldest 11 min" in warnings[0]
    assert "2 of 3 queued" in warnings[1]  # the operator's notice waits for the relay too
    assert down.sent == []
    stored = alerts(runtime)
    assert len(stored) == 1 and stored[0].status == "queued" and stored[0].case_id is None
    assert stored[0].due_at == AS_OF + timedelta(minutes=11)

    down.fail_next(0)  # the relay answers again
    report = await sweep(runtime, as_of=AS_OF + timedelta(minutes=21), calendar=CAL)
    assert report.sent == 3
    [mail] = operator_mails(runtime)
    assert "邮件积压告警" in mail.subject and "2 封通知等待超过 10 分钟" in mail.subject
    assert "最久已等待：11 分钟" in mail.text and "其他临时故障" in mail.text
    assert "WQ-" not in mail.text and "chair@example.org" not in mail.text  # counts only

    # Caught up: the episode ends; no second mail while it lasts or after.
    await sweep(runtime, as_of=AS_OF + timedelta(minutes=22), calendar=CAL)
    assert len(operator_mails(runtime)) == 1
    with unit_of_work(runtime.sessions) as session:
        events = session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)).all()
    assert events == ["outbox_behind", "outbox_caught_up"]


async def test_a_second_episode_is_a_second_mail(runtime) -> None:
    for episode, contact in enumerate((1, 2)):
        start = AS_OF + timedelta(hours=episode)
        report_to(runtime.sessions, contact, due_at=start)
        runtime.sender.fail_next(100)
        await sweep(runtime, as_of=start + timedelta(minutes=11), calendar=CAL)
        runtime.sender.fail_next(0)
        await sweep(runtime, as_of=start + timedelta(minutes=12), calendar=CAL)
        await sweep(runtime, as_of=start + timedelta(minutes=13), calendar=CAL)  # caught up
    assert len(operator_mails(runtime)) == 2
    assert len({n.key for n in alerts(runtime)}) == 2


async def test_a_young_backlog_tells_nobody(runtime) -> None:
    report_to(runtime.sessions, 2)
    runtime.sender.fail_next(100)
    report = await sweep(runtime, as_of=AS_OF + timedelta(minutes=9), calendar=CAL)
    assert report.backlog is not None and not report.backlog.behind
    assert report.backlog.waiting == 1 and report.backlog.reason == "not_tried"
    assert alerts(runtime) == []


def test_status_shows_the_oldest_wait_and_why(runtime) -> None:
    report_to(runtime.sessions, 2)
    with unit_of_work(runtime.sessions) as session:
        session.execute(Notice.__table__.update().values(
            attempts=3, last_error="cannot open SMTP session to 127.0.0.1:25: connection problem",
            next_attempt_at=AS_OF + timedelta(minutes=30)))
    with unit_of_work(runtime.sessions) as session:
        status = service_status(session, now=AS_OF + timedelta(minutes=25),
                                backlog_after=THRESHOLD)
        seen = backlog(session, as_of=AS_OF + timedelta(minutes=25), threshold=THRESHOLD)
    assert status["backlog"] == {"waiting": 1, "late": 1, "oldest_wait_minutes": 25,
                                 "threshold_minutes": 10, "reason": "unreachable"}
    assert seen.oldest_wait == timedelta(minutes=25)


@pytest.mark.parametrize(("error", "reason"), [
    (SMTPResponseException(451, "4.3.2 try again later"), "refused"),
    (ConnectionRefusedError(111, "Connect call failed"), "unreachable"),
    (TimeoutError("read timed out"), "unreachable"),
])
def test_the_reason_is_read_from_the_error_the_sender_stored(error, reason) -> None:
    assert delay_reason(classify_error(error).message) == reason
    assert delay_reason("") == "not_tried"
