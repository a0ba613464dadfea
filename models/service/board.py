"""The supervisors' overdue board: everything overdue in a jurisdiction subtree, by kind.

Which items are overdue is `models.service.due_items.overdue_items` — the same list the
digests, `weiquan overdue` and the Prefect artifact filter: answers, difficult cases not
transferred up, referrals awaiting feedback past their deadline, and missed return visits
(overdue from 00:00 after their day). This module only shapes them for the page.

Rows carry case numbers, places and the responsible cadre from the registry — never a
party's name, phone or address. Counts are rolled up the tree (county → township →
village): a node's count includes everything below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case as sql_case, func, select
from sqlalchemy.orm import Session

from models.db.orm import Case, Contact, FlowTrigger, Jurisdiction, Notice, Referral, VisitPlan
from models.domain.calendar import WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.digest import DueItem, ItemKind, local_date
from models.domain.jurisdiction import Level, level_of, normalize_code, parent_of
from models.domain.notice_kinds import NoticeKind
from models.domain.referrals import ReferralStatus
from models.domain.statuses import NoticeStatus, TriggerStatus
from models.domain.visits import Ledger
from models.service.backlog import DEFAULT_THRESHOLD, is_late
from models.service.due_items import overdue_items
from models.service.mail_content.common import responsible_cadre

# The board's columns, in the order it has always shown them (the transfer next to the answer).
BOARD_KINDS = (ItemKind.RESPONSE, ItemKind.TRANSFER, ItemKind.REFERRAL, ItemKind.VISIT,
               ItemKind.FOLLOW_UP, ItemKind.REPORT)
SORT_KEYS = ("days", "due", "case", "jurisdiction", "kind", "escalation")


@dataclass(frozen=True)
class BoardItem:
    kind: ItemKind
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
    kinds: frozenset[ItemKind] = frozenset(ItemKind)
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
    counts: dict[ItemKind, int] = field(default_factory=lambda: {k: 0 for k in BOARD_KINDS})

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
    totals: dict[ItemKind, int]
    health: Health


def overdue_board(session: Session, *, as_of: datetime, under: str, calendar: WorkCalendar,
                  board_filter: BoardFilter = BoardFilter()) -> Board:
    prefix = normalize_code(under)
    items = board_items(session, items=overdue_items(session, as_of=as_of, calendar=calendar,
                                                     under=prefix),
                        as_of=as_of, calendar=calendar)
    chosen = sort_items(filter_items(items, board_filter), sort=board_filter.sort,
                        descending=board_filter.descending)
    totals = {kind: sum(1 for item in chosen if item.kind == kind) for kind in BOARD_KINDS}
    return Board(as_of=as_of, under=prefix, items=chosen,
                 rollup=rollup(session, under=prefix, items=chosen), totals=totals,
                 health=health(session, as_of=as_of, under=prefix))


def health(session: Session, *, as_of: datetime, under: str) -> Health:
    in_subtree = Case.jurisdiction_code.startswith(under)

    def count(*conditions) -> ColumnElement[int]:
        return func.count(sql_case((and_(*conditions), 1)))

    # The three notice counts in one pass over the subtree's notices (every page view of the
    # board asks them: one statement, not three).
    failed, late, unconfirmed = session.execute(
        select(count(Notice.status == NoticeStatus.FAILED),
               # Waiting more than 10 minutes (the rule: models/service/backlog.py).
               count(is_late(as_of=as_of, threshold=DEFAULT_THRESHOLD)),
               count(Notice.kind == NoticeKind.AT_ONCE, Notice.status == NoticeStatus.SENT,
                     Notice.acknowledged_at.is_(None)))
        .select_from(Notice).join(Case, Case.id == Notice.case_id).where(in_subtree)).one()
    return Health(
        failed_notices=failed or 0, late_notices=late or 0, unconfirmed_at_once=unconfirmed or 0,
        pending_flow_runs=session.scalar(
            select(func.count()).select_from(FlowTrigger).join(Case, Case.id == FlowTrigger.case_id)
            .where(in_subtree, FlowTrigger.status != TriggerStatus.DONE)) or 0,
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
        "kind": lambda i: BOARD_KINDS.index(i.kind),
        "escalation": lambda i: i.escalation_level,
    }
    if sort not in keys:
        raise ValueError(f"sort: unknown key {sort!r} (one of: {', '.join(SORT_KEYS)})")
    # Stable tie-break: by case number, then kind, whatever the direction.
    ordered = sorted(items, key=lambda i: (i.case_number, BOARD_KINDS.index(i.kind)))
    return sorted(ordered, key=keys[sort], reverse=descending)


def rollup(session: Session, *, under: str, items: Iterable[BoardItem]) -> list[RollupRow]:
    """Every node of the subtree in tree order (parents before children), each with the
    counts of its whole subtree."""
    nodes = session.scalars(select(Jurisdiction).where(Jurisdiction.code.startswith(under))
                            .order_by(Jurisdiction.code)).all()
    base = len(level_chain(under))
    rows = {node.code: RollupRow(code=node.code, name=node.name, level=node.level,
                                 depth=len(level_chain(node.code)) - base) for node in nodes}
    # The nodes an item counts in depend only on its place: walked up once per place.
    counted_in: dict[str, list[RollupRow]] = {}
    for item in items:
        if item.jurisdiction_code not in counted_in:
            counted_in[item.jurisdiction_code] = [
                rows[code] for code in level_chain(item.jurisdiction_code)
                if len(code) >= len(under) and code in rows]
        for row in counted_in[item.jurisdiction_code]:
            row.counts[item.kind] += 1
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


# --- the items as the board shows them ------------------------------------------------------

_WHAT = {ItemKind.RESPONSE: "答复期限已过，尚未答复", ItemKind.TRANSFER: "疑难个案未按期转报上级",
         ItemKind.FOLLOW_UP: "结案回访未按期进行",
         ItemKind.REPORT: "答复期限已到，尚未形成情况报告"}
_LEDGERS = {Ledger.HIGH_RISK: "高风险家庭", Ledger.FOCUS: "重点关注家庭"}


def board_items(session: Session, *, items: Sequence[DueItem], as_of: datetime,
                calendar: WorkCalendar) -> list[BoardItem]:
    """The read model's items with what a supervisor reads: place names, days late, who must
    act (a registry contact) and what is late, in words."""
    places = _by_id(session, Jurisdiction.code, {item.jurisdiction_code for item in items})
    referral_ids = {item.ref for item in items if item.kind == ItemKind.REFERRAL}
    referrals = {referral.id: (referral, contact) for referral, contact in session.execute(
        select(Referral, Contact).join(Contact, Contact.id == Referral.contact_id)
        .where(Referral.id.in_(referral_ids)))} if referral_ids else {}
    plans = _by_id(session, VisitPlan.id, {item.ref for item in items if item.kind == ItemKind.VISIT})
    # Who must act depends only on the assigned contact, else on the case's place; the level
    # only on the place. Asked once each, not once per row (a county's board has hundreds of
    # rows over a few dozen places); the calendar remembers working days between two days.
    responsible: dict[tuple[int | None, str], str] = {}
    levels: dict[str, str] = {}
    today = local_date(as_of)
    rows = []
    due_days: dict[datetime, date] = {}
    for item in items:
        if item.due_at not in due_days:
            due_days[item.due_at] = local_date(item.due_at)
        due_day = due_days[item.due_at]
        if item.kind == ItemKind.REFERRAL:
            referral, contact = referrals[item.ref]
            who = f"{contact.name}（{contact.post}）"
            state = "已签收，未反馈结果" if referral.status == ReferralStatus.ACKNOWLEDGED else "未签收"
            what = f"转介{contact.post or referral.role}：{state}"
        else:
            # The item carries what `responsible_cadre` reads of its case (hundreds of cases
            # were a third of the page once).
            key = (item.responsible_contact_id,
                   "" if item.responsible_contact_id is not None else item.jurisdiction_code)
            if key not in responsible:
                contact = responsible_cadre(session, item)
                responsible[key] = f"{contact.name}（{contact.post}）" if contact else "（未指定）"
            who = responsible[key]
            if item.kind == ItemKind.VISIT:
                ledger = plans[item.ref].ledger
                what = f"{_LEDGERS.get(ledger, ledger)}回访未按期进行"
            else:
                what = _WHAT[item.kind]
        place = places.get(item.jurisdiction_code)
        if item.jurisdiction_code not in levels:
            levels[item.jurisdiction_code] = level_of(item.jurisdiction_code).value
        rows.append(BoardItem(
            kind=item.kind, case_id=item.case_id, case_number=item.case_number,
            category=item.category, risk_level=item.risk_level,
            jurisdiction_code=item.jurisdiction_code,
            jurisdiction_name=place.name if place else item.jurisdiction_code,
            jurisdiction_level=levels[item.jurisdiction_code], due_at=item.due_at,
            days_overdue=(today - due_day).days,
            working_days_overdue=working_days_between(calendar=calendar, start=due_day,
                                                      end=max(today, due_day)),
            escalation_level=item.escalation_level, responsible=who, what=what))
    return rows


def _by_id(session: Session, column, keys: Iterable) -> dict:
    """Rows of `column`'s table keyed by `column`, fetched in chunks of ids."""
    keys = list(keys)
    found = {}
    for start in range(0, len(keys), 500):
        found.update({getattr(row, column.key): row for row in session.scalars(
            select(column.class_).where(column.in_(keys[start:start + 500])))})
    return found

