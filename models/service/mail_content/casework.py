"""Mails about a case's own deadline: reminders, escalation, a difficult case's transfer and
tracking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models.db.orm import Case, Notice
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.notice_kinds import NoticeKind
from models.service.mail_content.common import responsible_cadre


def casework_context(session: Session, *, notice: Notice, case: Case, context: dict[str, object],
                     calendar: WorkCalendar, as_of: datetime, **_: object) -> dict[str, object]:
    today = as_of.astimezone(SHANGHAI).date()
    if notice.kind == NoticeKind.ESCALATION:
        responsible = responsible_cadre(session, case)
        due_day = case.response_due_at.astimezone(SHANGHAI).date()
        return {**context,
                "overdue_working_days": working_days_between(
                    calendar=calendar, start=due_day, end=max(today, due_day)),
                "escalation_level": notice.escalation_level,
                "responsible_name": responsible.name if responsible else "（未指定）",
                "responsible_post": responsible.post if responsible else "",
                "responsible_jurisdiction_name": context["jurisdiction_name"]}
    if notice.kind == NoticeKind.DIFFICULT_TRANSFER:
        return {**context,
                "summary_for_recipient": (f"{context['jurisdiction_name']}受理的"
                                          f"{context['category_label']}疑难个案，需上级协调解决")}
    if notice.kind == NoticeKind.DIFFICULT_TRACKING:
        return {**context,
                "days_since_transfer": working_days_between(
                    calendar=calendar, start=case.received_at.astimezone(SHANGHAI).date(),
                    end=today)}
    return context
