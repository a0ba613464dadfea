"""Everything a case owes at an instant: its own deadline's notices, its open referrals' and
its return-visit plan's. The case row stays the one timer (`next_check_at`): the earliest
instant any of them could fall due."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Integer, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from models.db.bulk import one_of, rows_of
from models.db.orm import (SENT_AT_ONCE, Case, FollowUp, Notice, ProtectiveMeasure, Referral,
                            VisitPlan)
from models.domain.calendar import WorkCalendar
from models.domain.casework import MeasureKind, MeasureStatus, next_order_check, owed_order_reminders
from models.domain.confirmation import SentAtOnce, next_confirmation_check, owed_confirmations
from models.domain.notice_keys import round_of
from models.domain.procedure import SETTLED, Status
from models.domain.referrals import (
    AWAITING_FEEDBACK,
    ReferralClock,
    next_referral_check,
    owed_referral_notices,
)
from models.domain.reminders import CaseClock, OwedNotice, ReminderPolicy, owed_and_next_check, owed_notices
from models.domain.visits import (
    VisitDue,
    follow_up_series,
    next_series_check,
    next_visit_check,
    owed_series_notices,
    owed_visit_notices,
)
from models.service.referrals import governance_center_reachable, referral_clock


class CaseFacts(Protocol):
    """What planning reads of a case: a `Case`, or a row of `CASE_FACTS` (the sweep reads
    those columns alone, not entities, when it plans thousands of cases)."""

    id: int
    tier: str | None
    status: str
    jurisdiction_code: str
    received_at: datetime
    response_due_at: datetime | None
    responded_at: datetime | None
    paused_at: datetime | None
    upper_result_at: datetime | None
    responsible_contact_id: int | None


CASE_FACTS = (Case.id, Case.tier, Case.status, Case.jurisdiction_code, Case.received_at,
              Case.response_due_at, Case.responded_at, Case.paused_at, Case.upper_result_at,
              Case.responsible_contact_id)


def case_clock(case: CaseFacts) -> CaseClock:
    return CaseClock(
        case_id=case.id, tier=case.tier, jurisdiction_code=case.jurisdiction_code,
        received_at=case.received_at, response_due_at=case.response_due_at,
        answered=case.responded_at is not None, paused=case.paused_at is not None,
        closed=case.status in SETTLED, upper_result=case.upper_result_at is not None,
    )


def _as_sent(rows: Iterable[Notice]) -> list[SentAtOnce]:
    return [SentAtOnce(notice_id=n.id, key=n.key, round=round_of(n.key),
                       contact_id=n.contact_id, role=n.recipient_role,
                       jurisdiction_code=n.recipient_jurisdiction, sent_at=n.sent_at,
                       acknowledged=n.acknowledged_at is not None)
            for n in rows if n.sent_at is not None]


def _visit_notice(plan: VisitPlan | None, due: VisitDue) -> OwedNotice:
    # The reminder goes to the responsible cadre; a missed visit to the levels above.
    return OwedNotice(key=due.key, kind=due.kind, due_at=due.due_at,
                      recipient_role="federation_chair",
                      recipient_jurisdiction=due.recipient_jurisdiction,
                      escalation_level=due.escalation_level,
                      visit_plan_id=plan.id if plan is not None else None)


@dataclass(slots=True)
class CaseWork:
    """A case and everything hanging off it that can owe notices, loaded once per look.
    (Not frozen: the sweep makes one per planned case, and a frozen dataclass costs several
    times more to build; nothing changes it once loaded.)"""

    case: CaseFacts
    referrals: list[Referral]
    plan: VisitPlan | None
    sent_at_once: list[SentAtOnce]
    governance_center: bool = True  # looked up only when there are open referrals
    follow_up: FollowUp | None = None  # the return visit after closing, not yet made
    order: ProtectiveMeasure | None = None  # the protection order in force

    def owed(self, *, as_of: datetime, calendar: WorkCalendar,
             policy: ReminderPolicy) -> list[OwedNotice]:
        return owed_notices(case_clock(self.case), as_of=as_of, calendar=calendar,
                            policy=policy) + self._owed_besides_the_deadline(
            as_of=as_of, calendar=calendar, policy=policy)

    def owed_and_next_check(self, *, as_of: datetime, calendar: WorkCalendar,
                            policy: ReminderPolicy) -> tuple[list[OwedNotice], datetime | None]:
        """What is owed at `as_of` and the next instant after it that something could fall
        due: what planning asks of every case, the deadline's part in one pass."""
        owed, case_next = owed_and_next_check(case_clock(self.case), as_of=as_of,
                                              calendar=calendar, policy=policy)
        owed += self._owed_besides_the_deadline(as_of=as_of, calendar=calendar, policy=policy)
        candidates = [case_next, *self._next_besides_the_deadline(after=as_of, calendar=calendar,
                                                                 policy=policy)]
        return owed, min((c for c in candidates if c is not None), default=None)

    def _owed_besides_the_deadline(self, *, as_of: datetime, calendar: WorkCalendar,
                                   policy: ReminderPolicy) -> list[OwedNotice]:
        case = self.case
        owed: list[OwedNotice] = []
        for referral in self.referrals:
            owed += owed_referral_notices(self._clock(referral), as_of=as_of,
                                          calendar=calendar, policy=policy)
        if self.sent_at_once:  # (nothing sent, nothing to confirm: most cases)
            owed += owed_confirmations(case_id=case.id, case_jurisdiction=case.jurisdiction_code,
                                       sent=self.sent_at_once, as_of=as_of)
        if self.plan is not None:
            owed += [_visit_notice(self.plan, due) for due in owed_visit_notices(
                plan_id=self.plan.id, visit_due_at=self.plan.next_due_at,
                jurisdiction_code=case.jurisdiction_code, as_of=as_of, calendar=calendar,
                policy=policy)]
        if self.follow_up is not None:
            owed += [_visit_notice(None, due) for due in owed_series_notices(
                series=follow_up_series(self.follow_up.id), visit_due_at=self.follow_up.due_at,
                jurisdiction_code=case.jurisdiction_code, as_of=as_of, calendar=calendar,
                policy=policy)]
        if self.order is not None and self.order.until_date is not None:
            owed += [OwedNotice(key=due.key, kind=due.kind, due_at=due.due_at,
                                recipient_role="federation_chair",
                                recipient_jurisdiction=case.jurisdiction_code)
                     for due in owed_order_reminders(
                         measure_id=self.order.id, expires_on=self.order.until_date,
                         recorded_at=self.order.recorded_at, as_of=as_of, calendar=calendar,
                         policy=policy)]
        return owed

    def _clock(self, referral: Referral) -> ReferralClock:
        return referral_clock(referral, self.case, governance_center=self.governance_center)

    def _next_besides_the_deadline(self, *, after: datetime, calendar: WorkCalendar,
                                   policy: ReminderPolicy) -> list[datetime | None]:
        case = self.case
        candidates = [next_confirmation_check(sent=self.sent_at_once, after=after)
                      if self.sent_at_once else None]
        for referral in self.referrals:
            candidates.append(next_referral_check(self._clock(referral), after=after,
                                                  calendar=calendar, policy=policy))
        if self.plan is not None:
            candidates.append(next_visit_check(
                plan_id=self.plan.id, visit_due_at=self.plan.next_due_at,
                jurisdiction_code=case.jurisdiction_code, after=after, calendar=calendar,
                policy=policy))
        if self.follow_up is not None:
            candidates.append(next_series_check(
                series=follow_up_series(self.follow_up.id), visit_due_at=self.follow_up.due_at,
                jurisdiction_code=case.jurisdiction_code, after=after, calendar=calendar,
                policy=policy))
        if self.order is not None and self.order.until_date is not None:
            candidates.append(next_order_check(
                measure_id=self.order.id, expires_on=self.order.until_date,
                recorded_at=self.order.recorded_at, after=after, calendar=calendar,
                policy=policy))
        return candidates


def _of_cases(entity: type[Any], *conditions: ColumnElement[bool],
              order_by: InstrumentedAttribute[Any] | None = None) -> Select[Any]:
    """A SELECT of `entity` rows of the cases bound as `ids` (one parameter: see `one_of`),
    built once: the sweep runs it for every batch."""
    statement = select(entity).where(one_of(entity.case_id, "ids"), *conditions)
    return statement.order_by(order_by) if order_by is not None else statement


_OPEN_REFERRALS = _of_cases(Referral, Referral.status.in_(sorted(AWAITING_FEEDBACK)),
                            order_by=Referral.id)
_ACTIVE_PLANS = _of_cases(VisitPlan, VisitPlan.status == "active",
                          VisitPlan.next_due_at.is_not(None))
# At-once reports of a life at risk that went out (each must be confirmed): the partial
# index's own condition as written there (orm.SENT_AT_ONCE), so that index answers. SQLite
# uses it only when the batch's ids are joined (bulk.rows_of); PostgreSQL plans one_of well.
_SENT_AT_ONCE_OF_CASES = _of_cases(Notice, SENT_AT_ONCE, order_by=Notice.id)
_BATCH = rows_of("ids", type_=Integer())
_SENT_AT_ONCE_OF_CASES_SQLITE = (select(Notice).select_from(_BATCH)
                                 .join(Notice, Notice.case_id == _BATCH.c.value)
                                 .where(SENT_AT_ONCE).order_by(Notice.id))
_FOLLOW_UPS_DUE = _of_cases(FollowUp, FollowUp.visited_at.is_(None))
_ORDERS = _of_cases(ProtectiveMeasure, ProtectiveMeasure.kind == MeasureKind.PROTECTION_ORDER,
                    order_by=ProtectiveMeasure.id)


def load_case_works(session: Session, cases: Sequence[CaseFacts]) -> list[CaseWork]:
    """The work of a batch of cases: one IN query per kind of row for all of them instead of
    SELECTs per case (the due sweep's main cost at scale)."""
    ids = {"ids": [case.id for case in cases]}
    if not ids["ids"]:
        return []
    referrals: dict[int, list[Referral]] = defaultdict(list)
    for referral in session.scalars(_OPEN_REFERRALS, ids):
        referrals[referral.case_id].append(referral)
    plans = {plan.case_id: plan for plan in session.scalars(_ACTIVE_PLANS, ids)}
    sent: dict[int, list[Notice]] = defaultdict(list)
    sent_at_once = (_SENT_AT_ONCE_OF_CASES_SQLITE if session.get_bind().dialect.name == "sqlite"
                    else _SENT_AT_ONCE_OF_CASES)
    for notice in session.scalars(sent_at_once, ids):
        sent[notice.case_id].append(notice)
    follow_ups = {f.case_id: f for f in session.scalars(_FOLLOW_UPS_DUE, ids)}
    orders: dict[int, ProtectiveMeasure] = {}  # the latest order record per case
    for measure in session.scalars(_ORDERS, ids):
        orders[measure.case_id] = measure
    centers: dict[str, bool] = {}
    works = []
    for case in cases:
        center = True
        case_referrals = referrals.get(case.id, [])
        if case_referrals:
            if case.jurisdiction_code not in centers:
                centers[case.jurisdiction_code] = governance_center_reachable(session, case)
            center = centers[case.jurisdiction_code]
        order = orders.get(case.id)
        settled_out = case.status == Status.NOT_ACCEPTED  # nothing of its own runs on
        works.append(CaseWork(
            case=case, referrals=case_referrals, plan=plans.get(case.id),
            sent_at_once=_as_sent(sent[case.id]) if case.id in sent else [],
            governance_center=center, follow_up=follow_ups.get(case.id),
            order=order if order is not None and order.status == MeasureStatus.GRANTED
            and not settled_out else None))
    return works
