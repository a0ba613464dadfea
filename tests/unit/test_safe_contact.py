"""Safe contact: quiet hours, where a visit may be planned, and what mails say (pure)."""

from __future__ import annotations

from datetime import date, time

import pytest

from models.domain.errors import InputError
from models.domain.safe_contact import (
    NoSafeSlotError,
    SafeContact,
    parse_quiet_hours,
    safety_note,
    visit_slot,
)

DAY = date(2026, 10, 12)


@pytest.mark.parametrize(("text", "inside", "outside"), [
    pytest.param("20:00-08:00", [time(23), time(0), time(7, 59), time(20)], [time(8), time(12)], id="wraps-midnight"),
    pytest.param("09:00-17:00", [time(9), time(16, 59)], [time(8, 59), time(17), time(22)], id="daytime"),
])
def test_quiet_hours_contain(text, inside, outside):
    quiet = parse_quiet_hours(text)
    assert all(quiet.contains(t) for t in inside)
    assert not any(quiet.contains(t) for t in outside)
    assert str(quiet) == text


@pytest.mark.parametrize("text", ["", "9-17", "25:00-08:00", "08:00-08:00", "08:00–09:00", "08:00"])
def test_bad_quiet_hours_name_the_field(text):
    with pytest.raises(InputError, match="quiet_hours"):
        parse_quiet_hours(text)


@pytest.mark.parametrize(("quiet", "expected"), [
    pytest.param(None, time(10), id="no-wishes-mid-morning"),
    pytest.param("20:00-08:00", time(10), id="night-quiet-unaffected"),
    pytest.param("09:00-17:00", time(17), id="day-quiet-after-work"),
    pytest.param("10:00-11:00", time(11), id="short-gap-just-after"),
    pytest.param("09:30-20:00", time(8, 30), id="only-early-morning-left"),
])
def test_visit_slot_lies_outside_quiet_hours(quiet, expected):
    safety = SafeContact(quiet_hours=(parse_quiet_hours(quiet),) if quiet else ())
    slot = visit_slot(day=DAY, safety=safety)
    assert slot.time() == expected and slot.date() == DAY
    if quiet:
        assert not any(safety.quiet_at(time(slot.hour, m)) for m in (0, 30)), slot


def test_no_slot_when_quiet_hours_cover_the_visiting_day():
    with pytest.raises(NoSafeSlotError):
        visit_slot(day=DAY, safety=SafeContact(quiet_hours=(parse_quiet_hours("07:00-21:00"),)))


def test_safety_note_says_how_not_to_reach_her_without_the_channel():
    assert safety_note(SafeContact()) is None
    note = safety_note(SafeContact(do_not_contact=True, has_safe_channel=True,
                                   quiet_hours=(parse_quiet_hours("20:00-08:00"),)))
    assert "不要直接联系" in note and "安全渠道" in note and "20:00-08:00" in note
    assert "负责的妇联干部" in safety_note(SafeContact(do_not_contact=True))


def test_everyones_quiet_hours_are_honoured():
    safety = SafeContact(quiet_hours=(parse_quiet_hours("20:00-08:00"), parse_quiet_hours("08:00-12:00")))
    assert visit_slot(day=DAY, safety=safety).time() == time(12)
    assert "20:00-08:00、08:00-12:00" in safety_note(safety)
