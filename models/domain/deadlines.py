"""Response deadlines by tier (Wenzhou procedure, 004), counted as the Civil Code counts periods.

民法典 arts. 201–203: the day of receipt is not counted; a period in months ends on the
corresponding day of the due month (or its last day when it has none); a last day that is a
rest day or statutory holiday moves to the first working day after it; the last day ends at
24:00 Asia/Shanghai.

| tier      | 原文                     | deadline                                          |
| simple    | 即时答复                 | the day of receipt, 24:00                         |
| ordinary  | 7个工作日内答复          | the 7th working day after the day of receipt      |
| complex   | 1个月内答复              | corresponding day of next month, then working day |
| difficult | 及时转报上级主管部门     | transferred up by the 1st working day after       |

A deadline is *provisional* when any day it relied on lies in a year whose official holiday
notice is not known yet; it must be recomputed once the notice is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.errors import InputError

ORDINARY_WORKING_DAYS = 7
DIFFICULT_WORKING_DAYS = 1
LAST_SECOND = time(23, 59, 59)  # "ends at 24:00": the last whole second of the day
PROVISIONAL_NOTE = "；所涉年份尚无正式放假安排，期限暂定，载入通知后重算"


class Tier(StrEnum):
    SIMPLE = "simple"  # 简单个案
    ORDINARY = "ordinary"  # 一般个案
    COMPLEX = "complex"  # 复杂个案
    DIFFICULT = "difficult"  # 疑难个案


@dataclass(frozen=True)
class ResponseDeadline:
    due_at: datetime  # aware, Asia/Shanghai
    last_day: date  # the Shanghai date of due_at
    provisional: bool  # relied on a day in a year without an official schedule
    rule: str  # what was applied, in words a cadre reads
    assigner_due_applied: bool  # the upper level's earlier deadline replaced the statutory one


@dataclass(frozen=True)
class _Statutory:
    last_day: date
    provisional: bool
    rule: str


def end_of_day(day: date) -> datetime:
    """23:59:59 Asia/Shanghai of the day: the moment a period's last day is over."""
    return datetime.combine(day, LAST_SECOND, tzinfo=SHANGHAI)


def response_deadline(
    *,
    tier: Tier,
    received_at: datetime,
    calendar: WorkCalendar,
    assigner_due_at: datetime | None = None,
) -> ResponseDeadline:
    """When the answer is due for a case received at received_at (any time zone, but aware).

    An upper level's deadline (上级交办期限) wins when it is earlier than the statutory one.
    """
    # The day of receipt is the Shanghai date: 2026-09-30T20:00Z was received on 10-01.
    received_day = _in_shanghai(received_at, field="received_at").date()
    statutory = STATUTORY_RULES[Tier(tier)](received_day, calendar)
    statutory_due = end_of_day(statutory.last_day)
    rule = statutory.rule + (PROVISIONAL_NOTE if statutory.provisional else "")

    if assigner_due_at is not None:
        assigner_due = _in_shanghai(assigner_due_at, field="assigner_due_at")
        if assigner_due < statutory_due:
            # Still provisional if the statutory deadline was: once the notice is loaded the
            # statutory deadline may move before the assigner's and win after all.
            return ResponseDeadline(
                due_at=assigner_due,
                last_day=assigner_due.date(),
                provisional=statutory.provisional,
                rule=(f"上级交办期限（{assigner_due:%Y-%m-%d %H:%M}）早于法定期限"
                      f"（{statutory.rule}，{statutory.last_day.isoformat()}），从交办期限"
                      + (PROVISIONAL_NOTE if statutory.provisional else "")),
                assigner_due_applied=True,
            )
    return ResponseDeadline(due_at=statutory_due, last_day=statutory.last_day,
                            provisional=statutory.provisional, rule=rule,
                            assigner_due_applied=False)


def working_days_between(*, calendar: WorkCalendar, start: date, end: date) -> int:
    """Working days in (start, end]: start excluded, end included (0 when end == start)."""
    return calendar.working_days_between(start=start, end=end)


def _simple(received_day: date, calendar: WorkCalendar) -> _Statutory:
    # Answered on the spot: the day of receipt itself, rest day or not; no calendar involved.
    return _Statutory(received_day, False, "即时答复（受理当日24时前）")


def _ordinary(received_day: date, calendar: WorkCalendar) -> _Statutory:
    last_day, covered = calendar.add_working_days(start=received_day,
                                                  count=ORDINARY_WORKING_DAYS)
    return _Statutory(last_day, not covered, "7个工作日（自受理次日起算）")


def _complex(received_day: date, calendar: WorkCalendar) -> _Statutory:
    corresponding, clamped = _same_day_next_month(received_day)
    last_day, covered = calendar.first_working_day_on_or_after(corresponding)
    rule = "1个月（自受理次日起算，至次月对应日"
    rule += f"；次月无对应日，以月末{corresponding.isoformat()}为末日）" if clamped else "）"
    if last_day != corresponding:
        rule += (f"，{corresponding.isoformat()}为休息日，"
                 f"顺延至其后第一个工作日{last_day.isoformat()}")
    return _Statutory(last_day, not covered, rule)


def _difficult(received_day: date, calendar: WorkCalendar) -> _Statutory:
    last_day, covered = calendar.add_working_days(start=received_day,
                                                  count=DIFFICULT_WORKING_DAYS)
    return _Statutory(last_day, not covered, "1个工作日内转报上级主管部门（受理次日起第1个工作日）")


STATUTORY_RULES: dict[Tier, Callable[[date, WorkCalendar], _Statutory]] = {
    Tier.SIMPLE: _simple,
    Tier.ORDINARY: _ordinary,
    Tier.COMPLEX: _complex,
    Tier.DIFFICULT: _difficult,
}


def _same_day_next_month(day: date) -> tuple[date, bool]:
    """The corresponding day one month on, or that month's last day; True when clamped."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    last = _days_in_month(year, month)
    return date(year, month, min(day.day, last)), day.day > last


def _days_in_month(year: int, month: int) -> int:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (following - timedelta(days=1)).day


def _in_shanghai(moment: datetime, *, field: str) -> datetime:
    # A naive time could be UTC (a server) or local (a cadre's form); guessing shifts the day.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError(field=field,
                         reason="must carry a time zone (e.g. +08:00), got a naive time")
    return moment.astimezone(SHANGHAI)
