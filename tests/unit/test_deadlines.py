"""Response deadlines (domain.md §3): tiers, Civil Code counting, the official calendar,
provisional deadlines across the year boundary, and the upper level's own deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from models.domain.calendar import SHANGHAI, WorkCalendar, parse_schedule
from models.domain.deadlines import (
    Tier,
    end_of_day,
    response_deadline,
    working_days_between,
)
from models.domain.errors import InputError
from models.domain.official_calendar import builtin_calendar

# The README's format example. Illustrative only: NOT the real 2027 notice.
EXAMPLE_2027_YAML = """\
year: 2027
source: 国务院办公厅关于2027年部分节假日安排的通知
holidays:
  - 2027-01-01
  - 2027-02-06..2027-02-13
makeup_workdays:
  - 2027-02-14
"""


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def deadline(tier: Tier, received: str, *, calendar: WorkCalendar | None = None,
             assigner: datetime | None = None):
    return response_deadline(tier=tier, received_at=shanghai(received),
                             calendar=calendar or builtin_calendar(), assigner_due_at=assigner)


def with_example_2027() -> WorkCalendar:
    return builtin_calendar().with_schedule(
        parse_schedule(text=EXAMPLE_2027_YAML, fmt="yaml", source="2027.yaml"))


@pytest.mark.parametrize("tier, received, last_day", [
    # ordinary: 7 working days from the day after receipt
    pytest.param(Tier.ORDINARY, "2026-02-13 16:00", date(2026, 3, 2), id="spring-festival"),
    pytest.param(Tier.ORDINARY, "2026-09-30 09:00", date(2026, 10, 15), id="national-day"),
    pytest.param(Tier.ORDINARY, "2026-05-06 09:00", date(2026, 5, 14), id="makeup-saturday"),
    pytest.param(Tier.ORDINARY, "2026-02-09 09:00", date(2026, 2, 25),
                 id="makeup-saturday-feb14-counted"),
    pytest.param(Tier.ORDINARY, "2026-09-17 09:00", date(2026, 9, 28),
                 id="makeup-sunday-sep20-counted"),
    pytest.param(Tier.ORDINARY, "2026-03-02 09:00", date(2026, 3, 11), id="plain-weeks"),
    # complex: corresponding day next month, or its month-end, then the next working day
    pytest.param(Tier.COMPLEX, "2026-03-10 09:00", date(2026, 4, 10), id="corresponding-day"),
    pytest.param(Tier.COMPLEX, "2025-01-31 09:00", date(2025, 2, 28), id="month-end"),
    pytest.param(Tier.COMPLEX, "2024-01-31 09:00", date(2024, 2, 29), id="month-end-leap-year"),
    pytest.param(Tier.COMPLEX, "2026-01-31 09:00", date(2026, 2, 28),
                 id="month-end-on-makeup-saturday"),
    pytest.param(Tier.COMPLEX, "2025-12-31 09:00", date(2026, 2, 2),
                 id="month-end-across-year-then-weekend"),
    pytest.param(Tier.COMPLEX, "2026-09-03 09:00", date(2026, 10, 8), id="last-day-on-holiday"),
    pytest.param(Tier.COMPLEX, "2026-01-17 09:00", date(2026, 2, 24),
                 id="last-day-in-spring-festival"),
    pytest.param(Tier.COMPLEX, "2026-02-07 09:00", date(2026, 3, 9), id="last-day-on-sunday"),
    # difficult: transferred up by the first working day after receipt
    pytest.param(Tier.DIFFICULT, "2026-03-04 09:00", date(2026, 3, 5),
                 id="difficult-next-working-day"),
    pytest.param(Tier.DIFFICULT, "2026-02-13 17:30", date(2026, 2, 14),
                 id="difficult-onto-makeup-saturday"),
    pytest.param(Tier.DIFFICULT, "2026-09-30 17:30", date(2026, 10, 8),
                 id="difficult-over-national-day"),
    # simple: the day itself
    pytest.param(Tier.SIMPLE, "2026-03-04 23:30", date(2026, 3, 4), id="simple-same-day"),
])
def test_statutory_deadlines(tier, received, last_day):
    result = deadline(tier, received)
    assert result.last_day == last_day
    assert result.due_at == datetime(last_day.year, last_day.month, last_day.day, 23, 59, 59,
                                     tzinfo=SHANGHAI)
    assert (result.provisional, result.assigner_due_applied) == (False, False)


@pytest.mark.parametrize("tier, received, last_day", [
    pytest.param(Tier.ORDINARY, "2026-03-01 22:00", date(2026, 3, 10), id="ordinary-sunday"),
    pytest.param(Tier.ORDINARY, "2026-10-03 10:00", date(2026, 10, 15), id="ordinary-in-holiday"),
    pytest.param(Tier.COMPLEX, "2026-03-01 10:00", date(2026, 4, 1), id="complex-sunday"),
    pytest.param(Tier.DIFFICULT, "2026-10-02 10:00", date(2026, 10, 8), id="difficult-in-holiday"),
    pytest.param(Tier.SIMPLE, "2026-03-01 10:00", date(2026, 3, 1), id="simple-sunday-no-shift"),
])
def test_receipt_on_rest_day(tier, received, last_day):
    # The day of receipt is never counted, rest day or not; counting starts the next day.
    assert deadline(tier, received).last_day == last_day


def test_rule_says_what_was_applied():
    assert deadline(Tier.ORDINARY, "2026-09-30 09:00").rule == "7个工作日（自受理次日起算）"
    holiday_shift = deadline(Tier.COMPLEX, "2026-09-03 09:00").rule
    assert "2026-10-03为休息日" in holiday_shift and "2026-10-08" in holiday_shift
    assert "月末2026-02-28" in deadline(Tier.COMPLEX, "2026-01-31 09:00").rule


# --- the year boundary: the next year's notice is not known yet -------------------------------

@pytest.mark.parametrize("tier, received, estimated_last_day", [
    pytest.param(Tier.ORDINARY, "2026-12-30 10:00", date(2027, 1, 11), id="year-boundary"),
    pytest.param(Tier.COMPLEX, "2026-12-15 10:00", date(2027, 1, 15), id="year-boundary-complex"),
    pytest.param(Tier.DIFFICULT, "2026-12-31 10:00", date(2027, 1, 4),
                 id="year-boundary-difficult"),
])
def test_year_boundary_is_provisional_until_the_notice_is_loaded(tier, received,
                                                                  estimated_last_day):
    before = deadline(tier, received)
    assert (before.last_day, before.provisional) == (estimated_last_day, True)
    assert "暂定" in before.rule
    after = deadline(tier, received, calendar=with_example_2027())
    assert after.provisional is False
    assert "暂定" not in after.rule


def test_late_december_deadline_within_the_year_is_official():
    result = deadline(Tier.ORDINARY, "2026-12-20 10:00")
    assert (result.last_day, result.provisional) == (date(2026, 12, 29), False)


def test_loading_the_notice_can_move_the_date():
    # The estimate gives 02-05, 02-08…02-10 off; the (example) notice gives 02-06…02-13 off
    # and makes Sunday 02-14 a working day.
    before = deadline(Tier.ORDINARY, "2027-02-10 10:00")
    after = deadline(Tier.ORDINARY, "2027-02-10 10:00", calendar=with_example_2027())
    assert (before.last_day, before.provisional) == (date(2027, 2, 19), True)
    assert (after.last_day, after.provisional) == (date(2027, 2, 22), False)


def test_simple_tier_is_never_provisional():
    assert deadline(Tier.SIMPLE, "2027-06-01 10:00").provisional is False


# --- the upper level's deadline (上级交办期限) --------------------------------------------------

def test_assigner_earlier_wins():
    assigner = datetime(2026, 10, 9, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    result = deadline(Tier.ORDINARY, "2026-09-30 09:00", assigner=assigner)
    assert result.due_at == assigner
    assert result.due_at.tzinfo == SHANGHAI and result.due_at.hour == 17
    assert result.last_day == date(2026, 10, 9)
    assert result.assigner_due_applied is True
    assert "上级交办期限" in result.rule and "2026-10-15" in result.rule


@pytest.mark.parametrize("assigner", [
    pytest.param(shanghai("2026-10-20 17:00"), id="assigner-later-ignored"),
    pytest.param(shanghai("2026-10-15 23:59:59"), id="assigner-equal-ignored"),
])
def test_assigner_not_earlier_is_ignored(assigner):
    result = deadline(Tier.ORDINARY, "2026-09-30 09:00", assigner=assigner)
    assert result.last_day == date(2026, 10, 15)
    assert result.assigner_due_applied is False
    assert result.rule == "7个工作日（自受理次日起算）"


def test_assigner_earlier_stays_provisional_when_the_statutory_deadline_was():
    # Once the notice is loaded the statutory deadline may come first after all.
    result = deadline(Tier.ORDINARY, "2026-12-30 10:00", assigner=shanghai("2027-01-05 12:00"))
    assert (result.assigner_due_applied, result.provisional) == (True, True)


# --- time zones ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tier, received_at, last_day", [
    pytest.param(Tier.SIMPLE, datetime(2026, 9, 30, 20, 0, tzinfo=UTC), date(2026, 10, 1),
                 id="utc-input-converted"),
    pytest.param(Tier.ORDINARY, datetime(2026, 2, 12, 17, 0, tzinfo=UTC), date(2026, 3, 2),
                 id="utc-evening-is-next-shanghai-day"),
    pytest.param(Tier.ORDINARY, datetime(2026, 2, 12, 15, 59, tzinfo=UTC), date(2026, 2, 28),
                 id="utc-before-shanghai-midnight"),
    pytest.param(Tier.SIMPLE, datetime(2026, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=-5))),
                 date(2026, 3, 4), id="other-offset"),
])
def test_receipt_is_dated_in_shanghai(tier, received_at, last_day):
    result = response_deadline(tier=tier, received_at=received_at, calendar=builtin_calendar())
    assert result.last_day == last_day
    assert result.due_at.tzinfo == SHANGHAI


@pytest.mark.parametrize("field, received_at, assigner", [
    pytest.param("received_at", datetime(2026, 3, 4, 10, 0), None, id="naive-datetime-rejected"),
    pytest.param("assigner_due_at", shanghai("2026-03-04 10:00"), datetime(2026, 3, 6, 17, 0),
                 id="naive-assigner-rejected"),
])
def test_naive_times_are_rejected(field, received_at, assigner):
    with pytest.raises(InputError) as error:
        response_deadline(tier=Tier.ORDINARY, received_at=received_at,
                          calendar=builtin_calendar(), assigner_due_at=assigner)
    assert error.value.field == field
    assert isinstance(error.value, ValueError)


def test_tier_given_as_its_stored_string():
    result = response_deadline(tier="ordinary", received_at=shanghai("2026-09-30 09:00"),
                               calendar=builtin_calendar())
    assert result.last_day == date(2026, 10, 15)


def test_end_of_day():
    assert end_of_day(date(2026, 10, 15)).isoformat() == "2026-10-15T23:59:59+08:00"


# --- working days between two dates (for pauses) ---------------------------------------------

@pytest.mark.parametrize("start, end, count", [
    pytest.param(date(2026, 9, 30), date(2026, 10, 15), 7, id="national-day"),
    pytest.param(date(2026, 2, 13), date(2026, 3, 2), 7, id="spring-festival"),
    pytest.param(date(2026, 3, 2), date(2026, 3, 2), 0, id="same-day"),
    pytest.param(date(2026, 3, 6), date(2026, 3, 8), 0, id="weekend-only"),
    pytest.param(date(2026, 3, 6), date(2026, 3, 9), 1, id="end-included"),
])
def test_working_days_between(start, end, count):
    assert working_days_between(calendar=builtin_calendar(), start=start, end=end) == count


def test_working_days_between_inverts_add_working_days():
    calendar = builtin_calendar()
    start = date(2026, 1, 1)
    for count in range(0, 60, 7):
        end, _ = calendar.add_working_days(start=start, count=count)
        assert working_days_between(calendar=calendar, start=start, end=end) == count


def test_working_days_between_rejects_reversed_dates():
    with pytest.raises(ValueError):
        working_days_between(calendar=builtin_calendar(), start=date(2026, 3, 9),
                             end=date(2026, 3, 2))
