"""What referral and return-visit mails say: only what the recipient needs to act — the case
number, what is asked, by when, whom to call at the federation. Never the victim's name,
phone, address or safe channel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Notice, Referral, Visit, VisitPlan
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.notice_keys import escalation_round_prefix
from models.domain.notice_kinds import NoticeKind
from models.domain.safe_contact import NoSafeSlotError, visit_slot
from models.domain.visits import DEFAULT_CADENCES, VisitCadence, describe_cadence, visit_ics
from models.domain.vocabulary import vocabulary
from models.service.visits import safe_contact_of
from notifications.message import Attachment

LEDGER_LABELS = {"high_risk": "高风险家庭", "focus": "重点关注家庭"}
PLAN_LEVEL_LABELS = {"critical": "危急", "high": "高风险", "focus": "重点关注"}


def plan_label(level: str, cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> str:
    cadence = cadences.get(level)
    described = describe_cadence(cadence) if cadence else ""
    return f"{PLAN_LEVEL_LABELS.get(level, level)}：{described}"


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(SHANGHAI).strftime(fmt) if moment else "（无）"


def _due_text(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%d") + " 24:00" if local.strftime("%H:%M:%S") == "23:59:59" \
        else local.strftime("%Y-%m-%d %H:%M")


def responsible_cadre(session: Session, case: Case) -> Contact | None:
    if case.responsible_contact_id is not None:
        return session.get(Contact, case.responsible_contact_id)
    found = repo.contacts_for_role(session, jurisdiction_code=case.jurisdiction_code,
                                   role="federation_chair")
    return found[0] if found else None


def _cadre_facts(session: Session, case: Case) -> dict[str, str]:
    cadre = responsible_cadre(session, case)
    return {"responsible_name": cadre.name if cadre else "（未指定）",
            "responsible_post": cadre.post if cadre else "",
            "responsible_contact": (cadre.phone or cadre.email) if cadre else ""}


def referral_context(session: Session, *, notice: Notice, case: Case, context: dict[str, object],
                     calendar: WorkCalendar, as_of: datetime) -> dict[str, object]:
    referral = session.get(Referral, notice.referral_id) if notice.referral_id else None
    if referral is None:
        raise LookupError(f"notice {notice.key} has no referral")
    contact = session.get(Contact, referral.contact_id)
    due_day = referral.feedback_due_at.astimezone(SHANGHAI).date()
    today = as_of.astimezone(SHANGHAI).date()
    keep = ("case_number", "category_label", "jurisdiction_name", "case_url")
    return {
        **{k: context[k] for k in keep},
        **_cadre_facts(session, case),
        "referred_to": (contact.post or contact.name) if contact else referral.role,
        "referred_at": _local(referral.sent_at),
        "purpose": referral.purpose or vocabulary().label("contact_roles", referral.role) + "协助办理",
        "feedback_due_at": _due_text(referral.feedback_due_at),
        "overdue_working_days": working_days_between(calendar=calendar, start=due_day,
                                                     end=max(today, due_day)),
        "escalation_level": notice.escalation_level,
        "earlier_told": _earlier_told(session, notice) if notice.kind == NoticeKind.REFERRAL_OVERDUE else "",
        "acknowledged_text": (f"已于 {_local(referral.acknowledged_at)} 签收"
                              if referral.acknowledged_at else "未签收"),
        "act_command": f"weiquan referral result {referral.id} --note \"办理结果\"",
    }


def _earlier_told(session: Session, notice: Notice) -> str:
    """Who the previous escalation step went to (综治中心, or a federation where there is
    none), as the recipient of this one should read it."""
    if notice.escalation_level <= 1:
        return ""
    prefix = escalation_round_prefix(notice.key)
    earlier = session.scalars(select(Notice).where(
        Notice.referral_id == notice.referral_id, Notice.kind == NoticeKind.REFERRAL_OVERDUE,
        Notice.escalation_level == notice.escalation_level - 1,
        Notice.key.startswith(prefix)).order_by(Notice.id)).first()
    contact = session.get(Contact, earlier.contact_id) if earlier and earlier.contact_id else None
    if contact is None:
        return "上一级"
    return contact.post or contact.name


def visit_context(session: Session, *, notice: Notice, case: Case, context: dict[str, object],
                  calendar: WorkCalendar, as_of: datetime,
                  cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> dict[str, object]:
    plan = session.get(VisitPlan, notice.visit_plan_id) if notice.visit_plan_id else None
    if plan is None or plan.next_due_at is None:
        raise LookupError(f"notice {notice.key} has no active visit plan")
    last = session.scalar(select(Visit.visited_at).where(Visit.plan_id == plan.id)
                          .order_by(Visit.visited_at.desc()).limit(1))
    due_day = plan.next_due_at.astimezone(SHANGHAI).date()
    today = as_of.astimezone(SHANGHAI).date()
    keep = ("case_number", "category_label", "jurisdiction_name", "case_url")
    return {
        **{k: context[k] for k in keep},
        **_cadre_facts(session, case),
        "ledger_label": LEDGER_LABELS.get(plan.ledger, plan.ledger),
        "plan_label": plan_label(plan.level, cadences),
        "last_visit_at": _local(last) if last else "尚未回访",
        "visit_due_on": due_day.isoformat(),
        "suggested_time": _suggested_text(case, plan),
        "overdue_working_days": working_days_between(calendar=calendar, start=due_day,
                                                     end=max(today, due_day)),
        "escalation_level": notice.escalation_level,
        "act_command": (f"weiquan visit record {case.number} --at \"YYYY-MM-DDTHH:MM+08:00\" "
                        "--by \"回访人\" --mode home --alone"),
    }


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


def visit_attachment(session: Session, *, notice: Notice, case: Case, as_of: datetime) -> Attachment:
    plan = session.get(VisitPlan, notice.visit_plan_id)
    assert plan is not None and plan.next_due_at is not None
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
