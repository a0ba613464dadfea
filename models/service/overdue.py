"""The supervisor's overdue review (`weiquan overdue`): what is overdue in a jurisdiction
subtree — the same items as the board and the digests (`models.service.due_items`) — and
notices that could not be delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db.orm import Case, Notice
from models.domain.calendar import WorkCalendar
from models.domain.digest import ItemKind
from models.domain.jurisdiction import normalize_code
from models.domain.statuses import NoticeStatus
from models.service.board import BoardItem, board_items
from models.service.due_items import overdue_items
from models.service.views import local_iso

# "overdue" lists the cases whose answer (or transfer up, or situation report) is late; the
# other two lists are the rest of the board, by kind.
_CASE_KINDS = frozenset({ItemKind.RESPONSE, ItemKind.TRANSFER, ItemKind.REPORT})


def overdue_report(session: Session, *, as_of: datetime, under: str | None,
                   calendar: WorkCalendar) -> dict[str, list[dict[str, Any]]]:
    prefix = normalize_code(under) if under else ""
    rows = board_items(session, items=overdue_items(session, as_of=as_of, calendar=calendar,
                                                    under=prefix),
                       as_of=as_of, calendar=calendar)
    rows.sort(key=lambda row: (row.due_at, row.case_id))
    failed = session.execute(
        select(Notice, Case.number).join(Case, Case.id == Notice.case_id)
        .where(Notice.status == NoticeStatus.FAILED, Case.jurisdiction_code.startswith(prefix))
        .order_by(Notice.due_at, Notice.id)
    ).all()
    failed_by_case = dict(session.execute(
        select(Notice.case_id, func.count())
        .where(Notice.status == NoticeStatus.FAILED,
               Notice.case_id.in_({row.case_id for row in rows if row.kind in _CASE_KINDS}))
        .group_by(Notice.case_id)).all())
    return {
        "overdue": [{**_row(row), "kind": row.kind.value,
                     "calendar_days_overdue": row.days_overdue,
                     "failed_notices": failed_by_case.get(row.case_id, 0)}
                    for row in rows if row.kind in _CASE_KINDS],
        "overdue_referrals": [{**_row(row), "what": row.what}
                              for row in rows if row.kind == ItemKind.REFERRAL],
        "overdue_visits": [{**_row(row), "what": row.what}
                           for row in rows if row.kind in (ItemKind.VISIT, ItemKind.FOLLOW_UP)],
        "failed_notices": [
            {"case": number, "kind": n.kind, "to": n.to_address or "(nobody)",
             "role": n.recipient_role, "jurisdiction": n.recipient_jurisdiction,
             "due_at": local_iso(n.due_at), "attempts": n.attempts, "error": n.last_error}
            for n, number in failed
        ],
    }


def _row(row: BoardItem) -> dict[str, Any]:
    return {"case": row.case_number, "jurisdiction": row.jurisdiction_code,
            "jurisdiction_name": row.jurisdiction_name, "responsible": row.responsible,
            "due_at": local_iso(row.due_at), "working_days_overdue": row.working_days_overdue,
            "escalation_level": row.escalation_level}
