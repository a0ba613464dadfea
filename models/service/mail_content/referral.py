"""Mails about a referral: the referral itself, the reminder before its feedback deadline, and
escalation after it — what is asked, by when, whom to call at the federation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db.orm import Case, Contact, Notice, Referral
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.notice_keys import escalation_round_prefix
from models.domain.notice_kinds import NoticeKind
from models.domain.vocabulary import vocabulary
from models.service.mail_content.common import cadre_facts, due_text, local_text

# Departments, 综治中心 and the like have no account: the signed link (where the kind has
# one) and the cadre's phone, never the case page or a command.
_KEEP = ("case_number", "category_label", "jurisdiction_name", "ack_url", "safety_note")


def referral_context(session: Session, *, notice: Notice, case: Case, context: dict[str, object],
                     calendar: WorkCalendar, as_of: datetime, **_: object) -> dict[str, object]:
    referral = session.get(Referral, notice.referral_id) if notice.referral_id else None
    if referral is None:
        raise LookupError(f"notice {notice.key} has no referral")
    contact = session.get(Contact, referral.contact_id)
    due_day = referral.feedback_due_at.astimezone(SHANGHAI).date()
    today = as_of.astimezone(SHANGHAI).date()
    return {
        **{k: context[k] for k in _KEEP if k in context},
        **cadre_facts(session, case),
        "referred_to": (contact.post or contact.name) if contact else referral.role,
        "referred_at": local_text(referral.sent_at),
        "purpose": referral.purpose or vocabulary().label("contact_roles", referral.role) + "协助办理",
        "feedback_due_at": due_text(referral.feedback_due_at),
        "overdue_working_days": working_days_between(calendar=calendar, start=due_day,
                                                     end=max(today, due_day)),
        "escalation_level": notice.escalation_level,
        "earlier_told": (_earlier_told(session, notice)
                         if notice.kind == NoticeKind.REFERRAL_OVERDUE else ""),
        "acknowledged_text": (f"已于 {local_text(referral.acknowledged_at)} 签收"
                              if referral.acknowledged_at else "未签收"),
    }


def _earlier_told(session: Session, notice: Notice) -> str:
    """Who the previous escalation step went to (综治中心, or a federation where there is
    none), as the recipient of this one should read it."""
    if notice.escalation_level <= 1:
        return ""
    earlier = session.scalars(select(Notice).where(
        Notice.referral_id == notice.referral_id, Notice.kind == NoticeKind.REFERRAL_OVERDUE,
        Notice.escalation_level == notice.escalation_level - 1,
        Notice.key.startswith(escalation_round_prefix(notice.key))).order_by(Notice.id)).first()
    contact = session.get(Contact, earlier.contact_id) if earlier and earlier.contact_id else None
    if contact is None:
        return "上一级"
    return contact.post or contact.name
