"""The supervisors' monthly statistics go out on the first working day of each month, by the
official calendar (models.domain.statistics.monthly_statistics_period), are made up later in
the month when nothing ran that day (models.domain.digest.monthly_statistics_day), and show
the month's counts (models.domain.statistics.monthly_mail_context)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.digest import is_stale, monthly_statistics_day
from models.domain.ledgers import Period
from models.domain.notice_kinds import NoticeKind
from models.domain.official_calendar import official_schedules
from models.domain.statistics import monthly_mail_context, monthly_statistics_period
from notifications.message import render_mail

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


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(("when", "day"), [
    pytest.param("2023-10-07T08:30:00", date(2023, 10, 7), id="the-make-up-saturday-at-0830"),
    pytest.param("2023-10-07T08:29:59", None, id="not-before-0830"),
    pytest.param("2023-10-02T10:00:00", None, id="not-on-a-holiday-monday"),
    pytest.param("2023-10-10T09:00:00", date(2023, 10, 7), id="made-up-later-in-the-month"),
    pytest.param("2023-10-10T18:30:00", None, id="not-after-the-sending-window"),
    pytest.param("2023-10-08T10:00:00", date(2023, 10, 7), id="a-make-up-sunday-too"),
])
def test_which_months_mail_a_sweep_makes(when, day):
    assert monthly_statistics_day(as_of=at(when), calendar=CALENDAR) == day


@pytest.mark.parametrize(("when", "stale"), [
    ("2023-10-31T17:00:00", False),
    ("2023-11-01T08:30:00", True),
])
def test_a_months_mail_is_stale_once_the_month_is_over(when, stale):
    assert is_stale(kind=NoticeKind.MONTHLY_STATISTICS, day=date(2023, 10, 7), as_of=at(when),
                    calendar=CALENDAR) is stale


def test_the_mail_shows_the_month_the_counts_and_the_boards_page():
    period = Period(first=date(2026, 9, 1), last=date(2026, 9, 30))
    tally = {"received": 7, "answered": 4, "answered_on_time": 3, "referrals.late": 1}
    context = monthly_mail_context(name="东湖镇", under="990102001", period=period, tally=tally,
                                   public_url="https://wq.example/",
                                   attachment_name="统计表_990102001_2026-09-01_2026-09-30.xlsx")
    mail = render_mail(template="monthly_statistics", context=context, to=["sup@example.org"],
                       notice_key="digest:monthly:user:1:2026-10-08")
    assert mail.subject == "【月度统计】东湖镇 2026年9月：收到投诉 7 件，按时答复率 75.0%"
    assert "    转介·反馈逾期：1" in mail.text and "    调解·调解未果：0" in mail.text
    assert "https://wq.example/stats?under=990102001&first=2026-09-01&last=2026-09-30" in mail.text
    assert "《统计表_990102001_2026-09-01_2026-09-30.xlsx》" in mail.html


def test_the_first_working_day_of_a_month_is_never_after_the_10th():
    """prefect.yaml's monthly-statistics cron fires on the 1st to the 10th only."""
    latest = max(CALENDAR.first_working_day_on_or_after(date(s.year, month, 1))[0].day
                 for s in official_schedules() for month in range(1, 13))
    assert latest <= 10
