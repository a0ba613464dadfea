"""The due sweep: plan what fell due, then deliver it through the outbox.

1. plan (models/service/planning.py) — cases whose next check has come owe notices; each is
   stored once under its key, with its priority from the kinds table;
2. deliver (models/service/outbox.py) — claim due notices most urgent first under a short
   lease, re-check that each still applies (planning), build its mail
   (models/service/mail_content/), send, and record every outcome as soon as the server has
   answered it.
Running it twice for the same `as_of` sends nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models.db.orm import Case, Notice
from models.db.session import single_statement_connection, unit_of_work
from models.domain.calendar import WorkCalendar
from models.domain.reminders import ReminderPolicy
from models.domain.visits import DEFAULT_CADENCES, VisitCadence
from models.service import outbox
from models.service.backlog import Backlog
from models.service.mail_content import build_mail
from models.service.planning import PLAN_BATCH, after_sent, notices_that_apply, plan_batch
from notifications.message import Mail
from notifications.sender import MailSender, SendOutcome

log = logging.getLogger(__name__)

# A third of the lease: two renewals may fail (a busy database) before the lease runs out.
RENEW_EVERY = outbox.LEASE / 3
# How long answered mails wait for the database to come back before the sweep gives up on
# recording them (and they go again after their lease): half the lease, so that a restart
# or a fail-over of the database repeats no mail.
RECORD_PATIENCE = outbox.LEASE / 2
RECORD_RETRY_FIRST = 0.25
RECORD_RETRY_MAX = 4.0


@dataclass
class SweepReport:
    as_of: datetime
    cases_checked: int = 0
    notices_queued: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    would_send: list[dict[str, str]] = field(default_factory=list)
    backlog: Backlog | None = None  # the outbox as the sweep found it (models/runtime/sweep.py)


@dataclass(frozen=True)
class Outgoing:
    notice_id: int
    mail: Mail
    must_confirm: bool = False  # its record and what it makes due go in one transaction


def prepare_mails(session: Session, *, notice_ids: Sequence[int], as_of: datetime,
                  calendar: WorkCalendar, policy: ReminderPolicy, public_url: str | None,
                  ack_secret: str | None = None,
                  cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES,
                  ) -> tuple[list[Outgoing], int]:
    """Mails for the claimed notices that still apply; the others are cancelled. The
    Message-ID is stored before sending, so a repeat after a crash is the same message."""
    outgoing, cancelled = [], 0
    held = outbox.load_batch(session, notice_ids)
    by_id = {row.id: row for row in held if isinstance(row, Notice)}
    notices = [by_id[i] for i in notice_ids if i in by_id and by_id[i].status == "sending"]
    cases = {row.id: row for row in held if isinstance(row, Case)}
    applies = notices_that_apply(session, notices, cases=cases, as_of=as_of, calendar=calendar,
                                 policy=policy)
    for notice in notices:
        case = cases.get(notice.case_id) if notice.case_id else None
        if notice.id not in applies:
            outbox.cancel(notice, reason="no longer applies (answered, paused, closed or superseded)")
            cancelled += 1
            continue
        mail = build_mail(session, notice=notice, case=case, as_of=as_of, calendar=calendar,
                          policy=policy, public_url=public_url, ack_secret=ack_secret,
                          cadences=cadences)
        if mail is None:  # a digest that cancelled itself
            cancelled += 1
            continue
        notice.message_id = mail.message_id
        outgoing.append(Outgoing(notice.id, mail, notice.must_confirm))
    session.flush()
    return outgoing, cancelled


def _elapsed_clock(as_of: datetime) -> Callable[[], datetime]:
    """`as_of` plus the time this sweep has been running: leases are measured in real time
    even when a sweep runs for an instant in the past or the future."""
    started = time.monotonic()
    return lambda: as_of + timedelta(seconds=time.monotonic() - started)


async def run_due(sessions: sessionmaker[Session], *, as_of: datetime, calendar: WorkCalendar,
                  policy: ReminderPolicy, sender: MailSender, max_attempts: int,
                  public_url: str | None = None, ack_secret: str | None = None,
                  cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES,
                  after_send: Callable[[], None] | None = None,
                  now: Callable[[], datetime] | None = None) -> SweepReport:
    """Everything due up to `as_of`: plan, then deliver batch by batch until nothing due is
    left. `after_send` is a test seam run when the server has answered a mail and before its
    outcome is recorded (crash simulation); `now` (default: `as_of` plus the time elapsed)
    times the leases."""
    report = SweepReport(as_of=as_of)
    while True:
        with unit_of_work(sessions) as session:
            checked, queued = plan_batch(session, as_of=as_of, calendar=calendar, policy=policy)
        report.cases_checked += checked
        report.notices_queued += queued
        if checked < PLAN_BATCH:
            break
    delivery = _Delivery(sessions, as_of=as_of, holder=outbox.new_holder(),
                         max_attempts=max_attempts, now=now or _elapsed_clock(as_of),
                         report=report, after_send=after_send)
    while True:
        with unit_of_work(sessions) as session:
            claimed = outbox.claim_notices(session, as_of=as_of, holder=delivery.holder,
                                           lease_from=delivery.now())
        if not claimed:
            break
        with unit_of_work(sessions) as session:
            outgoing, cancelled = prepare_mails(session, notice_ids=claimed, as_of=as_of,
                                                ack_secret=ack_secret, cadences=cadences,
                                                calendar=calendar, policy=policy,
                                                public_url=public_url)
        report.cancelled += cancelled
        if outgoing:
            await delivery.send(sender, outgoing)
    return report


class _Delivery:
    """One sweep's sending: the lease holder, its renewals, and each outcome committed the
    moment it is known (outcomes answered together, on several connections, share one
    transaction)."""

    def __init__(self, sessions: sessionmaker[Session], *, as_of: datetime, holder: str,
                 max_attempts: int, now: Callable[[], datetime], report: SweepReport,
                 after_send: Callable[[], None] | None) -> None:
        self.sessions, self.as_of, self.holder = sessions, as_of, holder
        self.engine: Engine = sessions.kw["bind"]
        self.connection: Connection | None = None  # the current batch's, for its records
        self.confirming: set[int] = set()  # the current batch's notices to be confirmed
        self.max_attempts, self.now, self.report = max_attempts, now, report
        self.after_send = after_send
        self.forwarded = False  # retries brought forward once, at the sweep's first success
        self.recordable = asyncio.Event()  # cleared while the database cannot be written
        self.recordable.set()

    async def send(self, sender: MailSender, outgoing: Sequence[Outgoing]) -> None:
        recorded: set[int] = set()
        answered: asyncio.Queue[tuple[int, SendOutcome]] = asyncio.Queue()

        async def on_outcome(index: int, result: SendOutcome) -> None:
            if recording.done():  # the recorder failed (a database error): stop sending
                recording.result()
            if self.after_send is not None:
                self.after_send()
            answered.put_nowait((index, result))
            # While the database is away the recorder keeps its answers and tries again: this
            # connection sends nothing more until they are recorded, so a crash meanwhile
            # still repeats at most the one mail in flight per connection.
            await self.recordable.wait()

        async def recorder() -> None:
            # Records each outcome while its connection already waits for the server's answer
            # to the next mail's first command, so the wire is not idle during the write.
            # Before that next mail can be accepted the loop has run this, so a crash still
            # repeats at most the one mail in flight per connection. Outcomes that arrived
            # together (several connections) share one transaction.
            while True:
                answers = [await answered.get()]
                while not answered.empty():
                    answers.append(answered.get_nowait())
                try:
                    recorded.update(index for index, _ in answers)
                    await self._record_patiently(
                        [(outgoing[index].notice_id, result) for index, result in answers])
                finally:
                    for _ in answers:
                        answered.task_done()

        recording = asyncio.create_task(recorder())
        renewing = asyncio.create_task(self._renew([o.notice_id for o in outgoing]))
        # One connection for the batch's records, not a checkout from the pool per mail.
        self.connection = single_statement_connection(self.engine)
        self.confirming = {o.notice_id for o in outgoing if o.must_confirm}
        try:
            results = await sender.send_batch([o.mail for o in outgoing], on_outcome=on_outcome)
            await _recorded(answered, recording)
        finally:
            for task in (renewing, recording):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._drop_connection()
        # Any the sender did not report one by one.
        self.record([(outgoing[index].notice_id, result) for index, result in enumerate(results)
                     if index not in recorded])

    async def _record_patiently(self, answers: Sequence[tuple[int, SendOutcome]]) -> None:
        """Record the answers; when the database is away (restarting, failing over), keep
        them and try again with backoff for up to RECORD_PATIENCE — well inside the notices'
        lease, so they are still this holder's to record — rather than give up and send
        them all again after the lease."""
        delay, waited = RECORD_RETRY_FIRST, 0.0
        while True:
            try:
                if self.connection is None:
                    self.connection = single_statement_connection(self.engine)
                self.record(answers)
            except (OperationalError, InterfaceError) as error:
                self._drop_connection()
                if waited >= RECORD_PATIENCE.total_seconds():
                    self.recordable.set()  # the waiting connections see the failure and stop
                    raise
                self.recordable.clear()
                log.warning("cannot record %s mail outcome(s): the database is away (%s); "
                            "trying again in %.1f s", len(answers), type(error.orig).__name__,
                            delay)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, RECORD_RETRY_MAX)
                continue
            if not self.recordable.is_set():
                log.info("mail outcomes recorded again after %.1f s without the database", waited)
                self.recordable.set()
            return

    def _drop_connection(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # an invalidated connection may not close
                self.connection.close()
            self.connection = None

    def record(self, answers: Sequence[tuple[int, SendOutcome]]) -> None:
        sent = [notice_id for notice_id, result in answers if result.ok]
        for still_held in self._record_sent(sent) if sent else []:
            self._count("sent" if still_held else None)
        for notice_id, result in answers:
            if not result.ok:
                self._count(self._record_failure(notice_id, result))

    def _count(self, status: str | None) -> None:
        if status == "sent":
            self.report.sent += 1
            if not self.forwarded:
                self.forwarded = True
                with unit_of_work(self.sessions) as session:
                    forwarded = outbox.bring_retries_forward(session, as_of=self.as_of)
                if forwarded:
                    log.info("mail goes through again: %s waiting retries brought forward",
                             forwarded)
        elif status == "queued":
            self.report.retrying += 1
        elif status == "failed":
            self.report.failed += 1

    def _record_sent(self, notice_ids: Sequence[int]) -> list[bool]:
        """Whether each was still this holder's to record. Core, not a session: this runs on
        the sending path as soon as a server has answered. Mails whose record makes something
        due (an at-once report to be confirmed) are recorded in a transaction with it; the
        others in one statement on the batch's connection."""
        plain = [i for i in notice_ids if i not in self.confirming]
        confirm = [i for i in notice_ids if i in self.confirming]
        found: set[int] = set()
        if plain:
            with contextlib.ExitStack() as stack:
                connection = self.connection or stack.enter_context(
                    single_statement_connection(self.engine))
                with connection.begin():
                    found.update(sent.notice_id for sent in outbox.record_sent(
                        connection, notice_ids=plain, as_of=self.as_of, holder=self.holder))
        if confirm:
            with self.engine.begin() as connection:
                sent = outbox.record_sent(connection, notice_ids=confirm, as_of=self.as_of,
                                          holder=self.holder)
                with Session(bind=connection) as session:
                    for one in sent:
                        after_sent(session, one, as_of=self.as_of)
                    session.flush()
            found.update(one.notice_id for one in sent)
        return [notice_id in found for notice_id in notice_ids]

    def _record_failure(self, notice_id: int, result: SendOutcome) -> str | None:
        failure = outbox.Failure(notice_id=notice_id, error=str(result.error or ""),
                                 transient=bool(result.error and result.error.transient))
        with unit_of_work(self.sessions) as session:
            return outbox.record_failure(session, failure, as_of=self.as_of, holder=self.holder,
                                         max_attempts=self.max_attempts)

    async def _renew(self, notice_ids: list[int]) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY.total_seconds())
            try:
                with unit_of_work(self.sessions) as session:
                    outbox.renew_leases(session, notice_ids=notice_ids, holder=self.holder,
                                        now=self.now())
            except (OperationalError, InterfaceError) as error:  # two more tries in the lease
                log.warning("could not renew the batch's leases (%s); trying again in %s",
                            type(error.orig).__name__, RENEW_EVERY)


async def _recorded(answered: asyncio.Queue[tuple[int, SendOutcome]],
                    recording: asyncio.Task[None]) -> None:
    """Until every answered outcome is recorded; the recorder's error if it fails first."""
    done = asyncio.ensure_future(answered.join())
    try:
        await asyncio.wait({done, recording}, return_when=asyncio.FIRST_COMPLETED)
        if recording.done():
            recording.result()
    finally:
        done.cancel()
