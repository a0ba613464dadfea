"""--dry-run: what a sweep at `as_of` would send, without writing or sending anything."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from models.db.orm import Case, Notice
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.reminders import ReminderPolicy
from models.service.digests import plan_digests
from models.service.planning import PLAN_BATCH, plan_batch


def preview_due(sessions: sessionmaker[Session], *, as_of: datetime, calendar: WorkCalendar,
                policy: ReminderPolicy, digest_at: time | None = None) -> list[dict[str, str]]:
    """Plan as the sweep would, list what is then due in the order it would go out, and roll
    everything back. With `digest_at` (digests enabled) the day's digests are planned too."""
    session = sessions()
    try:
        if digest_at is not None:
            plan_digests(session, as_of=as_of, calendar=calendar, digest_at=digest_at,
                         window_end=policy.window_end)
        while plan_batch(session, as_of=as_of, calendar=calendar, policy=policy)[0] == PLAN_BATCH:
            pass
        rows = session.scalars(
            select(Notice).where(or_(
                (Notice.status == "queued") & (Notice.next_attempt_at <= as_of),
                (Notice.status == "sending") & (Notice.claimed_until < as_of)))
            .order_by(Notice.priority, Notice.next_attempt_at, Notice.id)).all()
        preview = []
        for notice in rows:
            case = session.get(Case, notice.case_id) if notice.case_id else None
            preview.append({"case": case.number if case else "", "kind": notice.kind,
                            "to": notice.to_address,
                            "due_at": notice.due_at.astimezone(SHANGHAI).isoformat(),
                            "key": notice.key})
        return preview
    finally:
        session.rollback()
        session.close()
