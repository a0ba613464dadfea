"""The reminder and escalation policy, pure: table-driven, time passed in."""

from __future__ import annotations

from datetime import datetime

import pytest

from models.domain.calendar import SHANGHAI
from models.domain.jurisdiction import Level
from models.domain.official_calendar import builtin_calendar
from models.domain.reminders import (
    CaseClock,
    ReminderPolicy,
    escalation_chain,
    next_check,
    owed_and_next_check,
    owed_notices,
    sending_instant,
    still_applies,
)

CAL = builtin_calendar()
POLICY = ReminderPolicy()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def clock(**changes) -> CaseClock:
    base = dict(case_id=7, tier="ordinary", jurisdiction_code="990102001001",
                received_at=at("2026-09-30T10:15:00"), response_due_at=at("2026-10-15T23:59:59"),
                answered=False, paused=False, closed=False, upper_result=False)
    return CaseClock(**{**base, **changes})


def owed(case: CaseClock, when: str, policy: ReminderPolicy = POLICY) -> list[tuple[str, str, str]]:
    return [(n.kind, n.recipient_jurisdiction, n.due_at.strftime("%m-%d %H:%M"))
            for n in owed_notices(case, as_of=at(when), calendar=CAL, policy=policy)]


@pytest.mark.parametrize(("moment", "expected"), [
    pytest.param("2026-10-14T08:00:00", "2026-10-14T09:00:00", id="before-hours-same-day"),
    pytest.param("2026-10-14T13:00:00", "2026-10-14T13:00:00", id="within-hours"),
    pytest.param("2026-10-14T22:30:00", "2026-10-15T09:00:00", id="night-next-morning"),
    pytest.param("2026-10-02T10:00:00", "2026-10-08T09:00:00", id="national-day"),
    pytest.param("2026-10-09T20:00:00", "2026-10-10T09:00:00", id="makeup-saturday"),
    pytest.param("2026-02-13T19:00:00", "2026-02-14T09:00:00", id="spring-festival-makeup"),
    pytest.param("2026-10-17T10:00:00", "2026-10-19T09:00:00", id="weekend"),
])
def test_sending_instant_keeps_to_working_hours(moment, expected):
    assert sending_instant(at(moment), calendar=CAL, policy=POLICY) == at(expected)


@pytest.mark.parametrize(("when", "expected"), [
    pytest.param("2026-10-13T23:00:00", [], id="nothing-yet"),
    pytest.param("2026-10-14T09:00:00", [("reminder_before", "990102001001", "10-14 09:00")], id="day-before"),
    pytest.param("2026-10-15T12:00:00", [("reminder_before", "990102001001", "10-14 09:00"),
                                         ("reminder_due", "990102001001", "10-15 09:00")], id="due-day"),
    pytest.param("2026-10-16T09:00:00", [("escalation", "990102001", "10-16 09:00")], id="breach-superseded-reminders"),
    pytest.param("2026-10-21T09:00:00", [("escalation", "990102001", "10-16 09:00"),
                                         ("escalation", "990102", "10-21 09:00")], id="second-level-3-working-days"),
])
def test_ordinary_case_notices(when, expected):
    assert owed(clock(), when) == expected


@pytest.mark.parametrize("state", [
    pytest.param({"answered": True}, id="answered"),
    pytest.param({"paused": True}, id="paused"),
    pytest.param({"closed": True}, id="closed"),
])
def test_stopped_clock_owes_nothing(state):
    assert owed(clock(**state), "2026-10-21T09:00:00") == []
    assert next_check(clock(**state), after=at("2026-10-01T00:00:00"), calendar=CAL, policy=POLICY) is None


def test_reminder_meant_for_before_receipt_is_skipped():
    same_day = clock(tier="simple", received_at=at("2026-10-14T10:00:00"),
                     response_due_at=at("2026-10-14T23:59:59"))
    assert owed(same_day, "2026-10-14T23:00:00") == []
    assert owed(same_day, "2026-10-15T09:00:00") == [("escalation", "990102001", "10-15 09:00")]


def test_deadline_on_the_makeup_saturday_gets_reminded_that_morning():
    case = clock(received_at=at("2026-09-29T10:00:00"), response_due_at=at("2026-10-10T23:59:59"))
    assert ("reminder_due", "990102001001", "10-10 09:00") in owed(case, "2026-10-10T10:00:00")
    assert ("reminder_before", "990102001001", "10-09 09:00") in owed(case, "2026-10-10T10:00:00")


def test_next_check_is_the_next_instant_something_falls_due():
    assert next_check(clock(), after=at("2026-10-01T00:00:00"), calendar=CAL, policy=POLICY) == at("2026-10-14T09:00:00")
    assert next_check(clock(), after=at("2026-10-14T09:00:00"), calendar=CAL, policy=POLICY) == at("2026-10-15T09:00:00")
    assert next_check(clock(), after=at("2026-10-21T09:00:00"), calendar=CAL, policy=POLICY) is None


@pytest.mark.parametrize("case", [
    pytest.param(clock(), id="ordinary"),
    pytest.param(clock(answered=True), id="answered"),
    pytest.param(clock(paused=True), id="paused"),
    pytest.param(clock(closed=True), id="closed"),
    pytest.param(clock(jurisdiction_code="990102001"), id="township-case"),
    pytest.param(clock(tier="difficult", received_at=at("2026-11-02T22:00:00"),
                       response_due_at=at("2026-11-03T23:59:59")), id="difficult"),
    pytest.param(clock(tier="difficult", upper_result=True), id="difficult-upper-reported"),
])
@pytest.mark.parametrize("when", ["2026-09-30T10:15:00", "2026-10-14T09:00:00",
                                  "2026-10-15T12:00:00", "2026-10-16T09:00:00",
                                  "2026-10-22T09:00:00", "2026-11-25T09:00:00",
                                  "2027-03-01T09:00:00"])
def test_one_pass_answers_as_owed_notices_and_next_check_do(case, when):
    """What the sweep plans from: the same notices and next check as the two questions asked
    apart."""
    assert owed_and_next_check(case, as_of=at(when), calendar=CAL, policy=POLICY) == (
        owed_notices(case, as_of=at(when), calendar=CAL, policy=POLICY),
        next_check(case, after=at(when), calendar=CAL, policy=POLICY))


@pytest.mark.parametrize(("code", "up_to", "chain"), [
    pytest.param("990102001001", Level.COUNTY, ("990102001", "990102"), id="village-to-county"),
    pytest.param("990102001", Level.COUNTY, ("990102",), id="township-to-county"),
    pytest.param("990102", Level.COUNTY, ("9901",), id="county-still-tells-one-level-up"),
    pytest.param("990102001001", Level.TOWNSHIP, ("990102001",), id="stop-at-township"),
])
def test_escalation_chain(code, up_to, chain):
    assert escalation_chain(code, up_to=up_to) == chain


def test_difficult_case_transfer_at_once_and_only_the_latest_tracking():
    case = clock(tier="difficult", received_at=at("2026-11-02T22:00:00"),
                 response_due_at=at("2026-11-03T23:59:59"))
    assert owed(case, "2026-11-02T22:00:00") == [("difficult_transfer", "990102001", "11-02 22:00")]
    later = owed(case, "2026-11-25T09:00:00")  # 7 and 14 working days have passed
    assert later == [("difficult_transfer", "990102001", "11-02 22:00"),
                     ("difficult_tracking", "990102001001", "11-20 09:00")]
    assert owed(clock(tier="difficult", upper_result=True, received_at=at("2026-11-02T22:00:00")),
                "2026-11-25T09:00:00") == [("difficult_transfer", "990102001", "11-02 22:00")]


def test_superseded_reminder_no_longer_applies():
    first = owed_notices(clock(), as_of=at("2026-10-14T09:00:00"), calendar=CAL, policy=POLICY)[0]
    key = f"{first.key}:to:3"  # as stored: the owed key and its recipient

    def applies(case: CaseClock, when: str) -> bool:
        return still_applies(key, kind=first.kind, owed_now=owed_notices(
            case, as_of=at(when), calendar=CAL, policy=POLICY))

    assert applies(clock(), "2026-10-15T08:00:00")
    assert not applies(clock(), "2026-10-16T09:00:00")
    assert not applies(clock(answered=True), "2026-10-14T10:00:00")


def test_a_report_made_at_once_stands_whatever_is_owed_now():
    assert still_applies("case:7:at_once:to:3", kind="at_once", owed_now=[])
    assert not still_applies("case:7:at_once:to:3:again:to:3", kind="at_once_again", owed_now=[])


def test_last_call_reminder_for_demos():
    policy = ReminderPolicy(last_call_minutes=2, working_days_only=False)
    case = clock(received_at=at("2026-11-24T10:00:00"), response_due_at=at("2026-11-24T10:03:00"))
    assert owed(case, "2026-11-24T10:01:00", policy) == [("reminder_due", "990102001001", "11-24 10:01")]
