"""What is due or overdue, in a subtree, at an instant: the one read model behind the
supervisors' board, `weiquan overdue`, the cadre and supervisor digests and the Prefect
artifact `overdue-by-jurisdiction`. Each of them filters this list; none asks the tables
itself.

An item is one of
- response — a case's answer: not answered, not paused, the case neither closed nor in
  return visits, not a difficult case;
- transfer — a difficult case (疑难) not yet transferred up. It must be transferred within 1
  working day (its `response_due_at`); the system makes the transfer at once, as the
  `difficult_transfer` notice, and the transfer is made when that notice has been SENT. A
  transfer not made by its due (nobody to send to, the mail failed) is overdue work for the
  cadre and stands on the board and in the digest alike. Once it is made the case is tracked
  until the upper level reports back: the tracking reminders speak, and it is no longer the
  cadre's overdue answer — in no list. (The board used to drop difficult cases altogether and
  the digest to list them until their due day whether or not they had gone up.)
- referral — a department's feedback: the referral awaits feedback (`AWAITING_FEEDBACK`:
  open or acknowledged, no result);
- visit — a return visit: the plan is active; due on the day of `next_due_at`;
- follow_up — the one return visit a closed case owes (004: 结案 → 回访), not yet made; due
  on the day of its `due_at`, N working days after closing;
- report — the 情况报告 a matter assigned from above, referred by 12338 or of public opinion
  owes (models.domain.situation_report.report_source), due at the answer deadline and done
  when one has been written (the audit event `situation_report_written`);
- protection_order — a granted 人身安全保护令 in force (the case's latest protection-order
  record granted it) whose expiry day is within the reminder window: from the first
  reminder, 10 working days before, to the day itself (`models.domain.casework.order_expiring`,
  the rule the reminders follow). Due on its expiry day, listed whatever `until` says (its
  horizon is that window, not the digests' 3 days), and never overdue: after its day the order
  has lapsed — nothing is left to do about it late (a new order is a new record) — so it is
  dropped, and it is on no overdue board.

A case not accepted (不予受理) is in no list: it owes nothing.

Each is due by `until` (default: 24:00 of the Nth working day ahead, what the digests call
"due soon"); when it is overdue is `models.domain.digest.overdue_from`, the same instant for
every reader (a visit: from 00:00 after its day). Items carry case numbers, categories and
places — never a party's name, phone or address.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Row, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import (
    AuditEvent,
    Case,
    Contact,
    FollowUp,
    Notice,
    ProtectiveMeasure,
    Referral,
    VisitPlan,
)
from models.domain.casework import (
    PROTECTION_ORDER_REMIND_WORKING_DAYS,
    MeasureKind,
    MeasureStatus,
    order_expiring,
)
from models.domain.notice_kinds import NoticeKind
from models.domain.calendar import WorkCalendar
from models.domain.deadlines import Tier, end_of_day
from models.domain.digest import (
    SOON_WORKING_DAYS,
    DueItem,
    ItemKind,
    is_overdue,
    local_date,
    soon_horizon,
)
from models.domain.jurisdiction import normalize_code
from models.domain.procedure import SETTLED, Status
from models.domain.referrals import AWAITING_FEEDBACK
from models.domain.risk import RiskLevel
from models.domain.situation_report import REPORT_WRITTEN, SOURCE_OF_CHANNEL, report_source
from models.domain.statuses import NoticeStatus
from models.domain.visits import PlanStatus
from models.domain.vocabulary import vocabulary

_CHUNK = 500  # ids per IN (…): well inside every backend's bind-parameter limit

# The case columns an item is made from, read as plain rows. A page asks for hundreds of
# cases: whole cases (notes, JSON, a dozen timestamps) were most of the board's time, and
# even trimmed ones cost an ORM object each (identity map, state) for five values read once.
_CASE_COLUMNS = (Case.id, Case.number, Case.tier, Case.category, Case.jurisdiction_code,
                 Case.response_due_at, Case.risk_level, Case.responsible_contact_id)


def due_items(session: Session, *, as_of: datetime, calendar: WorkCalendar,
              until: datetime | None = None, under: str | None = None,
              contact_id: int | None = None,
              soon_working_days: int = SOON_WORKING_DAYS) -> list[DueItem]:
    """Every answer, transfer, visit and referral feedback due by `until` (default: the end
    of the Nth working day from `as_of`) — overdue ones included — and every protection order
    expiring within its reminder window at `as_of`, in `under`'s subtree, or for one cadre,
    with the cadres who must act and the escalation level already reached."""
    if until is None:
        until = soon_horizon(as_of=as_of, calendar=calendar, soon_working_days=soon_working_days)
    scope = _scope(session, under=under, contact_id=contact_id)
    owners = _OwnerFinder(session)
    items = [*_case_items(session, until=until, scope=scope, owners=owners),
             *_visit_items(session, until=until, scope=scope, owners=owners),
             *_referral_items(session, until=until, scope=scope, owners=owners),
             *_follow_up_items(session, until=until, scope=scope, owners=owners),
             *_order_items(session, as_of=as_of, calendar=calendar, scope=scope, owners=owners),
             *_report_items(session, until=until, scope=scope, owners=owners)]
    if contact_id is not None:
        items = [item for item in items if contact_id in item.owner_ids]
    return items


def overdue_items(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                  under: str | None = None) -> list[DueItem]:
    """The overdue part of `due_items` at `as_of`."""
    return [item for item in due_items(session, as_of=as_of, calendar=calendar, until=as_of,
                                       under=under)
            if is_overdue(item, as_of=as_of)]


def _scope(session: Session, *, under: str | None, contact_id: int | None) -> ColumnElement[bool]:
    """A filter on Case: the subtree, and/or the cases a cadre answers for (assigned to her, or
    unassigned in her subtree — the federation chair found walking up from the case)."""
    clauses = [Case.status != Status.NOT_ACCEPTED]
    if under:
        clauses.append(Case.jurisdiction_code.startswith(normalize_code(under)))
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        home = contact.jurisdiction_code if contact else "-"
        clauses.append(or_(Case.responsible_contact_id == contact_id,
                           and_(Case.responsible_contact_id.is_(None),
                                Case.jurisdiction_code.startswith(home))))
    return and_(true(), *clauses)


class _OwnerFinder:
    """The cadre(s) who act on a case: the assigned contact, else the federation chair of the
    case's jurisdiction, nearest level up (those with an email first)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._chairs: dict[str, tuple[int, ...]] = {}

    def __call__(self, case: Row) -> tuple[int, ...]:
        if case.responsible_contact_id is not None:
            return (case.responsible_contact_id,)
        code = case.jurisdiction_code
        if code not in self._chairs:
            found = repo.contacts_for_role(self.session, jurisdiction_code=code,
                                           role="federation_chair")
            self._chairs[code] = tuple(c.id for c in ([c for c in found if c.email] or found))
        return self._chairs[code]


def _case_number(case: Row) -> str:
    return case.number or f"case-{case.id}"


def _case_items(session: Session, *, until: datetime, scope: ColumnElement[bool],
                owners: _OwnerFinder) -> list[DueItem]:
    transferred = exists().where(Notice.case_id == Case.id, Notice.kind == NoticeKind.DIFFICULT_TRANSFER,
                                 Notice.status == NoticeStatus.SENT)
    cases = session.execute(
        select(*_CASE_COLUMNS).where(
            scope, Case.status.not_in(SETTLED), Case.paused_at.is_(None),
            Case.response_due_at <= until,
            or_(and_(Case.tier != Tier.DIFFICULT, Case.responded_at.is_(None)),
                and_(Case.tier == Tier.DIFFICULT, Case.upper_result_at.is_(None),
                     ~transferred)),
        ).order_by(Case.response_due_at, Case.id)
    ).all()
    # Only the answer's escalations: a referral's or a visit plan's are theirs.
    levels = _max_escalation(session, Notice.case_id, [c.id for c in cases], kind=NoticeKind.ESCALATION)
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.TRANSFER if case.tier == Tier.DIFFICULT else ItemKind.RESPONSE,
        case_number=_case_number(case), category_label=voc.label("categories", case.category),
        jurisdiction_code=case.jurisdiction_code, due_at=case.response_due_at,
        escalation_level=levels.get(case.id, 0), owner_ids=owners(case), case_id=case.id,
        category=case.category, risk_level=case.risk_level,
        responsible_contact_id=case.responsible_contact_id,
    ) for case in cases]


def _visit_items(session: Session, *, until: datetime, scope: ColumnElement[bool],
                 owners: _OwnerFinder) -> list[DueItem]:
    rows = session.execute(
        select(VisitPlan.id.label("plan_id"), VisitPlan.next_due_at, *_CASE_COLUMNS)
        .join(Case, Case.id == VisitPlan.case_id).where(
            scope, VisitPlan.status == PlanStatus.ACTIVE, VisitPlan.next_due_at.is_not(None),
            VisitPlan.next_due_at <= until,
        ).order_by(VisitPlan.next_due_at, VisitPlan.id)
    ).all()
    # Due ON its day: the day's end is the deadline, whatever hour the plan noted.
    rows = [(row, end_of_day(local_date(row.next_due_at))) for row in rows]
    rows = [(row, due) for row, due in rows if due <= until]
    levels = _max_escalation(session, Notice.visit_plan_id, [row.plan_id for row, _ in rows])
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.VISIT, case_number=_case_number(row),
        category_label=voc.label("categories", row.category),
        jurisdiction_code=row.jurisdiction_code, due_at=due, ref=row.plan_id,
        escalation_level=levels.get(row.plan_id, 0), owner_ids=owners(row), case_id=row.id,
        category=row.category, risk_level=row.risk_level,
        responsible_contact_id=row.responsible_contact_id,
    ) for row, due in rows]


def _follow_up_items(session: Session, *, until: datetime, scope: ColumnElement[bool],
                     owners: _OwnerFinder) -> list[DueItem]:
    rows = session.execute(
        select(FollowUp.id.label("follow_up_id"), FollowUp.due_at, *_CASE_COLUMNS)
        .join(Case, Case.id == FollowUp.case_id).where(
            scope, FollowUp.visited_at.is_(None), FollowUp.due_at <= until,
        ).order_by(FollowUp.due_at, FollowUp.id)
    ).all()
    levels = _max_escalation(session, Notice.case_id, [row.id for row in rows],
                             kind=NoticeKind.FOLLOW_UP_OVERDUE)
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.FOLLOW_UP, case_number=_case_number(row),
        category_label=voc.label("categories", row.category),
        jurisdiction_code=row.jurisdiction_code, due_at=row.due_at, ref=row.follow_up_id,
        escalation_level=levels.get(row.id, 0), owner_ids=owners(row), case_id=row.id,
        category=row.category, risk_level=row.risk_level,
        responsible_contact_id=row.responsible_contact_id,
    ) for row in rows]


def _order_items(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                 scope: ColumnElement[bool], owners: _OwnerFinder) -> list[DueItem]:
    today = local_date(as_of)
    # Working days are the calendar's, not SQL's: narrow by a day the window cannot reach
    # past (one working day more covers an expiry on a rest day), then ask the rule itself.
    last, _ = calendar.add_working_days(start=today, count=PROTECTION_ORDER_REMIND_WORKING_DAYS + 1)
    latest = (select(func.max(ProtectiveMeasure.id))
              .where(ProtectiveMeasure.kind == MeasureKind.PROTECTION_ORDER)
              .group_by(ProtectiveMeasure.case_id))
    rows = session.execute(
        select(ProtectiveMeasure.id.label("order_id"), ProtectiveMeasure.until_date, *_CASE_COLUMNS)
        .join(Case, Case.id == ProtectiveMeasure.case_id).where(
            scope, ProtectiveMeasure.id.in_(latest),
            ProtectiveMeasure.status == MeasureStatus.GRANTED,
            ProtectiveMeasure.until_date >= today, ProtectiveMeasure.until_date <= last,
        ).order_by(ProtectiveMeasure.until_date, ProtectiveMeasure.id)
    ).all()
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.PROTECTION_ORDER, case_number=_case_number(row),
        category_label=voc.label("categories", row.category),
        jurisdiction_code=row.jurisdiction_code, due_at=end_of_day(row.until_date),
        ref=row.order_id, owner_ids=owners(row), case_id=row.id, category=row.category,
        risk_level=row.risk_level, responsible_contact_id=row.responsible_contact_id,
    ) for row in rows
        if order_expiring(expires_on=row.until_date, on=today, calendar=calendar)]


def _report_items(session: Session, *, until: datetime, scope: ColumnElement[bool],
                  owners: _OwnerFinder) -> list[DueItem]:
    written = exists().where(AuditEvent.case_id == Case.id, AuditEvent.kind == REPORT_WRITTEN)
    # The SQL narrows to the report channels and cases whose rules set a risk (public-opinion
    # signs always do); `report_source` then decides, the one place the rule is written.
    cases = [case for case in session.execute(
        select(*_CASE_COLUMNS, Case.channel, Case.risk_indicators).where(
            scope, Case.response_due_at <= until, ~written,
            or_(Case.channel.in_(SOURCE_OF_CHANNEL), Case.rule_risk_level != RiskLevel.NONE),
        ).order_by(Case.response_due_at, Case.id))
        if report_source(channel=case.channel, risk_indicators=case.risk_indicators)]
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.REPORT, case_number=_case_number(case),
        category_label=voc.label("categories", case.category),
        jurisdiction_code=case.jurisdiction_code, due_at=case.response_due_at,
        owner_ids=owners(case), case_id=case.id, category=case.category,
        risk_level=case.risk_level, responsible_contact_id=case.responsible_contact_id,
    ) for case in cases]


def _referral_items(session: Session, *, until: datetime, scope: ColumnElement[bool],
                    owners: _OwnerFinder) -> list[DueItem]:
    rows = session.execute(
        select(Referral.id.label("referral_id"), Referral.feedback_due_at, Referral.role,
               *_CASE_COLUMNS)
        .join(Case, Case.id == Referral.case_id).where(
            scope, Referral.status.in_(AWAITING_FEEDBACK), Referral.feedback_due_at <= until,
        ).order_by(Referral.feedback_due_at, Referral.id)
    ).all()
    levels = _max_escalation(session, Notice.referral_id, [row.referral_id for row in rows])
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.REFERRAL, case_number=_case_number(row),
        category_label=voc.label("categories", row.category),
        jurisdiction_code=row.jurisdiction_code, due_at=row.feedback_due_at, ref=row.referral_id,
        # the department by its role, never a person's name
        awaiting=voc.label("contact_roles", row.role),
        escalation_level=levels.get(row.referral_id, 0), owner_ids=owners(row), case_id=row.id,
        category=row.category, risk_level=row.risk_level,
        responsible_contact_id=row.responsible_contact_id,
    ) for row in rows]


def _max_escalation(session: Session, column, ids: Sequence[int], *,
                    kind: str | None = None) -> dict[int, int]:
    """The highest escalation level sent, per case / visit plan / referral."""
    found: dict[int, int] = {}
    for start in range(0, len(ids), _CHUNK):
        query = (select(column, func.max(Notice.escalation_level))
                 .where(column.in_(ids[start:start + _CHUNK]), Notice.status == NoticeStatus.SENT,
                        Notice.escalation_level > 0)
                 .group_by(column))
        if kind is not None:
            query = query.where(Notice.kind == kind)
        found.update({key: level for key, level in session.execute(query).all()})
    return found
