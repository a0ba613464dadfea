"""The working-day calendar: official years, estimates, operator-loaded notices, and the two
libraries checked against each other."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.domain.calendar import (
    CalendarFileError,
    WorkCalendar,
    YearSchedule,
    YearScheduleError,
    format_schedule,
    parse_schedule,
)
from models.domain.official_calendar import (
    ESTIMATE_SOURCE,
    builtin_calendar,
    estimated_schedule,
    official_schedules,
)

# The README's format example. Illustrative only: NOT the real 2027 notice.
EXAMPLE_2027_YAML = """\
year: 2027
source: 国务院办公厅关于2027年部分节假日安排的通知
holidays:            # every day off by the notice (ranges allowed)
  - 2027-01-01
  - 2027-02-06..2027-02-13
makeup_workdays:
  - 2027-02-14
"""
EXAMPLE_2027_CSV = """\
# the same notice as a spreadsheet export
date,kind,note
2027-01-01,holiday,元旦
2027-02-06..2027-02-13,holiday,"春节, 8天"

2027-02-14,workday,春节调休补班
"""
EXAMPLE_2027_HOLIDAYS = frozenset(
    [date(2027, 1, 1)] + [date(2027, 2, 6) + timedelta(days=i) for i in range(8)])


def days_of(year: int) -> list[date]:
    day, days = date(year, 1, 1), []
    while day.year == year:
        days.append(day)
        day += timedelta(days=1)
    return days


# --- the built-in calendar ------------------------------------------------------------------

def test_covered_years_are_exactly_the_notices_chinesecalendar_carries():
    assert builtin_calendar().covered_years == frozenset(range(2004, 2027))


@pytest.mark.parametrize("day, covered", [
    pytest.param(date(2026, 12, 31), True, id="last-official-day"),
    pytest.param(date(2027, 1, 1), False, id="next-year-not-official"),
    pytest.param(date(2003, 12, 31), False, id="before-the-library"),
])
def test_is_covered(day, covered):
    assert builtin_calendar().is_covered(day) is covered


@pytest.mark.parametrize("day, working", [
    pytest.param(date(2026, 1, 4), True, id="makeup-sunday-new-year"),
    pytest.param(date(2026, 2, 14), True, id="makeup-saturday-feb14"),
    pytest.param(date(2026, 2, 28), True, id="makeup-saturday-feb28"),
    pytest.param(date(2026, 5, 9), True, id="makeup-saturday-may9"),
    pytest.param(date(2026, 9, 20), True, id="makeup-sunday-sep20"),
    pytest.param(date(2026, 10, 10), True, id="makeup-saturday-oct10"),
    pytest.param(date(2026, 2, 23), False, id="spring-festival-monday"),
    pytest.param(date(2026, 10, 7), False, id="national-day-wednesday"),
    pytest.param(date(2026, 10, 11), False, id="ordinary-sunday"),
    pytest.param(date(2026, 10, 12), True, id="ordinary-monday"),
])
def test_official_2026(day, working):
    assert builtin_calendar().is_working_day(day) is working


@pytest.mark.parametrize("start, count, expected", [
    pytest.param(date(2026, 1, 1), 1, date(2026, 1, 4), id="makeup-sunday-jan4"),
    pytest.param(date(2026, 2, 9), 5, date(2026, 2, 14), id="makeup-saturday-feb14"),
    pytest.param(date(2026, 2, 24), 4, date(2026, 2, 28), id="makeup-saturday-feb28"),
    pytest.param(date(2026, 5, 6), 3, date(2026, 5, 9), id="makeup-saturday-may9"),
    pytest.param(date(2026, 9, 18), 1, date(2026, 9, 20), id="makeup-sunday-sep20"),
    pytest.param(date(2026, 10, 8), 2, date(2026, 10, 10), id="makeup-saturday-oct10"),
    pytest.param(date(2026, 2, 13), 7, date(2026, 3, 2), id="spring-festival"),
    pytest.param(date(2026, 9, 30), 7, date(2026, 10, 15), id="national-day"),
    pytest.param(date(2026, 3, 6), 0, date(2026, 3, 6), id="zero-days-is-start"),
])
def test_add_working_days(start, count, expected):
    assert builtin_calendar().add_working_days(start=start, count=count) == (expected, True)


def test_add_working_days_reports_uncovered_days_but_not_an_uncovered_start():
    calendar = builtin_calendar()
    last_official = date(2026, 12, 31)
    assert calendar.add_working_days(start=date(2026, 12, 30), count=1) == (last_official, True)
    assert calendar.add_working_days(start=date(2026, 12, 31), count=1)[1] is False
    # Only days after start are inspected: start in an uncovered year does not matter…
    assert calendar.add_working_days(start=date(2003, 12, 31), count=1) == (date(2004, 1, 2), True)


def test_add_working_days_rejects_negative_count():
    with pytest.raises(ValueError):
        builtin_calendar().add_working_days(start=date(2026, 3, 2), count=-1)


@pytest.mark.parametrize("day, expected, covered", [
    pytest.param(date(2026, 3, 2), date(2026, 3, 2), True, id="working-day-itself"),
    pytest.param(date(2026, 10, 1), date(2026, 10, 8), True, id="national-day"),
    pytest.param(date(2026, 2, 14), date(2026, 2, 14), True, id="makeup-saturday"),
    pytest.param(date(2027, 1, 1), date(2027, 1, 4), False, id="uncovered-year"),
])
def test_first_working_day_on_or_after(day, expected, covered):
    assert builtin_calendar().first_working_day_on_or_after(day) == (expected, covered)


def test_official_schedules_reproduce_chinesecalendar_day_by_day():
    import chinese_calendar

    calendar = WorkCalendar(schedules=official_schedules())
    mismatches = [day for year in range(2004, 2027) for day in days_of(year)
                  if calendar.is_working_day(day) != chinese_calendar.is_workday(day)]
    assert mismatches == []


def test_uncovered_year_without_estimate_is_plain_weekdays():
    calendar = WorkCalendar(schedules=[])
    assert calendar.covered_years == frozenset()
    assert [calendar.is_working_day(date(2027, 2, d)) for d in range(5, 9)] == [
        True, False, False, True]


def test_estimate_for_2027_has_festivals_and_no_makeup_days():
    estimate = estimated_schedule(2027)
    assert estimate.source == ESTIMATE_SOURCE
    assert {date(2027, 1, 1), date(2027, 2, 8), date(2027, 10, 1)} <= estimate.holidays
    assert estimate.makeup_workdays == frozenset()
    calendar = builtin_calendar()
    assert calendar.is_working_day(date(2027, 2, 8)) is False  # estimated Spring Festival
    assert calendar.is_covered(date(2027, 2, 8)) is False


def test_estimates_build_for_the_years_around_coverage():
    for year in (2003, 2027, 2028, 2030):
        assert estimated_schedule(year).year == year


def test_with_schedule_adds_a_year_and_leaves_the_original_alone():
    builtin = builtin_calendar()
    loaded = builtin.with_schedule(parse_schedule(text=EXAMPLE_2027_YAML, fmt="yaml",
                                                  source="2027.yaml"))
    assert 2027 in loaded.covered_years and 2027 not in builtin.covered_years
    assert loaded.is_working_day(date(2027, 2, 14)) is True  # the notice's make-up Sunday
    assert builtin.is_working_day(date(2027, 2, 14)) is False
    assert loaded.add_working_days(start=date(2027, 2, 10), count=1) == (date(2027, 2, 14), True)


def test_with_schedule_replaces_an_official_year():
    replacement = YearSchedule(year=2026, holidays=frozenset({date(2026, 1, 1)}),
                               makeup_workdays=frozenset(), source="test")
    calendar = builtin_calendar().with_schedule(replacement)
    assert calendar.is_working_day(date(2026, 2, 16)) is True
    assert calendar.is_working_day(date(2026, 2, 14)) is False


@pytest.mark.parametrize("holidays, makeup, field", [
    pytest.param({date(2027, 1, 1)}, set(), "holidays", id="day-in-other-year"),
    pytest.param({date(2026, 2, 14)}, {date(2026, 2, 14)}, "makeup_workdays", id="both"),
    pytest.param({date(2026, 1, 1)}, {date(2026, 2, 16)}, "makeup_workdays", id="weekday-makeup"),
])
def test_year_schedule_rejects_contradictions(holidays, makeup, field):
    with pytest.raises(YearScheduleError) as error:
        YearSchedule(year=2026, holidays=frozenset(holidays), makeup_workdays=frozenset(makeup),
                     source="test")
    assert error.value.field == field


# --- the two libraries against each other ----------------------------------------------------
# holidays.China lists statutory days and the weekdays given off in lieu ("Day off (substituted
# from …)"), and records each substituted weekend day in `weekend_workdays`; it omits weekend
# days inside a break, which chinesecalendar lists. So the day-off *sets* differ on weekends by
# design, but the working-day answers can be compared exactly.

@pytest.fixture(scope="module")
def china_holidays():
    import holidays

    return holidays.China(years=range(2004, 2027))


def test_every_holidays_package_day_off_is_off_in_our_calendar(china_holidays):
    calendar = builtin_calendar()
    assert [d for d in china_holidays if 2010 <= d.year <= 2026
            and calendar.is_working_day(d)] == []


def test_weekdays_off_agree_with_holidays_package_2010_2026(china_holidays):
    calendar = builtin_calendar()
    disagreements = [d for y in range(2010, 2027) for d in days_of(y) if d.weekday() < 5
                     and (not calendar.is_working_day(d)) != (d in china_holidays)]
    assert disagreements == []


def test_weekend_workdays_agree_with_holidays_package_2010_2026(china_holidays):
    calendar = builtin_calendar()
    disagreements = [d for y in range(2010, 2027) for d in days_of(y) if d.weekday() >= 5
                     and calendar.is_working_day(d) != (d in china_holidays.weekend_workdays)]
    assert disagreements == []


def test_the_only_disagreement_2004_2009_is_new_years_eve_2005(china_holidays):
    # The 2006 notice made Saturday 2005-12-31 a working day (to give 2006-01-03 off);
    # holidays has it, chinesecalendar 1.11.0 does not. Kept visible here, not papered over:
    # if either library changes, this test says so.
    calendar = builtin_calendar()
    disagreements = [d for y in range(2004, 2010) for d in days_of(y)
                     if calendar.is_working_day(d) != china_holidays.is_working_day(d)]
    assert disagreements == [date(2005, 12, 31)]


# --- calendar files --------------------------------------------------------------------------

def test_yaml_example_parses():
    schedule = parse_schedule(text=EXAMPLE_2027_YAML, fmt="yaml", source="2027.yaml")
    assert schedule == YearSchedule(
        year=2027, holidays=EXAMPLE_2027_HOLIDAYS, makeup_workdays=frozenset({date(2027, 2, 14)}),
        source="国务院办公厅关于2027年部分节假日安排的通知 (2027.yaml)")


def test_csv_example_parses_to_the_same_days():
    schedule = parse_schedule(text=EXAMPLE_2027_CSV, fmt="csv", source="2027.csv")
    assert (schedule.year, schedule.holidays, schedule.makeup_workdays, schedule.source) == (
        2027, EXAMPLE_2027_HOLIDAYS, frozenset({date(2027, 2, 14)}), "2027.csv")


def test_yaml_accepts_flow_lists_quotes_and_no_makeup_days():
    text = 'year: 2027\nholidays: ["2027-01-01", 2027-10-01..2027-10-07]\nmakeup_workdays:\n'
    schedule = parse_schedule(text=text, fmt="yaml", source="f.yaml")
    assert len(schedule.holidays) == 8 and schedule.makeup_workdays == frozenset()
    assert schedule.source == "f.yaml"


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
def test_every_official_year_round_trips(fmt):
    for schedule in official_schedules():
        text = format_schedule(schedule=schedule, fmt=fmt)
        again = parse_schedule(text=text, fmt=fmt, source=f"{schedule.year}.{fmt}")
        assert (again.year, again.holidays, again.makeup_workdays) == (
            schedule.year, schedule.holidays, schedule.makeup_workdays), schedule.year


def yaml_error(text: str) -> CalendarFileError:
    with pytest.raises(CalendarFileError) as error:
        parse_schedule(text=text, fmt="yaml", source="2027.yaml")
    return error.value


def csv_error(text: str) -> CalendarFileError:
    with pytest.raises(CalendarFileError) as error:
        parse_schedule(text=text, fmt="csv", source="2027.csv")
    return error.value


@pytest.mark.parametrize("text, line, reason", [
    pytest.param("year: 2027\nholidays:\n  - 2027-01-01\n  - 2028-01-01\n", 4,
                 "2028-01-01 is not in 2027", id="wrong-year"),
    pytest.param("year: 2027\nholidays:\n  - 2027-02-30\n", 3, "not a date", id="no-such-day"),
    pytest.param("year: 2027\nholidays:\n  - 27-02-03\n", 3, "not a date", id="unparseable-date"),
    pytest.param("year: 2027\nholidays:\n  - 2027-02-13..2027-02-06\n", 3,
                 "ends before it starts", id="range-end-before-start"),
    pytest.param("year: 2027\nholidays:\n  - 2027-02-06..2027-05-13\n", 3,
                 "longer than 31 days", id="range-too-long"),
    pytest.param("year: 2027\nholidays:\n  - 2027-02-06..2027-02-14\n"
                 "makeup_workdays:\n  - 2027-02-14\n", 5,
                 "both as a holiday and as a make-up workday (also on line 3)",
                 id="holiday-and-makeup"),
    pytest.param("year: 2027\nholidays:\n  - 2027-01-01\nmakeup_workdays:\n  - 2027-02-15\n", 5,
                 "2027-02-15 is a Monday", id="makeup-on-weekday"),
    pytest.param("# notice\nholidays:\n  - 2027-01-01\n", 2, "missing", id="missing-year"),
    pytest.param("year: next\nholidays:\n  - 2027-01-01\n", 1, "not a year", id="year-not-number"),
    pytest.param("year: 2027\nholidays: []\n", 2, "no holidays listed", id="empty-holidays"),
    pytest.param("year: 2027\n", 1, "no holidays listed", id="missing-holidays"),
    pytest.param("year: 2027\nholiday:\n  - 2027-01-01\n", 2, "unknown key 'holiday'",
                 id="unknown-key"),
    pytest.param("year: 2027\nyear: 2028\n", 2, "given twice", id="duplicate-key"),
    pytest.param("year: 2027\nholidays: 2027-01-01\n", 2, "expected a list", id="not-a-list"),
    pytest.param("year: 2027\nholidays:\n  - 2027-01-01\n - oops: [\n", 4, "not valid YAML",
                 id="yaml-syntax"),
    pytest.param("- 2027-01-01\n", 1, "expected keys", id="not-a-mapping"),
    pytest.param("", 1, "empty", id="empty-file"),
])
def test_yaml_errors_name_line_and_reason(text, line, reason):
    error = yaml_error(text)
    assert error.line == line
    assert reason in error.reason
    assert str(error).startswith(f"2027.yaml:{line}: ")


@pytest.mark.parametrize("text, line, reason", [
    pytest.param("date,kind,note\n2027-01-01,holiday,\n2028-01-01,holiday,\n", 3,
                 "2028-01-01 is not in 2027", id="wrong-year"),
    pytest.param("date,kind,note\n2027-01-01,holiday,\n2027-13-01,holiday,\n", 3, "not a date",
                 id="unparseable-date"),
    pytest.param("date,kind,note\n2027-02-13..2027-02-06,holiday,\n", 2,
                 "ends before it starts", id="range-end-before-start"),
    pytest.param("date,kind,note\n2027-02-14,holiday,\n2027-02-14,workday,\n", 3,
                 "both as a holiday and as a make-up workday", id="holiday-and-makeup"),
    pytest.param("date,kind,note\n2027-01-01,holiday,\n2027-02-15,workday,\n", 3,
                 "is a Monday", id="makeup-on-weekday"),
    pytest.param("date,kind,note\n2027-01-01,holiday,\n2027-02-14,补班,\n", 3,
                 "unknown kind '补班'", id="unknown-kind"),
    pytest.param("date,kind,note\n2027-02-14,workday,\n", 1, "no holidays listed",
                 id="empty-holidays"),
    pytest.param("# nothing yet\ndate,kind,note\n", 2, "no dates listed, so no year",
                 id="missing-year"),
    pytest.param("day,type\n2027-01-01,holiday\n", 1, "header", id="bad-header"),
    pytest.param("date,kind,note\n2027-01-01,holiday,元旦,extra\n", 2, "expected 3 columns",
                 id="extra-column"),
    pytest.param("", 1, "empty", id="empty-file"),
])
def test_csv_errors_name_line_and_reason(text, line, reason):
    error = csv_error(text)
    assert error.line == line
    assert reason in error.reason
    assert str(error).startswith(f"2027.csv:{line}: ")


def test_error_without_line_still_reads_well():
    # The service layer raises this for a file it cannot read.
    assert str(CalendarFileError("/tmp/x.yaml: file not found")) == "/tmp/x.yaml: file not found"
