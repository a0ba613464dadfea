"""At intake: who must be told at once (domain.md §4), put in the outbox in the same
transaction as the case, so the notices go out within seconds and survive any crash.
A role nobody holds up the tree is stored as a failed notice (it shows as overdue work) and
the operator is mailed about it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Notice
from models.domain.notice_keys import (
    at_once_key,
    intake_round,
    missing_role_key,
    routing_gap_key,
)
from models.domain.notice_kinds import NoticeKind, priority_of
from models.domain.routing import ContactRef, MissingRole, RoutingPlan, route_case
from models.domain.vocabulary import vocabulary


class DbRegistry:
    """The routing's registry lookup over the contacts table (exact level; routing walks up)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def contacts_at(self, code: str, role: str) -> Sequence[ContactRef]:
        rows = self._session.scalars(
            select(Contact).where(Contact.jurisdiction_code == code, Contact.role == role)
            .order_by(Contact.id))
        return [ContactRef(contact_id=c.id, role=c.role, jurisdiction_code=c.jurisdiction_code,
                           name=c.name, email=c.email) for c in rows]


def route_at_intake(session: Session, case: Case, *, now: datetime, actor: str,
                    operator_email: str, risk_indicators: Sequence[str] | None = None,
                    key_prefix: str | None = None) -> RoutingPlan:
    """At intake (the case's indicators), or for a new incident (its own indicators and its
    own key prefix, so a second life-threatening incident is reported again)."""
    prefix = key_prefix or intake_round(case_id=case.id)
    plan = route_case(jurisdiction_code=case.jurisdiction_code, category=case.category,
                      risk_indicators=case.risk_indicators if risk_indicators is None
                      else list(risk_indicators),
                      mediation_attempts=case.mediation_attempts, registry=DbRegistry(session))
    for routed in plan.notices:
        _notice(session, case, now=now, key=at_once_key(round_key=prefix, kind=NoticeKind.AT_ONCE,
                                                 contact_id=routed.contact_id),
                kind=NoticeKind.AT_ONCE, role=routed.role, jurisdiction=routed.jurisdiction_code,
                contact_id=routed.contact_id, to=routed.email, reason="；".join(routed.reasons),
                must_confirm=plan.call_110)
    for missing in plan.missing:
        _missing_notice(session, case, missing, now=now, prefix=prefix)
    if plan.call_110:
        _call_110(session, case, now=now, prefix=prefix)
    if plan.missing:
        _notice(session, case, now=now, key=routing_gap_key(round_key=prefix, kind=NoticeKind.ROUTING_GAP),
                kind=NoticeKind.ROUTING_GAP,
                role="operator", jurisdiction=case.jurisdiction_code, contact_id=None,
                to=operator_email, reason="\n".join(m.reason for m in plan.missing))
    if plan.notices or plan.missing:
        repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="reported_at_once",
                       note="第一时间报告",
                       detail={"triggers": [str(t) for t in plan.triggers],
                               "notified": [f"{n.role}@{n.jurisdiction_code}" for n in plan.notices],
                               "missing": [f"{m.role} from {m.searched_from}" for m in plan.missing],
                               "call_110": plan.call_110})
    session.flush()
    return plan


def _call_110(session: Session, case: Case, *, now: datetime, prefix: str) -> None:
    """The responsible cadre is told to phone 110 herself: mail is not how police are called."""
    cadres = repo.contacts_for_role(session, jurisdiction_code=case.jurisdiction_code,
                                    role="federation_chair")
    for cadre in cadres[:1]:
        _notice(session, case, now=now, key=at_once_key(round_key=prefix, kind=NoticeKind.CALL_110,
                                                 contact_id=cadre.id),
                kind=NoticeKind.CALL_110, role=cadre.role, jurisdiction=cadre.jurisdiction_code,
                contact_id=cadre.id, to=cadre.email, reason="危及生命安全，请立即拨打110")


def _missing_notice(session: Session, case: Case, missing: MissingRole, *, now: datetime,
                    prefix: str) -> None:
    label = vocabulary().label("contact_roles", missing.role)
    _notice(session, case, now=now,
            key=missing_role_key(round_key=prefix, role=missing.role,
                                 searched_from=missing.searched_from),
            kind=NoticeKind.AT_ONCE, role=missing.role, jurisdiction=missing.searched_from,
            contact_id=None, to="", reason=f"{label}：{missing.reason}")


def _notice(session: Session, case: Case, *, now: datetime, key: str, kind: NoticeKind, role: str,
            jurisdiction: str, contact_id: int | None, to: str, reason: str,
            must_confirm: bool = False) -> None:
    if session.scalar(select(Notice.id).where(Notice.key == key)) is not None:
        return
    notice = Notice(key=key, case_id=case.id, kind=kind, recipient_role=role,
                    recipient_jurisdiction=jurisdiction, contact_id=contact_id, to_address=to,
                    reason=reason, due_at=now, status="queued", attempts=0,
                    must_confirm=must_confirm,
                    priority=priority_of(kind, life_at_risk=must_confirm),
                    next_attempt_at=now, created_at=now)
    if not to:
        notice.status = "failed"
        notice.last_error = reason if contact_id is None else "the contact has no email address"
    session.add(notice)
