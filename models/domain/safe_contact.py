"""Safe contact: a victim may be marked "do not contact directly", given a safe channel and
quiet hours. Nothing the system sends or schedules may break that: visit appointments fall
outside her quiet hours, and every mail that could lead someone to her says how (not) to
reach her — without the channel itself, which is personal data and stays in the case record.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")

# Visits are planned in the working part of the day; the preferred start is mid-morning.
PREFERRED_VISIT_TIME = time(10, 0)
VISIT_DAY_START = time(8, 0)
VISIT_DAY_END = time(20, 0)
SLOT = timedelta(minutes=30)


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time  # may be earlier than start: the span wraps midnight

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


def parse_quiet_hours(value: str, *, field: str = "quiet_hours") -> QuietHours:
    match = _QUIET.match(value.strip())
    if not match:
        raise _quiet_hours_error(value, "不是时段", field=field)
    start = time(int(match[1]), int(match[2]))
    end = time(int(match[3]), int(match[4]))
    if start == end:
        raise _quiet_hours_error(value, "开始和结束时间相同", field=field)
    return QuietHours(start=start, end=end)


def _quiet_hours_error(value: str, reason: str, *, field: str) -> InputError:
    return InputError(field=field, reason=(
        f"{reason}（填的是 {value!r}；应为 时:分-时:分，如 20:00-08:00）"))


@dataclass(frozen=True)
class SafeContact:
    do_not_contact: bool = False
    has_safe_channel: bool = False
    quiet_hours: tuple[QuietHours, ...] = ()  # everyone's in the case: all are honoured

    @property
    def restricted(self) -> bool:
        return self.do_not_contact or bool(self.quiet_hours)

    def quiet_at(self, moment: time) -> bool:
        return any(span.contains(moment) for span in self.quiet_hours)


class NoSafeSlotError(ValueError):
    pass


def visit_slot(*, day: date, safety: SafeContact, duration: timedelta = timedelta(hours=1)
               ) -> datetime:
    """When on `day` to plan a visit: the preferred time, or the first half-hour at or after it
    (then before it) whose whole duration lies outside the quiet hours, within 08:00–20:00."""
    def fits(start: datetime) -> bool:
        moment = start
        while moment < start + duration:
            if safety.quiet_at(moment.time()):
                return False
            moment += timedelta(minutes=5)
        return True

    preferred = datetime.combine(day, PREFERRED_VISIT_TIME, tzinfo=SHANGHAI)
    first = datetime.combine(day, VISIT_DAY_START, tzinfo=SHANGHAI)
    last = datetime.combine(day, VISIT_DAY_END, tzinfo=SHANGHAI) - duration
    later = _slots(preferred, last, step=SLOT)
    earlier = _slots(preferred - SLOT, first, step=-SLOT)
    for start in [*later, *earlier]:
        if fits(start):
            return start
    raise NoSafeSlotError(
        f"quiet hours {', '.join(map(str, safety.quiet_hours))} leave no time between "
        f"{VISIT_DAY_START:%H:%M} and {VISIT_DAY_END:%H:%M} for a visit")


def _slots(start: datetime, stop: datetime, *, step: timedelta) -> list[datetime]:
    out = []
    moment = start
    while (moment <= stop) if step > timedelta(0) else (moment >= stop):
        out.append(moment)
        moment += step
    return out


def safety_note(safety: SafeContact) -> str | None:
    """One line for a mail to anyone who might reach the victim; None when nothing applies."""
    parts = []
    if safety.do_not_contact:
        channel = "请经案件记录中登记的安全渠道联系" if safety.has_safe_channel else "请先与负责的妇联干部联系"
        parts.append(f"当事人要求不要直接联系（电话、上门均可能危及其安全），{channel}")
    elif safety.has_safe_channel:
        parts.append("联系当事人请使用案件记录中登记的安全渠道")
    if safety.quiet_hours:
        parts.append(f"请勿在 {'、'.join(map(str, safety.quiet_hours))} 联系当事人")
    return "；".join(parts) + "。" if parts else None
