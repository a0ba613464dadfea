"""The supervisors' monthly statistics go out on the first working day of each month, by the
official calendar (models.domain.statistics.monthly_statistics_period)."""

from __future__ import annotations

from datetime import date

import pytest

from models.domain.calendar import WorkCalendar
from models.domain.official_calendar import official_schedules
from models.domain.statistics import monthly_statistics_period

CALENDAR = WorkCalendar(schedules=official_schedules())


@pytest.mark.parametrize(("day", "last_month"), [
    pytest.param(date(2026, 11, 2), (date(2026, 10, 1), date(2026, 10, 31)),
                 id="monday-the-2nd-after-a-weekend-1st"),
    pytest.param(date(2026, 12, 1), (date(2026, 11, 1), date(2026, 11, 30)), id="an-ordinary-1st"),
    pytest.param(date(2023, 10, 7), (date(2023, 9, 1), date(2023, 9, 30)),
                 id="a-make-up-saturday-after-national-day"),
    pytest.param(date(2026, 1, 4), (date(2025, 12, 1), date(2025, 12, 31)),
                 id="a-make-up-sunday-after-new-year-across-the-year"),
    pytest.param(date(2025, 6, 3), (date(2025, 5, 1), date(2025, 5, 31)),
                 id="the-tuesday-after-a-holiday-monday"),
    pytest.param(date(2026, 3, 2), (date(2026, 2, 1), date(2026, 2, 28)), id="after-february"),
])
def test_the_first_working_day_sends_last_month(day, last_month):
    period = monthly_statistics_period(day, calendar=CALENDAR)
    assert period is not None and (period.first, period.last) == last_month


@pytest.mark.parametrize("day", [
    pytest.param(date(2025, 6, 2), id="a-holiday-monday-is-not"),
    pytest.param(date(2024, 10, 7), id="the-last-day-of-national-day-is-not"),
    pytest.param(date(2023, 10, 1), id="a-holiday-1st-is-not"),
    pytest.param(date(2026, 11, 1), id="a-sunday-1st-is-not"),
    pytest.param(date(2026, 11, 3), id="the-second-working-day-is-not"),
    pytest.param(date(2023, 10, 8), id="the-sunday-after-the-make-up-saturday-is-not"),
])
def test_other_days_send_nothing(day):
    assert monthly_statistics_period(day, calendar=CALENDAR) is None
