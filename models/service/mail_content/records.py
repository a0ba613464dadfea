"""Mails about the casework records: the return visit a closed case owes (due, and missed)
and a protection order about to expire. Never the victim's name, phone or address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models.db.orm import Case, Notice
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.notice_kinds import NoticeKind
from models.service.casework_records import current_protection_order, follow_up_of
from models.service.mail_content.common import cadre_facts


def record_context(session: Session, *, notice: Notice, case: Case, context: dict[str, object],
                   calendar: WorkCalendar, as_of: datetime, **_: object) -> dict[str, object]:
    today = as_of.astimezone(SHANGHAI).date()
    facts = {**context, **cadre_facts(session, case), "kind": notice.kind,
             "escalation_level": notice.escalation_level}
    if notice.kind in (NoticeKind.FOLLOW_UP_DUE, NoticeKind.FOLLOW_UP_OVERDUE):
        follow_up = follow_up_of(session, case)
        if follow_up is None:
            raise LookupError(f"notice {notice.id}: case {case.number} owes no follow-up")
        due_day = follow_up.due_at.astimezone(SHANGHAI).date()
        return {**facts, "overdue": notice.kind == NoticeKind.FOLLOW_UP_OVERDUE,
                "closed_on": case.closed_at.astimezone(SHANGHAI).date().isoformat()
                if case.closed_at else "（无）",
                "visit_due_on": due_day.isoformat(),
                "overdue_working_days": working_days_between(calendar=calendar, start=due_day,
                                                             end=max(today, due_day))}
    order = current_protection_order(session, case)
    if order is None or order.until_date is None:
        raise LookupError(f"notice {notice.id}: case {case.number} has no protection order in force")
    return {**facts, "expires_today": notice.kind == NoticeKind.PROTECTION_ORDER_EXPIRES,
            "granted_on": order.on_date.isoformat(), "expires_on": order.until_date.isoformat(),
            "issuer": order.issuer or "（未登记）",
            "working_days_left": working_days_between(calendar=calendar, start=today,
                                                      end=max(today, order.until_date))}
