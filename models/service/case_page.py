"""What the board's case page shows beyond `case_view`: the audit timeline, referrals, the
return-visit plan and its visits, and each notice's acknowledgement; and the one thing
opening the page writes: who read the case (`record_opened`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, Contact, Notice, Referral, Visit, VisitPlan
from models.domain.jurisdiction import ancestry
from models.domain.vocabulary import vocabulary
from models.service.referrals import referral_target


CASE_OPENED = "case_opened"
# One read row per reader per case per 10 minutes: a cadre reloads the page after every act
# on it, and a row per reload would bury the reads that matter; 10 minutes still says who
# read the personal data and when, to within minutes.
OPENED_COALESCE = timedelta(minutes=10)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    kind: str
    note: str
    label: str  # what the event is, in words (the vocabulary's audit_events; else the code)


def timeline(session: Session, case: Case) -> list[TimelineEntry]:
    # What was done on the case; who read it is kept (record_opened) but is not an act.
    voc = vocabulary()
    return [TimelineEntry(at=e.at, actor=e.actor, kind=e.kind, note=e.note,
                          label=voc.label("audit_events", e.kind))
            for e in repo.audit_events(session, case_id=case.id) if e.kind != CASE_OPENED]


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


def opened_recently(session: Session, *, case_id: int, actor: str, at: datetime) -> bool:
    """Whether `actor` opened the case's page within OPENED_COALESCE before `at` (a read:
    the page asks it first, and takes the write lock only when a row is owed)."""
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id == case_id, AuditEvent.actor == actor,
        AuditEvent.kind == CASE_OPENED, AuditEvent.at > at - OPENED_COALESCE).limit(1)) is not None


def record_opened(session: Session, *, case_id: int, actor: str, at: datetime) -> bool:
    """Audit that `actor` opened the case's page, with its personal data; False when she
    already had within OPENED_COALESCE."""
    if opened_recently(session, case_id=case_id, actor=actor, at=at):
        return False
    repo.add_audit(session, case_id=case_id, at=at, actor=actor, kind=CASE_OPENED)
    return True


def assignable_contacts(session: Session, case: Case) -> list[Contact]:
    """The registry contacts who may be made responsible: those of the case's own place and
    of every level above it, nearest first."""
    chain = list(ancestry(case.jurisdiction_code))
    rows = session.scalars(select(Contact).where(Contact.jurisdiction_code.in_(chain))).all()
    return sorted(rows, key=lambda c: (chain.index(c.jurisdiction_code), c.role, c.id))


@dataclass(frozen=True)
class ReferralOption:
    role: str
    contact: Contact | None  # whom a referral to this role goes to; None: nobody registered


def referral_options(session: Session, case: Case) -> list[ReferralOption]:
    """Every department role with the contact a referral to it would reach (the same walk up
    the tree as `referrals.refer`)."""
    return [ReferralOption(role=role, contact=referral_target(session, case=case, role=role))
            for role in vocabulary().groups["contact_roles"]]
