"""Referral feedback deadlines and what a referral owes at an instant (pure, table-driven)."""

from __future__ import annotations

from datetime import datetime

import pytest

from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.domain.official_calendar import builtin_calendar
from models.domain.referrals import (
    ReferralClock,
    feedback_deadline,
    next_referral_check,
    owed_referral_notices,
)
from models.domain.jurisdiction import Level
from models.domain.reminders import ReminderPolicy

CAL = builtin_calendar()
POLICY = ReminderPolicy()
VILLAGE, TOWNSHIP, COUNTY, CITY = "990102001001", "990102001", "990102", "9901"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(("sent", "days", "due"), [
    pytest.param("2026-09-30T10:00", 7, "2026-10-15T23:59:59", id="across-national-day-and-makeup-saturday"),
    pytest.param("2026-10-12T16:00", 7, "2026-10-21T23:59:59", id="plain-weeks"),
    pytest.param("2026-10-10T09:00", 1, "2026-10-12T23:59:59", id="sent-on-makeup-saturday"),
    pytest.param("2026-02-13T15:00", 3, "2026-02-25T23:59:59", id="across-spring-festival"),
])
def test_feedback_deadline_counts_working_days_after_the_day_sent(sent, days, due):
    due_at, provisional = feedback_deadline(sent_at=at(sent), working_days=days, calendar=CAL)
    assert due_at == at(due)
    assert provisional is False


@pytest.mark.parametrize("days", [0, -1, 61])
def test_feedback_deadline_refuses_nonsense_naming_the_field(days):
    with pytest.raises(InputError, match="working_days"):
        feedback_deadline(sent_at=at("2026-10-12T10:00"), working_days=days, calendar=CAL)


def clock(closed: bool = False, *, case_jurisdiction: str = VILLAGE,
          governance_center: bool = True) -> ReferralClock:
    due_at, _ = feedback_deadline(sent_at=at("2026-09-30T10:00"), working_days=7, calendar=CAL)
    return ReferralClock(referral_id=5, contact_id=11, contact_role="civil_affairs",
                         contact_jurisdiction=TOWNSHIP, case_jurisdiction=case_jurisdiction,
                         sent_at=at("2026-09-30T10:00"), feedback_due_at=due_at, closed=closed,
                         governance_center=governance_center)


def owed(when: str, ref: ReferralClock | None = None) -> list[tuple[str, int, str]]:
    return [(n.kind, n.escalation_level, n.recipient_role)
            for n in owed_referral_notices(ref or clock(), as_of=at(when), calendar=CAL,
                                           policy=POLICY)]


@pytest.mark.parametrize(("when", "expected"), [
    pytest.param("2026-09-30T10:00", [("referral", 0, "civil_affairs")], id="at-once"),
    pytest.param("2026-10-14T08:59", [("referral", 0, "civil_affairs")], id="before-first-reminder"),
    pytest.param("2026-10-14T09:00", [("referral", 0, "civil_affairs"),
                                      ("referral_reminder", 0, "civil_affairs")], id="day-before"),
    pytest.param("2026-10-15T09:00", [("referral", 0, "civil_affairs"),
                                      ("referral_reminder", 0, "civil_affairs")], id="due-day"),
    pytest.param("2026-10-16T09:00", [("referral", 0, "civil_affairs"),
                                      ("referral_overdue", 1, "governance_center")],
                 id="passed-governance-centre"),
    pytest.param("2026-10-21T09:00", [("referral", 0, "civil_affairs"),
                                      ("referral_overdue", 1, "governance_center"),
                                      ("referral_overdue", 2, "federation_chair")],
                 id="three-working-days-later-supervisor"),
])
def test_what_a_referral_owes(when, expected):
    assert owed(when) == expected


def test_only_the_latest_reminder_is_owed_and_it_goes_to_the_department_contact():
    notices = owed_referral_notices(clock(), as_of=at("2026-10-15T09:00"), calendar=CAL, policy=POLICY)
    reminders = [n for n in notices if n.kind == "referral_reminder"]
    assert [n.key for n in reminders] == ["referral:5:reminder:2026-10-15:0"]
    assert reminders[0].contact_id == 11


def test_escalation_goes_to_the_governance_centre_or_else_the_supervisor_above_the_case():
    notices = owed_referral_notices(clock(), as_of=at("2026-10-21T09:00"), calendar=CAL, policy=POLICY)
    level_1, level_2 = [n for n in notices if n.kind == "referral_overdue"]
    assert (level_1.recipient_jurisdiction, level_1.fallback_role, level_1.fallback_jurisdiction) == (
        VILLAGE, "federation_chair", TOWNSHIP)
    assert (level_2.recipient_role, level_2.recipient_jurisdiction) == ("federation_chair", TOWNSHIP)


@pytest.mark.parametrize(("case_jurisdiction", "up_to", "expected"), [
    pytest.param(VILLAGE, "county", [(1, TOWNSHIP), (2, COUNTY)], id="village-case-township-then-county"),
    pytest.param(TOWNSHIP, "county", [(1, COUNTY)], id="township-case-county-and-no-higher"),
    pytest.param(TOWNSHIP, "city", [(1, COUNTY), (2, CITY)], id="township-case-up-to-city"),
])
def test_without_a_governance_centre_supervisors_one_level_apart(case_jurisdiction, up_to, expected):
    policy = ReminderPolicy(escalate_up_to=Level(up_to))
    notices = owed_referral_notices(
        clock(case_jurisdiction=case_jurisdiction, governance_center=False),
        as_of=at("2026-10-21T09:00"), calendar=CAL, policy=policy)
    overdue = [n for n in notices if n.kind == "referral_overdue"]
    assert [(n.escalation_level, n.recipient_jurisdiction) for n in overdue] == expected
    assert {n.recipient_role for n in overdue} == {"federation_chair"}
    assert all(n.fallback_role is None for n in overdue)


def test_a_result_stops_everything():
    assert owed("2026-10-21T09:00", clock(closed=True)) == []
    assert next_referral_check(clock(closed=True), after=at("2026-10-01T00:00"), calendar=CAL,
                               policy=POLICY) is None


@pytest.mark.parametrize(("after", "expected"), [
    pytest.param("2026-09-30T10:00", "2026-10-14T09:00", id="next-is-day-before"),
    pytest.param("2026-10-14T09:00", "2026-10-15T09:00", id="then-due-day"),
    pytest.param("2026-10-15T09:00", "2026-10-16T09:00", id="then-escalation"),
    pytest.param("2026-10-16T09:00", "2026-10-21T09:00", id="then-supervisor"),
])
def test_next_check(after, expected):
    assert next_referral_check(clock(), after=at(after), calendar=CAL, policy=POLICY) == at(expected)
