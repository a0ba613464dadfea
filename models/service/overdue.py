"""The supervisor's overdue review: open cases past their response deadline in a
jurisdiction subtree, and notices that could not be delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db.orm import Case, Jurisdiction, Notice
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.jurisdiction import normalize_code
from models.domain.notice_kinds import NoticeKind
from models.service.board import BoardFilter, Kind, overdue_board
from models.service.mail_content.common import responsible_cadre
from models.service.views import local_iso


def overdue_report(session: Session, *, as_of: datetime, under: str | None,
                   calendar: WorkCalendar) -> dict[str, list[dict[str, Any]]]:
    prefix = normalize_code(under) if under else ""
    cases = session.scalars(
        select(Case).where(
            Case.responded_at.is_(None), Case.paused_at.is_(None),
            Case.status.not_in(["closed", "visiting"]), Case.tier != "difficult",
            Case.response_due_at < as_of, Case.jurisdiction_code.startswith(prefix),
        ).order_by(Case.response_due_at, Case.id)
    ).all()
    items = [_overdue_item(session, case, as_of=as_of, calendar=calendar) for case in cases]
    failed = session.execute(
        select(Notice, Case.number).join(Case, Case.id == Notice.case_id)
        .where(Notice.status == "failed", Case.jurisdiction_code.startswith(prefix))
        .order_by(Notice.due_at, Notice.id)
    ).all()
    return {
        "overdue": items,
        "overdue_referrals": _board_rows(session, as_of=as_of, prefix=prefix, calendar=calendar,
                                         kind=Kind.REFERRAL),
        "overdue_visits": _board_rows(session, as_of=as_of, prefix=prefix, calendar=calendar,
                                      kind=Kind.VISIT),
        "failed_notices": [
            {"case": number, "kind": n.kind, "to": n.to_address or "(nobody)",
             "role": n.recipient_role, "jurisdiction": n.recipient_jurisdiction,
             "due_at": local_iso(n.due_at), "attempts": n.attempts, "error": n.last_error}
            for n, number in failed
        ],
    }


def _board_rows(session: Session, *, as_of: datetime, prefix: str, calendar: WorkCalendar,
                kind: Kind) -> list[dict[str, Any]]:
    """Referrals without feedback and missed visits, as the supervisors' board computes them."""
    roots = [prefix] if prefix else list(session.scalars(
        select(Jurisdiction.code).where(Jurisdiction.parent_code.is_(None))))
    rows = []
    for root in roots:
        board = overdue_board(session, as_of=as_of, under=root, calendar=calendar,
                              board_filter=BoardFilter(kinds=frozenset({kind}), sort="due",
                                                       descending=False))
        rows += [{"case": item.case_number, "jurisdiction": item.jurisdiction_code,
                  "jurisdiction_name": item.jurisdiction_name, "what": item.what,
                  "responsible": item.responsible, "due_at": local_iso(item.due_at),
                  "working_days_overdue": item.working_days_overdue,
                  "escalation_level": item.escalation_level} for item in board.items]
    return rows


def _overdue_item(session: Session, case: Case, *, as_of: datetime, calendar: WorkCalendar) -> dict[str, Any]:
    node = session.get(Jurisdiction, case.jurisdiction_code)
    responsible = responsible_cadre(session, case)
    level = session.scalar(select(func.max(Notice.escalation_level)).where(
        Notice.case_id == case.id, Notice.kind == NoticeKind.ESCALATION, Notice.status == "sent")) or 0
    failed = session.scalar(select(func.count()).select_from(Notice).where(
        Notice.case_id == case.id, Notice.status == "failed")) or 0
    due_day = case.response_due_at.astimezone(SHANGHAI).date()
    today = as_of.astimezone(SHANGHAI).date()
    return {
        "case": case.number,
        "jurisdiction": case.jurisdiction_code,
        "jurisdiction_name": node.name if node else "",
        "responsible": f"{responsible.name}（{responsible.post}）" if responsible else "(none)",
        "due_at": local_iso(case.response_due_at),
        "working_days_overdue": working_days_between(calendar=calendar, start=due_day, end=max(today, due_day)),
        "calendar_days_overdue": (today - due_day).days,
        "escalation_level": level,
        "failed_notices": failed,
    }
