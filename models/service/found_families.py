"""Putting a family found without a complaint on the 附表3 ledger (`weiquan ledger add`, the
台账 page's form): one transaction stores the case row, her party row, the visit plan by risk,
any at-once report her risk calls for, and the audit event. Why it is a case row with no
tier and no deadline: `models.domain.found_families`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, Notice, Party, VisitPlan
from models.domain.errors import InputError
from models.domain.found_families import (
    NO_ANSWER_OWED,
    SCREENING_CHANNEL,
    found_by_label,
    found_ledger,
    found_summary,
)
from models.domain.jurisdiction import is_within
from models.domain.notice_kinds import NoticeKind
from models.domain.procedure import Status
from models.domain.risk import assess_risk
from models.domain.visits import VisitCadence
from models.domain.vocabulary import vocabulary
from models.intake_schema import FoundFamilyIn
from models.service.intake import case_number, unknown_jurisdiction
from models.service.routing import DbRegistry, at_once_rows
from models.service.views import local_iso
from models.service.visits import plan_of, plan_opening


def add_found_family(session: Session, *, family: FoundFamilyIn, now: datetime, actor: str,
                     scope: str | None, operator_email: str,
                     cadences: Mapping[str, VisitCadence]) -> Case:
    """The stored case (its plan is open). `scope`: the subtree the person may record in
    (None: the whole registry, the machine's administrator)."""
    if scope is not None and not is_within(family.jurisdiction, under=scope):
        raise InputError(field="jurisdiction",
                         reason=f"{family.jurisdiction} is outside your jurisdiction ({scope})")
    if repo.get_jurisdiction(session, family.jurisdiction) is None:
        raise unknown_jurisdiction(family.jurisdiction)
    risk = assess_risk(category=family.category, risk_indicators=family.risk_indicators,
                       mediation_attempts=0)
    case = Case(
        channel=SCREENING_CHANNEL, category=family.category, tier=None, tier_proposed=False,
        tier_reason="排查发现，不分个案类型", status=Status.VISITING,
        jurisdiction_code=family.jurisdiction, received_at=now,
        summary=found_summary(found_by=family.found_by, reason=family.reason),
        risk_indicators=family.risk_indicators, risk_level=risk.level.value,
        rule_risk_level=risk.level.value, risk_reason=risk.reason, mediation_attempts=0,
        response_due_at=None, response_due_date=None, deadline_provisional=False,
        deadline_rule=NO_ANSWER_OWED, created_at=now,
        next_check_at=now,  # the due sweep plans the first visit's reminders now
        parties=[Party(**family.party().model_dump(exclude={"quiet_hours"}))])
    session.add(case)
    session.flush()  # the id makes the number
    case.number = case_number(case_id=case.id, received_at=now)
    # Nobody found her by chance alone: a life at risk is reported at once wherever she was
    # found (000 报), by the intake's own rule.
    at_once = at_once_rows(case_id=case.id, jurisdiction_code=family.jurisdiction,
                           category=family.category, risk_indicators=family.risk_indicators,
                           mediation_attempts=0, registry=DbRegistry(session), now=now,
                           operator_email=operator_email)
    ledger = found_ledger(category=family.category, risk_indicators=family.risk_indicators)
    # No complaint is an incident: the plan's level comes from the risk and the ledger alone.
    opening = plan_opening(ledger=ledger, risk_level=risk.level.value, incident_dates=[],
                           reason=family.reason, now=now, cadences=cadences)
    found = {"kind": "found_family",
             "note": f"排查发现，列入台账：{found_by_label(family.found_by)}",
             "detail": {"found_by": family.found_by.value, "ledger": ledger.value,
                        "risk_level": risk.level.value, "category": family.category}}
    events = [found, at_once.audit, opening.audit]
    session.add_all([AuditEvent(case_id=case.id, at=now, actor=actor, **event)
                     for event in events if event is not None])
    session.add_all([Notice(**notice) for notice in at_once.notices])
    session.add(VisitPlan(case_id=case.id, created_at=now, **opening.columns(now=now)))
    # No intake flow run is owed: that run reports a complaint's tier and deadline, and this
    # family has neither; the due sweep (next_check_at) plans everything she is owed.
    session.flush()
    return case


def found_family_view(session: Session, case: Case) -> dict[str, Any]:
    """The stored family with codes (`--json`); no name, phone or address (she is named on
    the case page and the encrypted 附表3, not in a terminal's scrollback)."""
    plan = plan_of(session, case)
    found = session.scalar(select(AuditEvent.detail).where(
        AuditEvent.case_id == case.id, AuditEvent.kind == "found_family"))
    notices = session.scalars(select(Notice.recipient_role).where(
        Notice.case_id == case.id, Notice.kind == NoticeKind.AT_ONCE)).all()
    return {"number": case.number, "id": case.id, "jurisdiction": case.jurisdiction_code,
            "channel": case.channel, "found_by": (found or {}).get("found_by"),
            "category": case.category, "status": str(case.status),
            "risk_level": str(case.risk_level), "risk_reason": case.risk_reason,
            "response_due_at": None,
            "ledger": None if plan is None else str(plan.ledger),
            "plan_level": None if plan is None else plan.level,
            "reason": "" if plan is None else plan.reason,
            "next_visit_due_at": None if plan is None else local_iso(plan.next_due_at),
            "at_once_reports": list(notices)}


def found_family_text(view: Mapping[str, Any]) -> str:
    voc = vocabulary()
    lines = [f"已列入台账：{view['number']}（{voc.label('ledgers', view['ledger'])}）",
             f"  如何发现  {found_by_label(view['found_by'])}",
             f"  重点关注原因  {view['reason']}",
             f"  风险等级  {voc.label('risk_levels', view['risk_level'])}  — {view['risk_reason']}",
             f"  首次回访  {view['next_visit_due_at'][:10]} 前",
             f"  答复期限  {NO_ANSWER_OWED}"]
    if view["at_once_reports"]:
        lines.append("  立即报告  " + "、".join(voc.label("contact_roles", role)
                                              for role in view["at_once_reports"]))
    return "\n".join(lines)
