"""What the casework records besides the case (domain.md §11; 000 帮/报/记, 004): mediations,
verifications, the return visit after closing and DV protective measures — their codes and
the rules that follow from them. Labels are the vocabulary's (one place for words).

Pure: no database, no clock; instants are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import end_of_day
from models.domain.errors import InputError
from models.domain.notice_keys import protection_order_key
from models.domain.notice_kinds import NoticeKind
from models.domain.reminders import ReminderPolicy, sending_instant, working_day_before
from models.domain.risk import INDICATOR_GROUPS, RiskGroup
from models.domain.routing import UNRESOLVED_AFTER_MEDIATIONS
from models.domain.vocabulary import vocabulary

MAX_TEXT_CHARS = 4000
MAX_NAME_CHARS = 200


class MediationOutcome(StrEnum):
    SUCCESS = "success"  # 成功
    PARTIAL = "partial"  # 部分达成
    FAILED = "failed"  # 未果


class VerificationMethod(StrEnum):
    VISIT = "visit"  # 走访
    PHONE = "phone"  # 电话
    INTERVIEW = "interview"  # 约谈
    DOCUMENTS = "documents"  # 调取材料
    OTHER = "other"  # 其他


class Veracity(StrEnum):
    TRUE = "true"  # 属实
    PARTLY_TRUE = "partly_true"  # 部分属实
    UNTRUE = "untrue"  # 不属实


class Reasonableness(StrEnum):
    REASONABLE = "reasonable"  # 诉求合理
    PARTLY_REASONABLE = "partly_reasonable"  # 部分合理
    UNREASONABLE = "unreasonable"  # 不合理


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    MOSTLY_SATISFIED = "mostly_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class MeasureKind(StrEnum):
    WARNING_LETTER = "warning_letter"  # 告诫书
    INJURY_APPRAISAL = "injury_appraisal"  # 伤情鉴定
    PROTECTION_ORDER = "protection_order"  # 人身安全保护令
    SHELTER = "shelter"  # 临时庇护


class MeasureStatus(StrEnum):
    ISSUED = "issued"  # 告诫书: issued by the police station
    REQUESTED = "requested"  # 伤情鉴定: requested
    DONE = "done"  # 伤情鉴定: done
    APPLIED = "applied"  # 保护令: applied to the court
    GRANTED = "granted"  # 保护令: granted, with its expiry
    REFUSED = "refused"  # 保护令: refused
    PLACED = "placed"  # 临时庇护: placed, until a date


# Which statuses each measure can be recorded with; the first is what a bare record means.
MEASURE_STATUSES: dict[MeasureKind, tuple[MeasureStatus, ...]] = {
    MeasureKind.WARNING_LETTER: (MeasureStatus.ISSUED,),
    MeasureKind.INJURY_APPRAISAL: (MeasureStatus.REQUESTED, MeasureStatus.DONE),
    MeasureKind.PROTECTION_ORDER: (MeasureStatus.APPLIED, MeasureStatus.GRANTED,
                                   MeasureStatus.REFUSED),
    MeasureKind.SHELTER: (MeasureStatus.PLACED,),
}

# The vocabulary group of each enumeration's labels.
LABEL_GROUPS: dict[type[StrEnum], str] = {
    MediationOutcome: "mediation_outcomes",
    VerificationMethod: "verification_methods",
    Veracity: "veracity",
    Reasonableness: "reasonableness",
    Satisfaction: "satisfaction",
    MeasureKind: "measure_kinds",
    MeasureStatus: "measure_statuses",
}


def label(value: StrEnum) -> str:
    """The words people read for one of this module's codes."""
    return vocabulary().label(LABEL_GROUPS[type(value)], value.value)


def choice(enum: type[StrEnum], value: str, *, field: str) -> StrEnum:
    """A code of `enum`, or an error naming the field and the codes it takes."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(f"{m.value}（{label(m)}）" for m in enum)
        raise InputError(field=field, reason=f"没有这一项：{value!r}（可选：{allowed}）") from None


def text(value: str | None, *, field: str, required: bool = False,
         limit: int = MAX_TEXT_CHARS) -> str:
    """Free text as stored: stripped, within its length, present if it must be."""
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise InputError(field=field, reason="不能为空")
    if len(cleaned) > limit:
        raise InputError(field=field, reason=f"不能超过{limit}字")
    return cleaned


# --- mediation: 两次调解都没有解决 → 上级妇联 or 12338 ---------------------------------------

def failed_mediations(*, intake_attempts: int, failed_records: int) -> int:
    """How many mediations have failed. The intake's count is the mediations held before the
    matter reached the federation (typed at intake: a complaint after a mediation means it
    did not resolve it); records are those held since. They cannot overlap, so they add."""
    return intake_attempts + failed_records


def mediation_reaches_report(*, intake_attempts: int, failed_before: int,
                             outcome: MediationOutcome) -> bool:
    """Whether this mediation is the one that makes failures reach the threshold: reported at
    once then, and not again on a later failure (nor when the intake's count alone had
    already reached it: the intake reported it)."""
    if outcome is not MediationOutcome.FAILED:
        return False
    before = failed_mediations(intake_attempts=intake_attempts, failed_records=failed_before)
    return before < UNRESOLVED_AFTER_MEDIATIONS <= before + 1


# --- verification before the answer -------------------------------------------------------------

# 000 §8 / 附表5: matters assigned from above, 12338 referrals and public-opinion matters are
# verified before they are answered (the 情况报告 reports what the verification found).
VERIFY_FIRST_CHANNELS = {"assigned": "上级交办事项", "hotline_12338": "12338热线转办事项",
                         "media": "舆情事项"}


def verification_required(*, channel: str, risk_indicators: Iterable[str]) -> str | None:
    """Why this case must be verified before it is answered (in words), or None."""
    if channel in VERIFY_FIRST_CHANNELS:
        return VERIFY_FIRST_CHANNELS[channel]
    if any(INDICATOR_GROUPS.get(code) == RiskGroup.PUBLIC_OPINION for code in risk_indicators):
        return "舆情事项"
    return None


def check_verified_before_answer(*, channel: str, risk_indicators: Iterable[str],
                                 verified: bool) -> None:
    why = verification_required(channel=channel, risk_indicators=risk_indicators)
    if why is not None and not verified:
        raise InputError(field="verification", reason=(
            f"{why}须先核实再答复：请先登记核实情况"))


# --- the return visit after closing (004: 结案 → 回访) -------------------------------------------

DEFAULT_CLOSING_VISIT_WORKING_DAYS = 10


def follow_up_due(*, closed_at: datetime, working_days: int, calendar: WorkCalendar) -> datetime:
    """24:00 of the Nth working day after the closing day (the closing day is not counted, as
    in every period): the visit is due ON that day, like a return visit."""
    day, _ = calendar.add_working_days(start=closed_at.astimezone(SHANGHAI).date(),
                                       count=working_days)
    return end_of_day(day)


# --- protective measures ----------------------------------------------------------------------

PROTECTION_ORDER_REMIND_WORKING_DAYS = 10  # 10 working days before the expiry, and on the day


def order_reminder_opens(*, expires_on: date, calendar: WorkCalendar) -> date:
    """The day the first reminder of an order's expiry falls due: 10 working days before it.
    From then until the day itself the order is expiring — the reminders and the cadre's
    to-do list (`order_expiring`) read this one rule."""
    return working_day_before(expires_on, count=PROTECTION_ORDER_REMIND_WORKING_DAYS,
                              calendar=calendar)


def order_expiring(*, expires_on: date, on: date, calendar: WorkCalendar) -> bool:
    """Whether on day `on` a granted order expiring on `expires_on` is in its reminder window.
    After its day it is not: an expired order no longer protects anyone, so there is nothing
    left to act on it (a new order is a new record), and it is never overdue work."""
    return order_reminder_opens(expires_on=expires_on, calendar=calendar) <= on <= expires_on


def check_measure(*, kind: MeasureKind, status: MeasureStatus, on: date, until: date | None,
                  issuer: str) -> None:
    """The facts each measure needs: a warning letter its police station, a granted order its
    expiry, a shelter its end date; an end date never before the start."""
    if status not in MEASURE_STATUSES[kind]:
        allowed = ", ".join(s.value for s in MEASURE_STATUSES[kind])
        raise InputError(field="status", reason=f"{label(kind)}只能登记为：{allowed}")
    needs_until = (kind is MeasureKind.PROTECTION_ORDER and status is MeasureStatus.GRANTED) \
        or kind is MeasureKind.SHELTER
    if needs_until and until is None:
        raise InputError(field="until", reason=f"{label(kind)}（{label(status)}）须填写到期日")
    if not needs_until and until is not None:
        raise InputError(field="until", reason=f"{label(kind)}（{label(status)}）没有到期日，请勿填写")
    if until is not None and until < on:
        raise InputError(field="until", reason=f"{until.isoformat()} 早于 {on.isoformat()}")
    if kind is MeasureKind.WARNING_LETTER and not issuer.strip():
        raise InputError(field="issuer", reason="告诫书须填写出具的派出所")


@dataclass(frozen=True)
class OrderDue:
    """A reminder owed about a protection order's expiry."""

    key: str
    kind: NoticeKind
    due_at: datetime


def _order_reminders(*, measure_id: int, expires_on: date, calendar: WorkCalendar,
                     policy: ReminderPolicy) -> list[OrderDue]:
    before = order_reminder_opens(expires_on=expires_on, calendar=calendar)
    owed = []
    for day, kind in ((before, NoticeKind.PROTECTION_ORDER_EXPIRING),
                      (expires_on, NoticeKind.PROTECTION_ORDER_EXPIRES)):
        # On the day itself: at the sending hour if it is a working day, else the working day
        # before (the cadre must hear of it while the order still holds, not after).
        day = _on_or_before_working_day(day, calendar=calendar)
        at = sending_instant(datetime.combine(day, policy.send_at, tzinfo=SHANGHAI),
                             calendar=calendar, policy=policy)
        owed.append(OrderDue(key=protection_order_key(measure_id=measure_id, kind=kind,
                                                      expires_on=expires_on),
                             kind=kind, due_at=at))
    return owed


def planned_order_reminders(*, measure_id: int, expires_on: date, recorded_at: datetime,
                            calendar: WorkCalendar, policy: ReminderPolicy) -> list[OrderDue]:
    """The reminders an order recorded at `recorded_at` gets: those meant for before it was
    recorded are never sent (an order recorded 3 days before it ends gets only the day's)."""
    return [n for n in _order_reminders(measure_id=measure_id, expires_on=expires_on,
                                        calendar=calendar, policy=policy)
            if n.due_at >= recorded_at]


def owed_order_reminders(*, measure_id: int, expires_on: date, recorded_at: datetime,
                         as_of: datetime, calendar: WorkCalendar,
                         policy: ReminderPolicy) -> list[OrderDue]:
    """What fell due by `as_of`: the reminder 10 working days before the expiry and the one on
    the day, once each; none after the order has expired, and none meant for before the order
    was recorded (an order recorded 3 days before it ends gets only the day's reminder)."""
    if as_of > end_of_day(expires_on):
        return []
    return [n for n in planned_order_reminders(
        measure_id=measure_id, expires_on=expires_on, recorded_at=recorded_at,
        calendar=calendar, policy=policy) if n.due_at <= as_of]


def next_order_check(*, measure_id: int, expires_on: date, recorded_at: datetime,
                     after: datetime, calendar: WorkCalendar,
                     policy: ReminderPolicy) -> datetime | None:
    return min((n.due_at for n in _order_reminders(measure_id=measure_id, expires_on=expires_on,
                                                   calendar=calendar, policy=policy)
                if n.due_at > after and n.due_at >= recorded_at), default=None)


def _on_or_before_working_day(day: date, *, calendar: WorkCalendar) -> date:
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


# DV protective measures (000, Q&A on DV) are recorded for domestic-violence cases only.
DV_CATEGORY = "domestic_violence"


def takes_protective_measures(*, category: str) -> bool:
    return category == DV_CATEGORY
