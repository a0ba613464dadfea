"""At intake: who must be told at once (domain.md §4), put in the outbox in the same
transaction as the case, so the notices go out within seconds and survive any crash.
A role nobody holds up the tree is stored as a failed notice (it shows as overdue work) and
the operator is mailed about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Notice
from models.domain.jurisdiction import ancestry, normalize_code
from models.domain.notice_keys import (
    at_once_key,
    intake_round,
    missing_role_key,
    routing_gap_key,
)
from models.domain.notice_kinds import NoticeKind, priority_of
from models.domain.routing import (
    ContactRef,
    Registry,
    RoutingPlan,
    Trigger,
    nearest_holders,
    route_case,
)
from models.domain.statuses import NoticeStatus
from models.domain.vocabulary import vocabulary


class DbRegistry:
    """The routing's registry lookup over the contacts table (exact level; routing walks up).
    Routing only ever looks along the case's own line up the tree, so the first question about
    a level loads the contacts of that level and every level above it in one query; the
    registry lives for one intake, or one chunk of a batch import."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._loaded: set[str] = set()
        self._index: dict[tuple[str, str], list[ContactRef]] = {}

    def contacts_at(self, code: str, role: str) -> Sequence[ContactRef]:
        if code not in self._loaded:
            code = normalize_code(code)
            if missing := [c for c in ancestry(code) if c not in self._loaded]:
                self._load(missing)
        return tuple(self._index.get((code, role), ()))

    def _load(self, codes: list[str]) -> None:
        with self._session.no_autoflush:  # reading the registry needs nothing of ours flushed
            rows = self._session.execute(
                select(Contact.id, Contact.role, Contact.jurisdiction_code, Contact.name,
                       Contact.email)
                .where(Contact.jurisdiction_code.in_(codes)).order_by(Contact.id)).all()
        for row in rows:
            self._index.setdefault((row.jurisdiction_code, row.role), []).append(ContactRef(
                contact_id=row.id, role=row.role, jurisdiction_code=row.jurisdiction_code,
                name=row.name, email=row.email))
        self._loaded.update(codes)


@dataclass(frozen=True)
class AtOnceRows:
    """What reporting at once stores for one case: its notices (Notice column values, in the
    order they are stored) and the audit event (kind, note, detail), if anyone is told."""

    plan: RoutingPlan
    notices: list[dict[str, Any]]
    audit: dict[str, Any] | None


def route_at_intake(session: Session, case: Case, *, now: datetime, actor: str,
                    operator_email: str, risk_indicators: Sequence[str] | None = None,
                    key_prefix: str | None = None,
                    only: Sequence[Trigger] | None = None) -> RoutingPlan:
    """For a stored case: its own indicators, or a new incident's (with the incident's own key
    prefix, so a second life-threatening incident is reported again). A notice already stored
    under its key is not stored twice. (Intake writes `at_once_rows` with the new case.)"""
    rows = at_once_rows(case_id=case.id, jurisdiction_code=case.jurisdiction_code,
                        category=case.category,
                        risk_indicators=case.risk_indicators if risk_indicators is None
                        else list(risk_indicators),
                        mediation_attempts=case.mediation_attempts, registry=DbRegistry(session),
                        now=now, operator_email=operator_email,
                        key_prefix=key_prefix, only=only)
    keys = [values["key"] for values in rows.notices]
    stored = set(session.scalars(select(Notice.key).where(Notice.key.in_(keys)))) if keys else set()
    for values in rows.notices:
        if values["key"] not in stored:
            session.add(Notice(**values))
    if rows.audit is not None:
        repo.add_audit(session, case_id=case.id, at=now, actor=actor, **rows.audit)
    session.flush()
    return rows.plan


def at_once_rows(*, case_id: int, jurisdiction_code: str, category: str,
                 risk_indicators: Sequence[str], mediation_attempts: int, registry: Registry,
                 now: datetime, operator_email: str, key_prefix: str | None = None,
                 only: Sequence[Trigger] | None = None) -> AtOnceRows:
    """The rule for who is told at once, as rows: the single intake adds them one by one,
    the batch import inserts a chunk's rows at once."""
    key_prefix = key_prefix or intake_round(case_id=case_id)
    plan = route_case(jurisdiction_code=jurisdiction_code, category=category,
                      risk_indicators=risk_indicators, mediation_attempts=mediation_attempts,
                      registry=registry, only=only)

    def notice(*, key: str, kind: NoticeKind, role: str, jurisdiction: str, contact_id: int | None,
               to: str, reason: str, must_confirm: bool = False) -> dict[str, Any]:
        failed = not to
        return {"key": key, "case_id": case_id, "kind": kind, "recipient_role": role,
                "recipient_jurisdiction": jurisdiction, "contact_id": contact_id,
                "to_address": to, "reason": reason, "due_at": now,
                "status": NoticeStatus.FAILED if failed else NoticeStatus.QUEUED, "attempts": 0,
                "must_confirm": must_confirm, "next_attempt_at": now, "created_at": now,
                "priority": priority_of(kind, life_at_risk=must_confirm),
                "last_error": "" if not failed else reason if contact_id is None
                else "the contact has no email address"}

    notices = [notice(key=at_once_key(round_key=key_prefix, kind=NoticeKind.AT_ONCE,
                                          contact_id=routed.contact_id), kind=NoticeKind.AT_ONCE,
                      role=routed.role, jurisdiction=routed.jurisdiction_code,
                      contact_id=routed.contact_id, to=routed.email,
                      reason="；".join(routed.reasons), must_confirm=plan.call_110)
               for routed in plan.notices]
    for missing in plan.missing:
        label = vocabulary().label("contact_roles", missing.role)
        notices.append(notice(
            key=missing_role_key(round_key=key_prefix, role=missing.role,
                                 searched_from=missing.searched_from),
            kind=NoticeKind.AT_ONCE, role=missing.role, jurisdiction=missing.searched_from,
            contact_id=None, to="", reason=f"{label}：{missing.reason}"))
    if plan.call_110:
        # The responsible cadre is told to phone 110 herself: mail is not how police are called.
        for cadre in nearest_holders(registry, role="federation_chair",
                                     jurisdiction_code=jurisdiction_code)[:1]:
            notices.append(notice(key=at_once_key(round_key=key_prefix, kind=NoticeKind.CALL_110,
                                              contact_id=cadre.contact_id),
                                  kind=NoticeKind.CALL_110, role=cadre.role,
                                  jurisdiction=cadre.jurisdiction_code,
                                  contact_id=cadre.contact_id, to=cadre.email,
                                  reason="危及生命安全，请立即拨打110"))
    if plan.missing:
        notices.append(notice(key=routing_gap_key(round_key=key_prefix, kind=NoticeKind.ROUTING_GAP),
                              kind=NoticeKind.ROUTING_GAP,
                              role="operator", jurisdiction=jurisdiction_code, contact_id=None,
                              to=operator_email,
                              reason="\n".join(m.reason for m in plan.missing)))
    audit = None
    if plan.notices or plan.missing:
        audit = {"kind": "reported_at_once", "note": "第一时间报告",
                 "detail": {"triggers": [str(t) for t in plan.triggers],
                            "notified": [f"{n.role}@{n.jurisdiction_code}" for n in plan.notices],
                            "missing": [f"{m.role} from {m.searched_from}" for m in plan.missing],
                            "call_110": plan.call_110}}
    return AtOnceRows(plan=plan, notices=notices, audit=audit)

