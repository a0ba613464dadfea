"""The supervisors' overdue board: everything overdue in a jurisdiction subtree, by kind.

- response — the answer is late: `response_due_at` passed, no answer, not paused, the case
  not closed or in return visits (difficult cases are tracked, not answered: as in
  `models.service.overdue`);
- referral — a department has not reported back: the referral is open or acknowledged and
  `feedback_due_at` passed;
- visit — a return visit was missed: the plan is active and the visit day is over (overdue
  from 24:00 Asia/Shanghai of `next_due_at`'s day).

Rows carry case numbers, places and the responsible cadre from the registry — never a
party's name, phone or address. Counts are rolled up the tree (county → township →
village): a node's count includes everything below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db.orm import Case, Contact, FlowTrigger, Jurisdiction, Notice, Referral, VisitPlan
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.jurisdiction import Level, level_of, normalize_code, parent_of
from models.domain.notice_kinds import NoticeKind
from models.service.mail_content.common import responsible_cadre


class Kind(StrEnum):
    RESPONSE = "response"
    REFERRAL = "referral"
    VISIT = "visit"


KIND_LABELS = {Kind.RESPONSE: "答复逾期", Kind.REFERRAL: "转介未反馈", Kind.VISIT: "回访逾期"}
SORT_KEYS = ("days", "due", "case", "jurisdiction", "kind", "escalation")


@dataclass(frozen=True)
class BoardItem:
    kind: Kind
    case_id: int
    case_number: str
    category: str
    risk_level: str
    jurisdiction_code: str
    jurisdiction_name: str
    jurisdiction_level: str
    due_at: datetime
    days_overdue: int  # calendar days past the due day
    working_days_overdue: int
    escalation_level: int  # highest escalation sent for it (0: none yet)
    responsible: str  # who must act: a registry contact, never a party
    what: str  # what is overdue, in words


@dataclass(frozen=True)
class BoardFilter:
    kinds: frozenset[Kind] = frozenset(Kind)
    level: Level | None = None  # only items whose case sits at this level
    min_days: int = 0
    min_escalation: int = 0
    sort: str = "days"
    descending: bool = True


@dataclass
class RollupRow:
    code: str
    name: str
    level: str
    depth: int
    counts: dict[Kind, int] = field(default_factory=lambda: {k: 0 for k in Kind})

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Health:
    """How the machinery is doing in the subtree: counts only (what operators watch)."""

    failed_notices: int  # gave up after retries, or nobody to send to
    late_notices: int  # queued, due more than 10 minutes ago: the outbox is behind
    unconfirmed_at_once: int  # at-once reports sent and not yet confirmed
    pending_flow_runs: int  # flow runs owed to Prefect and not started yet


@dataclass(frozen=True)
class Board:
    as_of: datetime
    under: str
    items: list[BoardItem]
    rollup: list[RollupRow]
    totals: dict[Kind, int]
    health: Health


def overdue_board(session: Session, *, as_of: datetime, under: str, calendar: WorkCalendar,
                  board_filter: BoardFilter = BoardFilter()) -> Board:
    prefix = normalize_code(under)
    items = [*_response_items(session, as_of=as_of, prefix=prefix, calendar=calendar),
             *_referral_items(session, as_of=as_of, prefix=prefix, calendar=calendar),
             *_visit_items(session, as_of=as_of, prefix=prefix, calendar=calendar)]
    chosen = sort_items(filter_items(items, board_filter), sort=board_filter.sort,
                        descending=board_filter.descending)
    totals = {kind: sum(1 for item in chosen if item.kind == kind) for kind in Kind}
    return Board(as_of=as_of, under=prefix, items=chosen,
                 rollup=rollup(session, under=prefix, items=chosen), totals=totals,
                 health=health(session, as_of=as_of, under=prefix))


def health(session: Session, *, as_of: datetime, under: str) -> Health:
    in_subtree = Case.jurisdiction_code.startswith(under)

    def notices(*conditions) -> int:
        return session.scalar(select(func.count()).select_from(Notice)
                              .join(Case, Case.id == Notice.case_id)
                              .where(in_subtree, *conditions)) or 0

    return Health(
        failed_notices=notices(Notice.status == "failed"),
        late_notices=notices(Notice.status == "queued",
                             Notice.next_attempt_at < as_of - timedelta(minutes=10)),
        unconfirmed_at_once=notices(Notice.kind == NoticeKind.AT_ONCE, Notice.status == "sent",
                                    Notice.acknowledged_at.is_(None)),
        pending_flow_runs=session.scalar(
            select(func.count()).select_from(FlowTrigger).join(Case, Case.id == FlowTrigger.case_id)
            .where(in_subtree, FlowTrigger.status != "done")) or 0,
    )


def filter_items(items: Iterable[BoardItem], board_filter: BoardFilter) -> list[BoardItem]:
    return [item for item in items
            if item.kind in board_filter.kinds
            and (board_filter.level is None or item.jurisdiction_level == board_filter.level)
            and item.days_overdue >= board_filter.min_days
            and item.escalation_level >= board_filter.min_escalation]


def sort_items(items: Sequence[BoardItem], *, sort: str, descending: bool) -> list[BoardItem]:
    keys = {
        "days": lambda i: (i.days_overdue, i.working_days_overdue),
        "due": lambda i: i.due_at,
        "case": lambda i: i.case_number,
        "jurisdiction": lambda i: i.jurisdiction_code,
        "kind": lambda i: list(Kind).index(i.kind),
        "escalation": lambda i: i.escalation_level,
    }
    if sort not in keys:
        raise ValueError(f"sort: unknown key {sort!r} (one of: {', '.join(SORT_KEYS)})")
    # Stable tie-break: by case number, then kind, whatever the direction.
    ordered = sorted(items, key=lambda i: (i.case_number, list(Kind).index(i.kind)))
    return sorted(ordered, key=keys[sort], reverse=descending)


def rollup(session: Session, *, under: str, items: Iterable[BoardItem]) -> list[RollupRow]:
    """Every node of the subtree in tree order (parents before children), each with the
    counts of its whole subtree."""
    nodes = session.scalars(select(Jurisdiction).where(Jurisdiction.code.startswith(under))
                            .order_by(Jurisdiction.code)).all()
    base = len(level_chain(under))
    rows = {node.code: RollupRow(code=node.code, name=node.name, level=node.level,
                                 depth=len(level_chain(node.code)) - base) for node in nodes}
    for item in items:
        code: str | None = item.jurisdiction_code
        while code is not None and len(code) >= len(under):
            if code in rows:
                rows[code].counts[item.kind] += 1
            code = parent_of(code)
    return [rows[code] for code in _tree_order(rows)]


def level_chain(code: str) -> list[str]:
    chain = [code]
    while (parent := parent_of(chain[-1])) is not None:
        chain.append(parent)
    return chain


def _tree_order(rows: dict[str, RollupRow]) -> list[str]:
    # Codes sorted as strings put every child right after its parent ('990102' <
    # '990102001' < '990102001001' < '990102002'), which is depth-first tree order.
    return sorted(rows)


# --- the three kinds -------------------------------------------------------------------------

def _local_day(value: datetime) -> date:
    return value.astimezone(SHANGHAI).date()


def _days(*, due_day: date, as_of: datetime, calendar: WorkCalendar) -> tuple[int, int]:
    today = _local_day(as_of)
    return ((today - due_day).days,
            working_days_between(calendar=calendar, start=due_day, end=max(today, due_day)))


def _places(session: Session, codes: Iterable[str]) -> dict[str, Jurisdiction]:
    codes = set(codes)
    if not codes:
        return {}
    return {j.code: j for j in session.scalars(select(Jurisdiction).where(Jurisdiction.code.in_(codes)))}


def _escalations(session: Session, column, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(column, func.max(Notice.escalation_level))
        .where(column.in_(ids), Notice.status == "sent", Notice.escalation_level > 0)
        .group_by(column)).all()
    return {key: level or 0 for key, level in rows}


def _item(*, kind: Kind, case: Case, place: Jurisdiction | None, due_at: datetime, due_day: date,
          as_of: datetime, calendar: WorkCalendar, escalation: int, responsible: str,
          what: str) -> BoardItem:
    days, working = _days(due_day=due_day, as_of=as_of, calendar=calendar)
    return BoardItem(kind=kind, case_id=case.id, case_number=case.number or str(case.id),
                     category=case.category, risk_level=case.risk_level,
                     jurisdiction_code=case.jurisdiction_code,
                     jurisdiction_name=place.name if place else case.jurisdiction_code,
                     jurisdiction_level=level_of(case.jurisdiction_code).value,
                     due_at=due_at, days_overdue=days, working_days_overdue=working,
                     escalation_level=escalation, responsible=responsible, what=what)


def _responsible_text(session: Session, case: Case) -> str:
    contact = responsible_cadre(session, case)
    return f"{contact.name}（{contact.post}）" if contact else "（未指定）"


def _response_items(session: Session, *, as_of: datetime, prefix: str,
                    calendar: WorkCalendar) -> list[BoardItem]:
    cases = session.scalars(select(Case).where(
        Case.responded_at.is_(None), Case.paused_at.is_(None),
        Case.status.not_in(["closed", "visiting"]), Case.tier != "difficult",
        Case.response_due_at < as_of, Case.jurisdiction_code.startswith(prefix),
    )).all()
    places = _places(session, (c.jurisdiction_code for c in cases))
    levels: dict[int, int] = {}
    if cases:  # only the answer's escalations: a referral's or a visit plan's are theirs
        levels = dict(session.execute(
            select(Notice.case_id, func.max(Notice.escalation_level))
            .where(Notice.case_id.in_([c.id for c in cases]), Notice.kind == NoticeKind.ESCALATION,
                   Notice.status == "sent")
            .group_by(Notice.case_id)).all())
    return [_item(kind=Kind.RESPONSE, case=case, place=places.get(case.jurisdiction_code),
                  due_at=case.response_due_at, due_day=case.response_due_date,
                  as_of=as_of, calendar=calendar, escalation=levels.get(case.id) or 0,
                  responsible=_responsible_text(session, case), what="答复期限已过，尚未答复")
            for case in cases]


def _referral_items(session: Session, *, as_of: datetime, prefix: str,
                    calendar: WorkCalendar) -> list[BoardItem]:
    rows = session.execute(
        select(Referral, Case, Contact)
        .join(Case, Case.id == Referral.case_id)
        .join(Contact, Contact.id == Referral.contact_id)
        .where(Referral.status.in_(["open", "acknowledged"]), Referral.feedback_due_at < as_of,
               Case.jurisdiction_code.startswith(prefix))).all()
    places = _places(session, (case.jurisdiction_code for _, case, _ in rows))
    levels = _escalations(session, Notice.referral_id, [r.id for r, _, _ in rows])
    items = []
    for referral, case, contact in rows:
        state = "已签收，未反馈结果" if referral.status == "acknowledged" else "未签收"
        items.append(_item(
            kind=Kind.REFERRAL, case=case, place=places.get(case.jurisdiction_code),
            due_at=referral.feedback_due_at, due_day=_local_day(referral.feedback_due_at),
            as_of=as_of, calendar=calendar, escalation=levels.get(referral.id, 0),
            responsible=f"{contact.name}（{contact.post}）",
            what=f"转介{contact.post or referral.role}：{state}"))
    return items


def visit_overdue_from(next_due_at: datetime) -> datetime:
    """A visit is due on a day: it is overdue from 24:00 Asia/Shanghai of that day."""
    day = _local_day(next_due_at)
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)


def _visit_items(session: Session, *, as_of: datetime, prefix: str,
                 calendar: WorkCalendar) -> list[BoardItem]:
    # Coarse cut in SQL (due before today's start in Shanghai), exact rule in Python.
    today_start = datetime.combine(_local_day(as_of), time(0), SHANGHAI)
    rows = session.execute(
        select(VisitPlan, Case).join(Case, Case.id == VisitPlan.case_id)
        .where(VisitPlan.status == "active", VisitPlan.next_due_at.is_not(None),
               VisitPlan.next_due_at < today_start,
               Case.jurisdiction_code.startswith(prefix))).all()
    rows = [(plan, case) for plan, case in rows if as_of >= visit_overdue_from(plan.next_due_at)]
    places = _places(session, (case.jurisdiction_code for _, case in rows))
    levels = _escalations(session, Notice.visit_plan_id, [p.id for p, _ in rows])
    ledger = {"high_risk": "高风险家庭", "focus": "重点关注家庭"}
    return [_item(kind=Kind.VISIT, case=case, place=places.get(case.jurisdiction_code),
                  due_at=plan.next_due_at, due_day=_local_day(plan.next_due_at), as_of=as_of,
                  calendar=calendar, escalation=levels.get(plan.id, 0),
                  responsible=_responsible_text(session, case),
                  what=f"{ledger.get(plan.ledger, plan.ledger)}回访未按期进行")
            for plan, case in rows]
