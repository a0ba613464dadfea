"""The outbox: claim due notices under a short lease, keep the lease while sending, record
each mail's outcome as soon as the server has answered it, and say when to look next.

It knows no kinds. A row carries what the outbox needs: its `priority` (set from the kinds
table when the row is stored: lower goes first, and priorities 0–1 — reports made at once —
retry within seconds), its lease (`claimed_until`) and the lease's holder (`claimed_by`). What
a sent notice makes due next is the caller's business (`record_sent` returns what it needs).

Crash recovery: a process that dies mid-batch leaves its rows 'sending'; their lease
(≤ 60 s, renewed while the batch is on the wire) runs out, `next_wakeup` counts that instant,
and the next sweep claims them again. Because each outcome is recorded on its own as soon as
it is known, only the mail in flight at the crash goes out twice — with the same Message-ID.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Update, bindparam, select, update
from sqlalchemy.orm import Session, selectinload

from models.db.bulk import one_of
from models.db.orm import Case, Jurisdiction, Notice
from models.domain.notice_kinds import is_urgent

DELIVER_BATCH = 100
LEASE = timedelta(seconds=60)
# Routine mail: 1, 2, 4 … minutes, at most an hour. Reports made at once: 2, 4, 8, 10 s —
# at most 10 s (the issue allows 30), so they go out within 10 s of the server answering again.
MAX_BACKOFF = timedelta(hours=1)
URGENT_FIRST_BACKOFF = timedelta(seconds=2)
URGENT_MAX_BACKOFF = timedelta(seconds=10)

def new_holder() -> str:
    """Who holds a lease: host, process and a per-sweep nonce (two sweeps of one process are
    two holders)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def backoff(*, attempts: int, priority: int) -> timedelta:
    """How long a notice waits after its `attempts`-th transient failure."""
    if is_urgent(priority):
        return min(URGENT_FIRST_BACKOFF * 2 ** (attempts - 1), URGENT_MAX_BACKOFF)
    return min(timedelta(minutes=2 ** (attempts - 1)), MAX_BACKOFF)


def patience(max_attempts: int) -> timedelta:
    """How long routine mail keeps trying: the sum of its waits before the last attempt."""
    return sum((backoff(attempts=n, priority=99) for n in range(1, max_attempts)), timedelta())


def gives_up(*, attempts: int, max_attempts: int, priority: int, waited: timedelta) -> bool:
    """After `max_attempts` a routine notice is failed. A report made at once retries every
    few seconds, so its attempts would run out within a minute of an outage; it is given the
    same patience in time as routine mail instead (faster retries, not a shorter try)."""
    if attempts < max_attempts:
        return False
    return not is_urgent(priority) or waited >= patience(max_attempts)


def claim_notices(session: Session, *, as_of: datetime, holder: str, lease_from: datetime,
                  limit: int = DELIVER_BATCH) -> list[int]:
    """Up to `limit` notices due by `as_of` — abandoned leases and queued ones — most urgent
    first, leased to `holder` until `lease_from + LEASE`."""
    # Each claim is one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING on
    # the table, built once: no entities loaded and written back. Two statements, not one
    # OR: with a backlog (after downtime) an OR across both statuses made the database sort
    # every due row to return the first hundred; abandoned leases (a crashed sender's) are
    # few and go first.
    values = {"as_of": as_of, "holder": holder, "claimed_until": lease_from + LEASE,
              "limit": limit}
    abandoned = session.execute(_CLAIM_ABANDONED, values).all()
    queued = session.execute(_CLAIM_QUEUED, {**values, "limit": limit - len(abandoned)}).all() \
        if len(abandoned) < limit else []
    rows = sorted([*abandoned, *queued], key=lambda row: (row.priority, row.next_attempt_at, row.id))
    return [row.id for row in rows]


def _claim_statement(*, status: str, due: ColumnElement[bool],
                     order: tuple[ColumnElement[object], ...]) -> Update:
    notices = Notice.__table__.c
    chosen = (select(notices.id).where(notices.status == status, due).order_by(*order)
              .limit(bindparam("limit")).with_for_update(skip_locked=True).scalar_subquery())
    return (update(Notice.__table__).where(notices.id.in_(chosen))
            .values(status="sending", attempts=notices.attempts + 1,
                    claimed_until=bindparam("claimed_until"), claimed_by=bindparam("holder"))
            .returning(notices.id, notices.priority, notices.next_attempt_at))


_CLAIM_ABANDONED = _claim_statement(
    status="sending", due=Notice.__table__.c.claimed_until < bindparam("as_of"),
    order=(Notice.__table__.c.priority, Notice.__table__.c.claimed_until))
_CLAIM_QUEUED = _claim_statement(
    status="queued", due=Notice.__table__.c.next_attempt_at <= bindparam("as_of"),
    order=(Notice.__table__.c.priority, Notice.__table__.c.next_attempt_at, Notice.__table__.c.id))


def renew_leases(session: Session, *, notice_ids: Sequence[int], holder: str,
                 now: datetime) -> int:
    """Extend the lease of the rows `holder` still holds (compare-and-set on the holder: a
    row another process has taken over stays theirs). Returns how many were renewed."""
    if not notice_ids:
        return 0
    result = session.execute(
        update(Notice).where(Notice.id.in_(notice_ids), Notice.status == "sending",
                             Notice.claimed_by == holder)
        .values(claimed_until=now + LEASE).execution_options(synchronize_session=False))
    return result.rowcount or 0


@dataclass(frozen=True)
class Failure:
    notice_id: int
    error: str
    transient: bool


@dataclass(frozen=True)
class Sent:
    """A notice the server accepted: what its caller needs to decide what is due next."""

    notice_id: int
    case_id: int | None
    must_confirm: bool


def record_sent(connection: Connection, *, notice_ids: Sequence[int], as_of: datetime,
                holder: str) -> list[Sent]:
    """Mails the server accepted, in one compare-and-set UPDATE on a Core connection (no
    session, no entity): this runs on the sending path, as soon as a server has answered.
    The rows no longer this holder's to record are left alone and not returned."""
    rows = connection.execute(_MARK_SENT, {"ids": list(notice_ids), "holder": holder,
                                           "sent_at": as_of})
    return [Sent(notice_id=row.id, case_id=row.case_id, must_confirm=row.must_confirm)
            for row in rows]


_MARK_SENT = (
    update(Notice)
    .where(one_of(Notice.id, "ids"), Notice.status == "sending",
           Notice.claimed_by == bindparam("holder"))
    .values(status="sent", sent_at=bindparam("sent_at"), last_error="", claimed_until=None,
            claimed_by="")
    .returning(Notice.id, Notice.case_id, Notice.must_confirm))


def record_failure(session: Session, outcome: Failure, *, as_of: datetime, holder: str,
                   max_attempts: int) -> str | None:
    """A mail the server did not accept: 'queued' again with backoff, or 'failed'. None when
    the row is no longer this holder's to record (its lease was taken over)."""
    notice = session.get(Notice, outcome.notice_id)
    if notice is None or notice.status != "sending" or notice.claimed_by != holder:
        return None
    notice.claimed_until, notice.claimed_by = None, ""
    if outcome.transient and not gives_up(attempts=notice.attempts, max_attempts=max_attempts,
                                          priority=notice.priority,
                                          waited=as_of - notice.due_at):
        notice.status, notice.last_error = "queued", outcome.error[:2000]
        notice.next_attempt_at = as_of + backoff(attempts=notice.attempts,
                                                 priority=notice.priority)
    else:
        notice.status, notice.last_error = "failed", outcome.error[:2000]
    session.flush()
    return notice.status


def bring_retries_forward(session: Session, *, as_of: datetime) -> int:
    """The server answers again: notices waiting out a backoff go now, not when their backoff
    ends (an at-once report must not wait behind a wait meant for a dead server)."""
    result = session.execute(
        update(Notice).where(Notice.status == "queued", Notice.attempts > 0,
                             Notice.next_attempt_at > as_of)
        .values(next_attempt_at=as_of).execution_options(synchronize_session=False))
    return result.rowcount or 0


def cancel(notice: Notice, *, reason: str) -> None:
    notice.status, notice.claimed_until, notice.claimed_by = "cancelled", None, ""
    notice.last_error = reason


def load_batch(session: Session, notice_ids: Sequence[int]) -> list[object]:
    """The batch's notices and their cases in two IN queries, so that per-notice
    `session.get` calls are answered from the identity map, not one SELECT each. Keep the
    returned list while using them: the identity map holds rows weakly."""
    if not notice_ids:
        return []
    notices = list(session.scalars(select(Notice).where(Notice.id.in_(notice_ids))))
    case_ids = {n.case_id for n in notices if n.case_id is not None}
    if not case_ids:
        return list(notices)
    # The parties answer the safety note of every case mail; the jurisdictions its name.
    cases = list(session.scalars(select(Case).where(Case.id.in_(case_ids))
                                 .options(selectinload(Case.parties))))
    nodes = list(session.scalars(select(Jurisdiction).where(
        Jurisdiction.code.in_({case.jurisdiction_code for case in cases}))))
    return [*notices, *cases, *nodes]


def next_wakeup(session: Session) -> datetime | None:
    """The earliest instant anything could fall due: a case's next check, a queued notice's
    next attempt, or the end of a lease (a sender that died leaves its notices 'sending')."""
    case_at = session.scalar(select(Case.next_check_at).where(Case.next_check_at.is_not(None))
                             .order_by(Case.next_check_at).limit(1))
    notice_at = session.scalar(select(Notice.next_attempt_at).where(Notice.status == "queued")
                               .order_by(Notice.next_attempt_at).limit(1))
    lease_at = session.scalar(select(Notice.claimed_until).where(Notice.status == "sending")
                              .order_by(Notice.claimed_until).limit(1))
    return min((t for t in (case_at, notice_at, lease_at) if t is not None), default=None)
