"""Return visits, pure: ledgers, cadence, hand changes, visit notices and the .ics file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.domain.official_calendar import builtin_calendar
from models.domain.reminders import ReminderPolicy
from models.domain.visits import (
    DEFAULT_CADENCES,
    Ledger,
    PlanStep,
    RiskLoweringError,
    VisitCadence,
    change_level,
    check_end,
    first_visit_due,
    incidents_in_window,
    ledger_for,
    next_visit_due,
    owed_visit_notices,
    plan_level,
    tighten,
    visit_ics,
)

CAL = builtin_calendar()
POLICY = ReminderPolicy()
VILLAGE = "990102001001"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# --- ledgers and levels ----------------------------------------------------------------------

@pytest.mark.parametrize(("category", "indicators", "expected"), [
    pytest.param("domestic_violence", [], Ledger.HIGH_RISK, id="dv"),
    pytest.param("child_abuse", [], Ledger.HIGH_RISK, id="child-abuse"),
    pytest.param("marriage_family", ["addiction"], Ledger.HIGH_RISK, id="high-risk-marker"),
    pytest.param("marriage_family", ["threat_to_kill"], Ledger.HIGH_RISK, id="life-threatening"),
    pytest.param("other", ["suspected_trafficking"], Ledger.HIGH_RISK, id="crime-lead"),
    pytest.param("hardship", ["hardship", "addiction"], Ledger.HIGH_RISK, id="focus-and-high-risk"),
    pytest.param("hardship", ["hardship", "left_behind_or_migrant"], Ledger.FOCUS, id="focus-only"),
    pytest.param("land_rights", ["media_present"], None, id="public-opinion-only"),
    pytest.param("land_rights", [], None, id="nothing"),
    pytest.param("land_rights", ["not_a_code"], None, id="unknown-code-ignored"),
])
def test_ledger_for(category, indicators, expected):
    assert ledger_for(category=category, risk_indicators=indicators) is expected


def months_before(as_of: datetime, *months: int) -> list[datetime]:
    return [as_of - timedelta(days=30 * m) for m in months]


AS_OF = at("2026-05-20T10:00:00")


@pytest.mark.parametrize(("risk", "ledger", "incidents", "expected"), [
    pytest.param("critical", Ledger.HIGH_RISK, 0, "critical", id="critical"),
    pytest.param("high", Ledger.HIGH_RISK, 0, "high", id="high"),
    pytest.param("none", Ledger.HIGH_RISK, 0, "high", id="high-risk-ledger-alone"),
    pytest.param("focus", Ledger.FOCUS, 0, "focus", id="focus"),
    pytest.param("elevated", Ledger.FOCUS, 0, "focus", id="elevated-focus-ledger"),
    pytest.param("focus", Ledger.FOCUS, 2, "focus", id="two-incidents"),
    pytest.param("focus", Ledger.FOCUS, 3, "high", id="three-incidents-high"),
    pytest.param("critical", Ledger.HIGH_RISK, 5, "critical", id="repeat-never-lowers"),
    pytest.param("focus", Ledger.FOCUS,
                 incidents_in_window(incident_dates=months_before(AS_OF, 11, 6, 1), as_of=AS_OF),
                 "high", id="three-in-12-months"),
    pytest.param("focus", Ledger.FOCUS,
                 incidents_in_window(incident_dates=months_before(AS_OF, 14, 7, 1), as_of=AS_OF),
                 "focus", id="three-over-14-months"),
])
def test_plan_level(risk, ledger, incidents, expected):
    assert plan_level(risk_level=risk, ledger=ledger, incidents_last_12_months=incidents) == expected


@pytest.mark.parametrize(("dates", "expected"), [
    pytest.param([AS_OF - timedelta(days=365)], 0, id="exactly-a-year-ago-out"),
    pytest.param([AS_OF - timedelta(days=364)], 1, id="just-inside"),
    pytest.param([AS_OF], 1, id="today"),
    pytest.param([AS_OF + timedelta(days=1)], 0, id="future-not-counted"),
])
def test_incidents_in_window_bounds(dates, expected):
    assert incidents_in_window(incident_dates=dates, as_of=AS_OF) == expected


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown risk level 'severe'"):
        plan_level(risk_level="severe", ledger=Ledger.FOCUS, incidents_last_12_months=0)


# --- cadence ---------------------------------------------------------------------------------

START = at("2026-03-01T10:00:00")


def day(n: int) -> datetime:
    return START + timedelta(days=n)


@pytest.mark.parametrize(("level", "expected"), [
    pytest.param("critical", day(3), id="critical-3-days"),
    pytest.param("high", day(7), id="high-7-days"),
    pytest.param("focus", day(30), id="focus-30-days"),
])
def test_first_visit_due(level, expected):
    assert first_visit_due(opened_at=START, cadence=DEFAULT_CADENCES[level]) == expected


@pytest.mark.parametrize(("level", "visited", "expected"), [
    pytest.param("critical", day(3), day(10), id="critical-on-time-weekly"),
    pytest.param("critical", day(5), day(12), id="critical-late-from-actual-visit"),
    pytest.param("critical", day(29), day(36), id="critical-last-weekly"),
    pytest.param("critical", day(30), day(60), id="critical-after-a-month-monthly"),
    pytest.param("critical", day(45), day(75), id="critical-monthly"),
    pytest.param("high", day(20), day(34), id="high-fortnightly"),
    pytest.param("high", day(100), day(130), id="high-after-3-months-monthly"),
    pytest.param("focus", day(40), day(131), id="focus-quarterly"),
])
def test_next_visit_from_actual_date(level, visited, expected):
    assert next_visit_due(plan_started_at=START, last_visit_at=visited,
                          cadence=DEFAULT_CADENCES[level]) == expected


def test_cadence_must_not_run_out():
    with pytest.raises(ValueError, match="open-ended"):
        VisitCadence(first_within=timedelta(days=1),
                     steps=(PlanStep(every=timedelta(days=7), until=timedelta(days=30)),))


# --- changes by hand -------------------------------------------------------------------------

@pytest.mark.parametrize(("current", "new", "expected"), [
    pytest.param("focus", "high", "high", id="focus-to-high"),
    pytest.param("high", "critical", "critical", id="high-to-critical"),
    pytest.param("critical", "focus", "critical", id="never-loosens"),
    pytest.param("high", "high", "high", id="same"),
])
def test_tighten(current, new, expected):
    assert tighten(current_level=current, new_level=new) == expected


@pytest.mark.parametrize(("rule", "requested", "reason", "expected"), [
    pytest.param("focus", "critical", None, "critical", id="raise-free"),
    pytest.param("high", "high", None, "high", id="same-free"),
    pytest.param("critical", "high", "施暴人已被羁押", "high", id="lower-with-reason"),
])
def test_change_level_allowed(rule, requested, reason, expected):
    assert change_level(rule_level=rule, requested=requested, reason=reason) == expected


@pytest.mark.parametrize("reason", [
    pytest.param(None, id="none"), pytest.param("", id="empty"), pytest.param("  \n", id="blank"),
])
def test_change_level_lowering_needs_reason(reason):
    with pytest.raises(RiskLoweringError, match="规则评定的危及生命调低为重点关注") as caught:
        change_level(rule_level="critical", requested="focus", reason=reason)
    assert (caught.value.rule_level, caught.value.requested) == ("critical", "focus")


@pytest.mark.parametrize("reason", [
    pytest.param(None, id="none"), pytest.param("", id="empty"),
    pytest.param("ok", id="too-short"), pytest.param("  迁出  ", id="short-padded"),
])
def test_check_end_refuses(reason):
    with pytest.raises(InputError):
        check_end(reason=reason)


@pytest.mark.parametrize("reason", [
    pytest.param("全家已迁出本市", id="moved-away"), pytest.param("风险解除", id="four-chars"),
])
def test_check_end_accepts(reason):
    check_end(reason=reason)


# --- notices ---------------------------------------------------------------------------------

def notices(due: str, when: str) -> list[tuple[str, int, str, str]]:
    return [(n.kind, n.escalation_level, n.recipient_jurisdiction, n.due_at.strftime("%m-%d %H:%M"))
            for n in owed_visit_notices(plan_id=4, visit_due_at=at(due), jurisdiction_code=VILLAGE,
                                        as_of=at(when), calendar=CAL, policy=POLICY)]


DUE = "2026-10-15T14:00:00"  # a Thursday


@pytest.mark.parametrize(("when", "expected"), [
    pytest.param("2026-10-13T23:00:00", [], id="nothing-yet"),
    pytest.param("2026-10-14T09:00:00", [("visit_due", 0, VILLAGE, "10-14 09:00")], id="day-before"),
    pytest.param("2026-10-15T12:00:00", [("visit_due", 0, VILLAGE, "10-15 09:00")],
                 id="due-day-supersedes-day-before"),
    pytest.param("2026-10-15T23:59:00", [("visit_due", 0, VILLAGE, "10-15 09:00")],
                 id="due-all-day"),
    pytest.param("2026-10-16T08:00:00", [], id="overdue-reminders-not-sent-late"),
    pytest.param("2026-10-16T09:00:00", [("visit_overdue", 1, "990102001", "10-16 09:00")],
                 id="overdue-level-1-next-working-morning"),
    pytest.param("2026-10-20T18:00:00", [("visit_overdue", 1, "990102001", "10-16 09:00")],
                 id="level-2-not-yet"),
    pytest.param("2026-10-21T09:00:00", [("visit_overdue", 1, "990102001", "10-16 09:00"),
                                         ("visit_overdue", 2, "990102", "10-21 09:00")],
                 id="level-2-after-3-more-working-days"),
    pytest.param("2026-11-30T09:00:00", [("visit_overdue", 1, "990102001", "10-16 09:00"),
                                         ("visit_overdue", 2, "990102", "10-21 09:00")],
                 id="stops-at-county"),
])
def test_visit_notices(when, expected):
    assert notices(DUE, when) == expected


@pytest.mark.parametrize(("when", "expected"), [
    pytest.param("2026-09-29T09:30:00", [("visit_due", 0, VILLAGE, "09-29 09:00")],
                 id="day-before-the-last-working-day"),
    pytest.param("2026-09-30T09:00:00", [("visit_due", 0, VILLAGE, "09-30 09:00")],
                 id="last-working-day-before-holiday"),
    pytest.param("2026-10-03T10:00:00", [("visit_due", 0, VILLAGE, "09-30 09:00")],
                 id="due-day-in-holiday-nothing-new"),
    pytest.param("2026-10-05T10:00:00", [], id="overdue-in-holiday-waits"),
    pytest.param("2026-10-08T09:00:00", [("visit_overdue", 1, "990102001", "10-08 09:00")],
                 id="escalates-first-working-day"),
])
def test_visit_due_in_national_day_holiday(when, expected):
    assert notices("2026-10-03T10:00:00", when) == expected


def test_notice_keys_are_stable():
    due = owed_visit_notices(plan_id=4, visit_due_at=at(DUE), jurisdiction_code=VILLAGE,
                             as_of=at("2026-10-15T10:00:00"), calendar=CAL, policy=POLICY)
    late = owed_visit_notices(plan_id=4, visit_due_at=at(DUE), jurisdiction_code=VILLAGE,
                              as_of=at("2026-10-21T10:00:00"), calendar=CAL, policy=POLICY)
    assert [n.key for n in due] == ["visit:4:visit_due:2026-10-15:0"]
    assert [n.key for n in late] == ["visit:4:visit_overdue:2026-10-15:1",
                                     "visit:4:visit_overdue:2026-10-15:2"]


# --- .ics ------------------------------------------------------------------------------------

NOW = datetime(2026, 10, 10, 1, 2, 3, tzinfo=UTC)


def physical_lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in lines), "bare CR or LF"
    return lines


def properties(data: bytes) -> dict[str, str]:
    """Unfold (RFC 5545 §3.1) and split NAME:value; each physical line must be UTF-8 alone."""
    logical: list[str] = []
    for line in physical_lines(data):
        text = line.decode("utf-8")  # raises if a fold split a character
        if text.startswith(" "):
            logical[-1] += text[1:]
        else:
            logical.append(text)
    return dict(line.split(":", 1) for line in logical if not line.startswith(("BEGIN", "END")))


def unescape(value: str) -> str:
    out, chars = [], iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars)
            out.append("\n" if nxt in "nN" else nxt)
        else:
            out.append(ch)
    return "".join(out)


def test_ics_is_a_published_event_in_utc():
    data = visit_ics(uid="visit-4-2026-10-15@weiquan", summary="回访 WQ-2026-0042",
                     starts_at=at("2026-10-15T14:00:00"), now=NOW)
    props = properties(data)
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert props["VERSION"] == "2.0" and props["METHOD"] == "PUBLISH" and props["PRODID"]
    assert props["UID"] == "visit-4-2026-10-15@weiquan"
    assert props["DTSTAMP"] == "20261010T010203Z"
    assert (props["DTSTART"], props["DTEND"]) == ("20261015T060000Z", "20261015T070000Z")


def test_ics_escapes_text():
    description = "a;b,c\\d\nsecond line\r\nthird"
    data = visit_ics(uid="u", summary="x", starts_at=at("2026-10-15T14:00:00"),
                     description=description, now=NOW)
    raw = properties(data)["DESCRIPTION"]
    assert raw == "a\\;b\\,c\\\\d\\nsecond line\\nthird"
    assert unescape(raw) == description.replace("\r\n", "\n")


@pytest.mark.parametrize("summary", [
    pytest.param("回访 " + "妇联维权回访记录" * 20, id="chinese-3-octet"),
    pytest.param("a" + "回访" * 40, id="chinese-offset-by-one"),
    pytest.param("ab" + "🏠" * 40, id="4-octet"),
    pytest.param("x" * 300, id="ascii"),
])
def test_ics_folds_long_lines_without_splitting_characters(summary):
    data = visit_ics(uid="u", summary=summary, starts_at=at("2026-10-15T14:00:00"),
                     description="；".join([summary] * 2), now=NOW)
    lines = physical_lines(data)
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)  # it did fold
    props = properties(data)  # decodes every physical line on its own
    assert unescape(props["SUMMARY"]) == summary


def test_ics_refuses_naive_times():
    with pytest.raises(ValueError, match="time zone"):
        visit_ics(uid="u", summary="回访", starts_at=datetime(2026, 10, 15, 14), now=NOW)
