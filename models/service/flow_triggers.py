"""Flow runs owed to Prefect, claimed by key so each is started once even with two services.

A claim is a lease: a service that dies mid-run leaves a 'running' row whose lease runs out,
and the next sweep takes it again. A row that is already done is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.db.orm import FlowTrigger

LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True)
class ClaimedTrigger:
    key: str
    flow: str
    case_id: int | None
    attempt: int
    import_id: int | None = None


def claim_due_triggers(session: Session, *, now: datetime, limit: int) -> list[ClaimedTrigger]:
    due = session.scalars(
        select(FlowTrigger)
        .where(
            or_(
                (FlowTrigger.status == "pending") & (FlowTrigger.not_before <= now),
                (FlowTrigger.status == "running") & (FlowTrigger.claimed_until < now),
            )
        )
        .order_by(FlowTrigger.not_before, FlowTrigger.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for trigger in due:
        trigger.status = "running"
        trigger.attempts += 1
        trigger.claimed_until = now + LEASE
        claimed.append(ClaimedTrigger(trigger.key, trigger.flow, trigger.case_id, trigger.attempts,
                                      trigger.import_id))
    session.flush()
    return claimed


def mark_trigger_done(session: Session, *, key: str, flow_run_id: object, now: datetime) -> None:
    trigger = session.scalar(select(FlowTrigger).where(FlowTrigger.key == key))
    if trigger is None or trigger.status == "done":
        return
    trigger.status = "done"
    trigger.finished_at = now
    trigger.claimed_until = None
    trigger.flow_run_id = str(flow_run_id) if flow_run_id else None
    trigger.last_error = ""
    session.flush()


def release_failed_trigger(session: Session, *, key: str, error: str, now: datetime) -> timedelta:
    """Put a trigger back with exponential backoff; returns the wait before the next try."""
    trigger = session.scalar(select(FlowTrigger).where(FlowTrigger.key == key))
    if trigger is None or trigger.status == "done":
        return timedelta(0)
    wait = min(timedelta(seconds=5 * 2 ** max(trigger.attempts - 1, 0)), MAX_BACKOFF)
    trigger.status = "pending"
    trigger.claimed_until = None
    trigger.not_before = now + wait
    trigger.last_error = error[:2000]
    session.flush()
    return wait
