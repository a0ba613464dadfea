"""What the board's case page shows beyond `case_view`: the audit timeline, referrals, the
return-visit plan and its visits, and each notice's acknowledgement. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Notice, Referral, Visit, VisitPlan
from models.domain.vocabulary import vocabulary


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    kind: str
    note: str
    label: str  # what the event is, in words (the vocabulary's audit_events; else the code)


def timeline(session: Session, case: Case) -> list[TimelineEntry]:
    voc = vocabulary()
    return [TimelineEntry(at=e.at, actor=e.actor, kind=e.kind, note=e.note,
                          label=voc.label("audit_events", e.kind))
            for e in repo.audit_events(session, case_id=case.id)]


def notices(session: Session, case: Case) -> list[Notice]:
    return list(session.scalars(select(Notice).where(Notice.case_id == case.id)
                                .order_by(Notice.created_at, Notice.id)))


def referrals(session: Session, case: Case) -> list[dict[str, Any]]:
    rows = session.execute(select(Referral, Contact).join(Contact, Contact.id == Referral.contact_id)
                           .where(Referral.case_id == case.id).order_by(Referral.sent_at)).all()
    return [{"referral": r, "contact": c} for r, c in rows]


def visit_plan(session: Session, case: Case) -> VisitPlan | None:
    return session.scalar(select(VisitPlan).where(VisitPlan.case_id == case.id))


def visits(session: Session, case: Case) -> list[Visit]:
    return list(session.scalars(select(Visit).where(Visit.case_id == case.id)
                                .order_by(Visit.visited_at.desc(), Visit.id.desc())))
