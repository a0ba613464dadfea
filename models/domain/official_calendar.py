"""The built-in working-day calendar, from two libraries that play different parts.

- `chinesecalendar` transcribes the State Council's yearly notices. The years it carries
  (checked to hold a whole notice) are the *covered* years: official, never provisional.
- `holidays` answers for any year, silently estimating when it has no notice. It is used only
  for years `chinesecalendar` lacks, and the calendar reports every answer that relied on it,
  so deadlines computed from it are marked provisional.

Both libraries are imported inside the functions: `holidays` loads every country's module and
takes seconds to import, which only the first estimate should pay.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date

from models.domain.calendar import WorkCalendar, YearSchedule

ESTIMATE_SOURCE = "estimate (holidays package)"

# Festivals every notice since 2000 arranges (names as chinese_calendar spells them).
ALWAYS_ARRANGED = frozenset({"New Year's Day", "Spring Festival", "Labour Day", "National Day"})
# State Council Order 513 made Qingming and Dragon Boat statutory holidays from 2008. Mid-Autumn
# too, but it cannot be required: when it falls in the National Day week the notice (and the
# library) files it under National Day, as in 2020.
ARRANGED_SINCE_2008 = frozenset({"Tomb-sweeping Day", "Dragon Boat Festival"})


def official_schedules() -> list[YearSchedule]:
    """One schedule per year whose whole notice chinesecalendar carries (2004–2026 in 1.11.0).

    A year the library mentions only in part (say, next New Year's Day, listed early) is left
    out, so the calendar treats it as uncovered rather than trusting half a notice.
    """
    import chinese_calendar
    from chinese_calendar import constants

    days_off: defaultdict[int, set[date]] = defaultdict(set)
    festivals: defaultdict[int, set[str]] = defaultdict(set)
    makeup_workdays: defaultdict[int, set[date]] = defaultdict(set)
    for day, festival in constants.holidays.items():
        days_off[day.year].add(day)
        festivals[day.year].add(festival)
    for day in constants.workdays:
        makeup_workdays[day.year].add(day)

    source = f"chinesecalendar {chinese_calendar.__version__}"
    return [
        YearSchedule(year=year, holidays=frozenset(days_off[year]),
                     makeup_workdays=frozenset(makeup_workdays[year]), source=source)
        for year in sorted(days_off.keys() | makeup_workdays.keys())
        if _whole_notice(year=year, festivals=festivals[year])
    ]


def _whole_notice(*, year: int, festivals: set[str]) -> bool:
    required = ALWAYS_ARRANGED | (ARRANGED_SINCE_2008 if year >= 2008 else frozenset())
    return required <= festivals


@functools.cache
def estimated_schedule(year: int) -> YearSchedule:
    """A best guess for a year without a known notice, from the holidays package.

    Its days off are the statutory days plus its own guesses at shifted days; make-up workdays
    are taken only where the package lists substituted days (it does not for a year whose
    notice it lacks, so normally there are none).
    """
    import holidays

    china = holidays.China(years=year)
    days_off = frozenset(day for day in china if day.year == year)
    # A notice can move a day in the previous December; keep only this year's, as YearSchedule
    # requires, and never a day the package also lists as off.
    makeup_workdays = frozenset(day for day in china.weekend_workdays
                                if day.year == year and day not in days_off)
    return YearSchedule(year=year, holidays=days_off, makeup_workdays=makeup_workdays,
                        source=ESTIMATE_SOURCE)


@functools.cache
def builtin_calendar() -> WorkCalendar:
    """Official years from chinesecalendar, estimates for every other year."""
    return WorkCalendar(schedules=official_schedules(), estimate=estimated_schedule)
