"""Mails about a return visit: the reminder before it (with a calendar invitation) and
escalation when it was missed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db.orm import Case, Notice, Visit, VisitPlan
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.safe_contact import NoSafeSlotError, visit_slot
from models.domain.visits import DEFAULT_CADENCES, VisitCadence, describe_cadence, visit_ics
from models.service.mail_content.common import cadre_facts, local_text
from models.service.visits import safe_contact_of
from models.domain.vocabulary import vocabulary
from notifications.message import Attachment

_KEEP = ("case_number", "category_label", "jurisdiction_name", "case_url", "safety_note")


def plan_label(level: str, cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> str:
    cadence = cadences.get(level)
    described = describe_cadence(cadence) if cadence else ""
    return f"{vocabulary().label('plan_levels', level)}：{described}"


def visit_context(session: Session, *, notice: Notice, case: Case, context: dict[str, object],
                  calendar: WorkCalendar, as_of: datetime,
                  cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES,
                  **_: object) -> dict[str, object]:
    plan = _plan(session, notice)
    last = session.scalar(select(Visit.visited_at).where(Visit.plan_id == plan.id)
                          .order_by(Visit.visited_at.desc()).limit(1))
    due_day = plan.next_due_at.astimezone(SHANGHAI).date()
    today = as_of.astimezone(SHANGHAI).date()
    return {
        **{k: context[k] for k in _KEEP if k in context},
        **cadre_facts(session, case),
        "ledger_label": vocabulary().label("ledgers", plan.ledger),
        "plan_label": plan_label(plan.level, cadences),
        "last_visit_at": local_text(last) if last else "尚未回访",
        "visit_due_on": due_day.isoformat(),
        "suggested_time": _suggested_text(case, plan),
        "overdue_working_days": working_days_between(calendar=calendar, start=due_day,
                                                     end=max(today, due_day)),
        "escalation_level": notice.escalation_level,
    }


def visit_attachment(session: Session, *, notice: Notice, case: Case,
                     as_of: datetime) -> Attachment:
    """The visit as a calendar invitation, at a time outside everyone's quiet hours."""
    plan = _plan(session, notice)
    safety = safe_contact_of(case)
    description = f"个案 {case.number} 回访。详情请登录系统查看。"
    if safety.restricted:
        description += " 当事人有安全联系要求，请查看案件记录后再联系。"
    day = plan.next_due_at.astimezone(SHANGHAI).date()
    starts_at = _suggested(case, plan)
    ics = visit_ics(uid=f"visit-{plan.id}-{day}@weiquan", summary=f"回访 {case.number}",
                    starts_at=starts_at, all_day=day if starts_at is None else None,
                    description=description, now=as_of)
    return Attachment(filename=f"visit-{case.number}.ics", content_type="text/calendar", data=ics)


def _plan(session: Session, notice: Notice) -> VisitPlan:
    plan = session.get(VisitPlan, notice.visit_plan_id) if notice.visit_plan_id else None
    if plan is None or plan.next_due_at is None:
        raise LookupError(f"notice {notice.key} has no active visit plan")
    return plan


def _suggested(case: Case, plan: VisitPlan) -> datetime | None:
    """The visit's planned start, outside everyone's quiet hours; None when they leave no
    time in the visiting day (the cadre arranges it through the safe channel)."""
    day = plan.next_due_at.astimezone(SHANGHAI).date()
    try:
        return visit_slot(day=day, safety=safe_contact_of(case))
    except NoSafeSlotError:
        return None


def _suggested_text(case: Case, plan: VisitPlan) -> str:
    start = _suggested(case, plan)
    return start.strftime("%H:%M") if start else "时间须经安全渠道另行约定"
