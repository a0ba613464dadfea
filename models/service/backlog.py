"""The outbox behind: queued notices that have waited longer than the operator accepts, and
the operator told once per episode.

A notice waits from the instant it could first be sent (its next attempt, if never tried)
or from the instant it fell due (if tried and refused: a relay refusing for an hour keeps
pushing its next attempt ahead by backoff, and it is still waiting). It is *late* once it
has waited longer than the threshold (WEIQUAN_BACKLOG_ALERT_MINUTES).

An episode begins at the first sweep that finds a late notice and ends at the first sweep
that finds none. Its beginning stores ONE notice to the operator — queued like any notice,
so it goes out as soon as the relay answers — and an audit event holding what that sweep
saw (counts, the oldest wait, the commonest reason: never a case's details); its end, an
audit event. Two sweeps that find the same beginning at once store one notice: its key
numbers the episode.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import AuditEvent, Notice
from models.domain.notice_keys import backlog_alert_key
from models.domain.notice_kinds import NoticeKind, priority_of
from models.domain.statuses import NoticeStatus
from notifications.sender import delay_reason

# The board's health line and the settings' default (WEIQUAN_BACKLOG_ALERT_MINUTES).
DEFAULT_THRESHOLD = timedelta(minutes=10)
BEHIND_EVENT = "outbox_behind"
CAUGHT_UP_EVENT = "outbox_caught_up"
# Enough distinct errors to name the commonest reason; a backlog repeats one or two.
REASON_SAMPLE = 20


def waiting_since() -> ColumnElement[datetime]:
    """When a queued notice began to wait (see the module docstring)."""
    return case((Notice.attempts > 0, Notice.due_at), else_=Notice.next_attempt_at)


def is_late(*, as_of: datetime, threshold: timedelta) -> ColumnElement[bool]:
    """A queued notice that has waited longer than `threshold` by `as_of`."""
    return (Notice.status == NoticeStatus.QUEUED) & (waiting_since() < as_of - threshold)


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox at `as_of`: counts, the oldest wait, the commonest reason."""

    as_of: datetime
    threshold: timedelta
    waiting: int  # queued notices that could have gone by now
    late: int  # of those, waiting longer than the threshold
    oldest_since: datetime | None  # when the longest-waiting of them began to wait
    reason: str  # a code of the vocabulary's `outbox_delays` ("" when nothing waits)

    @property
    def behind(self) -> bool:
        return self.late > 0

    @property
    def oldest_wait(self) -> timedelta | None:
        return None if self.oldest_since is None else self.as_of - self.oldest_since

    def facts(self) -> dict[str, object]:
        """Counts only: what an audit event, a log line or an artifact may carry."""
        wait = self.oldest_wait
        return {"waiting": self.waiting, "late": self.late,
                "oldest_wait_minutes": None if wait is None else round(wait.total_seconds() / 60),
                "threshold_minutes": round(self.threshold.total_seconds() / 60),
                "reason": self.reason}


def backlog(session: Session, *, as_of: datetime, threshold: timedelta) -> Backlog:
    since = waiting_since()
    waiting = (Notice.status == NoticeStatus.QUEUED) & (since <= as_of)
    count, late, oldest = session.execute(
        select(func.count(), func.count().filter(since < as_of - threshold), func.min(since))
        .select_from(Notice).where(waiting)).one()
    errors = session.execute(  # (most sweeps find nothing waiting: no second query then)
        select(Notice.last_error, func.count()).where(waiting)
        .group_by(Notice.last_error).order_by(func.count().desc()).limit(REASON_SAMPLE)
    ).all() if count else []
    reasons: Counter[str] = Counter()
    for error, number in errors:
        reasons[delay_reason(error)] += number
    return Backlog(as_of=as_of, threshold=threshold, waiting=count, late=late or 0,
                   oldest_since=oldest,
                   reason=reasons.most_common(1)[0][0] if reasons else "")


def watch_backlog(session: Session, *, as_of: datetime, threshold: timedelta,
                  operator_email: str) -> Backlog:
    """The backlog at `as_of`; a new episode stores the operator's notice (see the module
    docstring), an episode that is over is recorded as over."""
    seen = backlog(session, as_of=as_of, threshold=threshold)
    if not episode_changes(session, seen=seen):
        return seen
    if seen.behind:
        _begin_episode(session, seen=seen, operator_email=operator_email)
    else:
        repo.add_audit(session, case_id=None, at=as_of, actor=repo.SYSTEM_ACTOR,
                       kind=CAUGHT_UP_EVENT,
                       detail=seen.facts())
        session.flush()
    return seen


def episode_changes(session: Session, *, seen: Backlog) -> bool:
    """Whether `seen` begins an episode (behind, the last one over) or ends one: the only
    case in which watching the outbox writes. A sweep asks this in a read-only transaction
    first, so a sweep that finds nothing new takes no write lock for it."""
    last = session.execute(
        select(AuditEvent.kind).where(AuditEvent.kind.in_((BEHIND_EVENT, CAUGHT_UP_EVENT)))
        .order_by(AuditEvent.id.desc()).limit(1)).scalar()
    return seen.behind != (last == BEHIND_EVENT)


def _begin_episode(session: Session, *, seen: Backlog, operator_email: str) -> None:
    episode = 1 + (session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.kind == BEHIND_EVENT)) or 0)
    key = backlog_alert_key(episode=episode)
    try:
        with session.begin_nested():  # another sweep may begin the same episode at once
            repo.add_audit(session, case_id=None, at=seen.as_of, actor=repo.SYSTEM_ACTOR,
                           kind=BEHIND_EVENT, note=key, detail=seen.facts())
            session.add(Notice(
                key=key, case_id=None, kind=NoticeKind.OUTBOX_BACKLOG, escalation_level=0,
                recipient_role="operator", recipient_jurisdiction="", contact_id=None,
                to_address=operator_email, due_at=seen.as_of, status=NoticeStatus.QUEUED,
                attempts=0, next_attempt_at=seen.as_of, created_at=seen.as_of,
                priority=priority_of(NoticeKind.OUTBOX_BACKLOG)))
    except IntegrityError:
        return


def episode_facts(session: Session, *, key: str) -> dict[str, object]:
    """What the sweep that began the episode of the operator's notice `key` saw."""
    detail = session.scalar(select(AuditEvent.detail).where(AuditEvent.kind == BEHIND_EVENT,
                                                            AuditEvent.note == key))
    if detail is None:
        raise LookupError(f"no {BEHIND_EVENT} event for notice {key}")
    return dict(detail)
