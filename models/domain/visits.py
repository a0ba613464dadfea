"""Return visits (000 回访, 附表3): which ledger a family goes on, how often it is visited, and
what the cadre is told when a visit falls due or is missed.

After DV or child-abuse handling the family is a high-risk family and is visited often; focus
families are visited regularly. The seeds give no cadence, so the defaults live in one place
(`DEFAULT_CADENCES`); a deployment may replace them with a file (`parse_cadences`, read by
the settings from WEIQUAN_VISIT_CADENCES_FILE) and callers pass what is in force.

Pure: no I/O, time is passed in. A visit's reminders are derived, like a case's (see
`models.domain.reminders`): recording the visit needs no cancelling, the next look simply
asks about the next due date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.errors import InputError, parse_choice
from models.domain.notice_keys import follow_up_key, visit_key
from models.domain.notice_kinds import NoticeKind
from models.domain.vocabulary import vocabulary
from models.domain.reminders import ReminderPolicy, escalation_chain, sending_instant
from models.domain.risk import INDICATOR_GROUPS, RiskGroup, RiskLevel


class PlanStatus(StrEnum):
    ACTIVE = "active"  # visits are owed
    ENDED = "ended"  # taken off the ledger (with a reason)


class Ledger(StrEnum):
    HIGH_RISK = "high_risk"  # 附表3 高风险家庭
    FOCUS = "focus"  # 附表3 重点关注家庭


# The issue names DV and child abuse; other crime categories reach the ledger through their
# indicators (a crime lead or `police_criminal_case`).
HIGH_RISK_CATEGORIES = frozenset({"domestic_violence", "child_abuse"})
# 000 lists "criminal cases already attended by police" among high-risk families, so a crime
# lead counts as a high-risk marker as well.
HIGH_RISK_GROUPS = frozenset(
    {RiskGroup.LIFE_THREATENING, RiskGroup.CRIME_LEAD, RiskGroup.HIGH_RISK_FAMILY}
)


def ledger_for(*, category: str, risk_indicators: Sequence[str]) -> Ledger | None:
    groups = {INDICATOR_GROUPS[code] for code in risk_indicators if code in INDICATOR_GROUPS}
    if category in HIGH_RISK_CATEGORIES or groups & HIGH_RISK_GROUPS:
        return Ledger.HIGH_RISK
    if RiskGroup.FOCUS_GROUP in groups:
        return Ledger.FOCUS
    return None


# --- cadence ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanStep:
    """Visit every `every` while the plan has run less than `until` (None: for good)."""

    every: timedelta
    until: timedelta | None


@dataclass(frozen=True)
class VisitCadence:
    first_within: timedelta  # the first visit, counted from when the plan opens
    steps: tuple[PlanStep, ...]  # in order; the last one should have until=None

    def __post_init__(self) -> None:
        # A plan that runs out of steps would silently stop visiting a family at risk.
        if not self.steps or self.steps[-1].until is not None:
            raise ValueError("a visit cadence must end with an open-ended step (until=None)")


MONTH = timedelta(days=30)
QUARTER = timedelta(days=91)

# The one configurable place for the defaults (the seeds give none).
DEFAULT_CADENCES: Mapping[str, VisitCadence] = MappingProxyType({
    "critical": VisitCadence(first_within=timedelta(days=3), steps=(
        PlanStep(every=timedelta(weeks=1), until=MONTH), PlanStep(every=MONTH, until=None))),
    "high": VisitCadence(first_within=timedelta(days=7), steps=(
        PlanStep(every=timedelta(weeks=2), until=QUARTER), PlanStep(every=MONTH, until=None))),
    "focus": VisitCadence(first_within=MONTH, steps=(PlanStep(every=QUARTER, until=None),)),
})

PLAN_LEVELS = ("critical", "high", "focus")
MAX_CADENCE_DAYS = 366


def parse_cadences(data: object) -> Mapping[str, VisitCadence]:
    """Cadences from plain data (a parsed YAML file), one entry per plan level:

        critical:
          first_within_days: 3
          steps:
            - {every_days: 7, until_days: 30}
            - {every_days: 30}

    Every level must be given (a plan level without a cadence would leave families
    unvisited) and every number is whole days, 1 to 366.
    """
    if not isinstance(data, Mapping):
        raise InputError(field="(file)", reason="expected a mapping of plan level → cadence")
    unknown = sorted(set(map(str, data)) - set(PLAN_LEVELS))
    if unknown:
        raise InputError(field=unknown[0],
                         reason=f"unknown plan level (expected {', '.join(PLAN_LEVELS)})")
    missing = [level for level in PLAN_LEVELS if level not in data]
    if missing:
        raise InputError(field=missing[0], reason="missing (every plan level needs a cadence)")
    return MappingProxyType({level: _cadence(level, data[level]) for level in PLAN_LEVELS})


def _cadence(level: str, entry: object) -> VisitCadence:
    if not isinstance(entry, Mapping):
        raise InputError(field=level, reason="expected first_within_days and steps")
    extra = sorted(set(map(str, entry)) - {"first_within_days", "steps"})
    if extra:
        raise InputError(field=f"{level}.{extra[0]}", reason="unknown field")
    first = _days(entry.get("first_within_days"), field=f"{level}.first_within_days")
    raw_steps = entry.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InputError(field=f"{level}.steps", reason="expected a non-empty list")
    steps = tuple(_step(f"{level}.steps[{i}]", raw, last=i == len(raw_steps) - 1)
                  for i, raw in enumerate(raw_steps))
    untils = [s.until for s in steps[:-1]]
    if untils != sorted(untils) or len(set(untils)) != len(untils):
        raise InputError(field=f"{level}.steps",
                         reason="until_days must increase from step to step")
    return VisitCadence(first_within=first, steps=steps)


def _step(where: str, raw: object, *, last: bool) -> PlanStep:
    if not isinstance(raw, Mapping):
        raise InputError(field=where,
                         reason="expected every_days (and until_days but on the last)")
    extra = sorted(set(map(str, raw)) - {"every_days", "until_days"})
    if extra:
        raise InputError(field=f"{where}.{extra[0]}", reason="unknown field")
    every = _days(raw.get("every_days"), field=f"{where}.every_days")
    if last and raw.get("until_days") is not None:
        raise InputError(field=f"{where}.until_days",
                         reason="the last step must be open-ended, or visits would stop")
    if not last and raw.get("until_days") is None:
        raise InputError(field=f"{where}.until_days", reason="required on every step but the last")
    until = None if last else _days(raw.get("until_days"), field=f"{where}.until_days")
    return PlanStep(every=every, until=until)


def _days(value: object, *, field: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field=field, reason=f"expected a whole number of days, got {value!r}")
    if not 1 <= value <= MAX_CADENCE_DAYS:
        raise InputError(field=field, reason=f"must be 1 to {MAX_CADENCE_DAYS} days, got {value}")
    return timedelta(days=value)


# Strictness, loosest first. Plan levels (focus, high, critical) are a subset of risk levels and
# keep the same order, so one ranking serves both.
LEVEL_ORDER = (RiskLevel.NONE, RiskLevel.FOCUS, RiskLevel.ELEVATED, RiskLevel.HIGH,
               RiskLevel.CRITICAL)
REPEAT_INCIDENTS = 3  # three incidents within 12 months make the family high-risk
INCIDENT_WINDOW = timedelta(days=365)


def _rank(level: str) -> int:
    return LEVEL_ORDER.index(RiskLevel(parse_choice(
        level, field="level", what="risk level", choices=(known.value for known in LEVEL_ORDER))))


def tighten(*, current_level: str, new_level: str) -> str:
    """The stricter of the two: a new incident may tighten a plan, never loosen it."""
    return max(current_level, new_level, key=_rank)


def plan_level(*, risk_level: str, ledger: Ledger, incidents_last_12_months: int) -> str:
    """Which cadence applies: "critical", "high" or "focus"."""
    level = "critical" if _rank(risk_level) >= _rank("critical") else "focus"
    # Being on the high-risk ledger, or a run of incidents, means frequent visits whatever the
    # latest assessment says.
    if (_rank(risk_level) >= _rank("high") or ledger is Ledger.HIGH_RISK
            or incidents_last_12_months >= REPEAT_INCIDENTS):
        level = tighten(current_level=level, new_level="high")
    return level


def incidents_in_window(*, incident_dates: Sequence[datetime], as_of: datetime,
                        window: timedelta = INCIDENT_WINDOW) -> int:
    """Incidents in (as_of - window, as_of]; ones recorded with a later date are not yet known."""
    return sum(1 for when in incident_dates if as_of - window < when <= as_of)


def first_visit_due(*, opened_at: datetime, cadence: VisitCadence) -> datetime:
    return opened_at + cadence.first_within


def next_visit_due(*, plan_started_at: datetime, last_visit_at: datetime,
                   cadence: VisitCadence) -> datetime:
    """Counted from the visit that actually happened, not from when it was due: a late visit
    must not leave the family with a short gap before the next one (or none at all)."""
    ran = last_visit_at - plan_started_at
    step = next(s for s in cadence.steps if s.until is None or ran < s.until)
    return last_visit_at + step.every


# --- changes by hand -------------------------------------------------------------------------

class RiskLoweringError(InputError):
    """Lowering the risk below the rules' level without saying why (the audit needs it)."""

    def __init__(self, *, rule_level: str, requested: str) -> None:
        super().__init__(field="reason", reason=(
            f"把风险等级从规则评定的{vocabulary().label('risk_levels', rule_level)}调低为"
            f"{vocabulary().label('risk_levels', requested)}，"
            "须说明理由"))
        self.rule_level = rule_level
        self.requested = requested


def change_level(*, rule_level: str, requested: str, reason: str | None) -> str:
    """Raising is free; lowering below what the rules set needs a reason (it will be audited)."""
    if _rank(requested) < _rank(rule_level) and not (reason or "").strip():
        raise RiskLoweringError(rule_level=rule_level, requested=requested)
    return requested


MIN_END_REASON_CHARS = 4  # keeps out "ok" / "x"; 4 characters is a short Chinese phrase


def check_end(*, reason: str | None) -> None:
    """Ending a visit plan stops the visits to a family at risk: it needs a real reason."""
    if len((reason or "").strip()) < MIN_END_REASON_CHARS:
        raise InputError(field="reason", reason=(
            f"结束回访计划须说明理由（至少{MIN_END_REASON_CHARS}个字）"))


# --- notices ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class VisitDue:
    key: str
    kind: NoticeKind  # VISIT_DUE or VISIT_OVERDUE
    due_at: datetime  # the instant the notice fell due (sending hours applied)
    escalation_level: int
    recipient_jurisdiction: str  # the cadre's own level for reminders, upper levels after


@dataclass(frozen=True)
class DueSeries:
    """Whose visit the reminders are about: a ledger family's plan, or the one return visit
    a closed case owes (004: 结案 → 回访). The same rule speaks for both, under their own keys
    and kinds."""

    due_kind: NoticeKind
    overdue_kind: NoticeKind
    key: Callable[[NoticeKind, date, int], str]  # (kind, due day, step) → owed key


def plan_series(plan_id: int) -> DueSeries:
    return DueSeries(NoticeKind.VISIT_DUE, NoticeKind.VISIT_OVERDUE,
                     lambda kind, day, step: visit_key(plan_id=plan_id, kind=kind, due_day=day,
                                                       step=step))


def follow_up_series(follow_up_id: int) -> DueSeries:
    return DueSeries(NoticeKind.FOLLOW_UP_DUE, NoticeKind.FOLLOW_UP_OVERDUE,
                     lambda kind, day, step: follow_up_key(follow_up_id=follow_up_id, kind=kind,
                                                           due_day=day, step=step))


def owed_visit_notices(*, plan_id: int, visit_due_at: datetime, jurisdiction_code: str,
                       as_of: datetime, calendar: WorkCalendar,
                       policy: ReminderPolicy) -> list[VisitDue]:
    return owed_series_notices(series=plan_series(plan_id), visit_due_at=visit_due_at,
                               jurisdiction_code=jurisdiction_code, as_of=as_of,
                               calendar=calendar, policy=policy)


def owed_series_notices(*, series: DueSeries, visit_due_at: datetime, jurisdiction_code: str,
                        as_of: datetime, calendar: WorkCalendar,
                        policy: ReminderPolicy) -> list[VisitDue]:
    """What fell due by `as_of` and still applies for a visit due on `visit_due_at`'s day.

    A visit is due on a day and is overdue from 24:00 of it, as a deadline is. Only the latest
    reminder is owed (one that was missed is superseded, not sent late) and none once the visit
    is overdue: then escalation speaks.
    """
    due_day = visit_due_at.astimezone(SHANGHAI).date()
    overdue_from = _at(due_day + timedelta(days=1), time(0))
    if as_of >= overdue_from:
        return _escalations(series=series, due_day=due_day, overdue_from=overdue_from,
                            jurisdiction_code=jurisdiction_code, as_of=as_of,
                            calendar=calendar, policy=policy)
    reminders = [n for n in _reminders(series=series, due_day=due_day,
                                       overdue_from=overdue_from,
                                       jurisdiction_code=jurisdiction_code,
                                       calendar=calendar, policy=policy)
                 if n.due_at <= as_of]
    return sorted(reminders, key=lambda n: n.due_at)[-1:]


def _reminders(*, series: DueSeries, due_day: date, overdue_from: datetime,
               jurisdiction_code: str, calendar: WorkCalendar,
               policy: ReminderPolicy) -> list[VisitDue]:
    owed = []
    for before in policy.remind_days_before:
        day = _working_day_on_or_before(due_day, before=before, calendar=calendar)
        at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        if at >= overdue_from:  # it could only go out once the visit is already missed
            continue
        owed.append(VisitDue(
            key=series.key(series.due_kind, due_day, before), kind=series.due_kind,
            due_at=at, escalation_level=0, recipient_jurisdiction=jurisdiction_code))
    return owed


def _escalations(*, series: DueSeries, due_day: date, overdue_from: datetime,
                 jurisdiction_code: str, as_of: datetime, calendar: WorkCalendar,
                 policy: ReminderPolicy) -> list[VisitDue]:
    owed = []
    chain = escalation_chain(jurisdiction_code, up_to=policy.escalate_up_to)
    for level, code in enumerate(chain, start=1):
        if level == 1:
            at = sending_instant(overdue_from, calendar=calendar, policy=policy)
        else:
            day, _ = calendar.add_working_days(
                start=due_day, count=1 + policy.escalate_every_working_days * (level - 1))
            at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        if at > as_of:
            break  # later levels are later still
        owed.append(VisitDue(
            key=series.key(series.overdue_kind, due_day, level), kind=series.overdue_kind,
            due_at=at, escalation_level=level, recipient_jurisdiction=code))
    return owed


def _working_day_on_or_before(day: date, *, before: int, calendar: WorkCalendar) -> date:
    """The last working day on or before `day`, then `before` working days earlier: a visit due
    in a holiday is announced while the cadre is still at work."""
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    while before > 0:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            before -= 1
    return day


def _at(day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=SHANGHAI)


# --- calendar file ---------------------------------------------------------------------------

ICS_PRODID = "-//weiquan//return visits//ZH"
ICS_LINE_OCTETS = 75  # RFC 5545 §3.1, CRLF not counted


def visit_ics(*, uid: str, summary: str, starts_at: datetime | None = None,
              duration: timedelta = timedelta(hours=1), description: str = "",
              now: datetime, all_day: date | None = None) -> bytes:
    """One visit as an RFC 5545 calendar (METHOD:PUBLISH). The caller passes no personal data:
    a calendar file travels by mail and sits on phones. `all_day`: a date-only event, for a
    visit whose time must be arranged (e.g. through a safe channel)."""
    if all_day is not None:
        when = [f"DTSTART;VALUE=DATE:{all_day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{all_day + timedelta(days=1):%Y%m%d}"]
    elif starts_at is not None:
        when = [f"DTSTART:{_ics_utc(starts_at)}", f"DTEND:{_ics_utc(starts_at + duration)}"]
    else:
        raise ValueError("a visit needs starts_at or all_day")
    lines = [
        "BEGIN:VCALENDAR", f"PRODID:{ICS_PRODID}", "VERSION:2.0", "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_ics_text(uid)}",
        f"DTSTAMP:{_ics_utc(now)}",
        *when,
        f"SUMMARY:{_ics_text(summary)}",
        f"DESCRIPTION:{_ics_text(description)}",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return b"".join(_ics_fold(line) + b"\r\n" for line in lines)


def _ics_utc(moment: datetime) -> str:
    # A naive time would be read as the reader's local time: refuse rather than guess.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"calendar times must carry a time zone, got {moment.isoformat()}")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _ics_text(value: str) -> str:
    """TEXT escaping (RFC 5545 §3.3.11); other control characters are not allowed at all."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return "".join(ch for ch in value if ch == "\t" or ord(ch) >= 0x20 and ch != "\x7f")


def _ics_fold(line: str) -> bytes:
    """Fold at 75 octets; a continuation starts with a space, which counts. Characters are
    never split, so every physical line is valid UTF-8 on its own."""
    parts: list[bytes] = []
    current, limit = b"", ICS_LINE_OCTETS
    for ch in line:
        encoded = ch.encode("utf-8")
        if len(current) + len(encoded) > limit:
            parts.append(current)
            current, limit = b"", ICS_LINE_OCTETS - 1
        current += encoded
    parts.append(current)
    return b"\r\n ".join(parts)


def next_visit_check(*, plan_id: int, visit_due_at: datetime, jurisdiction_code: str,
                     after: datetime, calendar: WorkCalendar,
                     policy: ReminderPolicy) -> datetime | None:
    return next_series_check(series=plan_series(plan_id), visit_due_at=visit_due_at,
                             jurisdiction_code=jurisdiction_code, after=after,
                             calendar=calendar, policy=policy)


def next_series_check(*, series: DueSeries, visit_due_at: datetime, jurisdiction_code: str,
                      after: datetime, calendar: WorkCalendar,
                      policy: ReminderPolicy) -> datetime | None:
    """The next instant after `after` at which a notice for this visit could fall due."""
    due_day = visit_due_at.astimezone(SHANGHAI).date()
    overdue_from = _at(due_day + timedelta(days=1), time(0))
    candidates = _reminders(series=series, due_day=due_day, overdue_from=overdue_from,
                            jurisdiction_code=jurisdiction_code, calendar=calendar,
                            policy=policy)
    candidates += _escalations(series=series, due_day=due_day, overdue_from=overdue_from,
                               jurisdiction_code=jurisdiction_code,
                               as_of=after + timedelta(days=400), calendar=calendar,
                               policy=policy)
    return min((n.due_at for n in candidates if n.due_at > after), default=None)


_SPANS = {7: "周", 14: "两周", 30: "月", 91: "季度"}


def _span(delta: timedelta) -> str:
    return _SPANS.get(delta.days, f"{delta.days}天")


def describe_cadence(cadence: VisitCadence) -> str:
    """The cadence as a cadre reads it: "3日内首访，每周一次（头一个月），此后每月一次"."""
    parts = [f"{cadence.first_within.days}日内首访"]
    for step in cadence.steps:
        text = f"每{_span(step.every)}一次"
        parts.append(text + (f"（头一个{_span(step.until)}）" if step.until else ""))
    return "，".join(parts[:2]) + "".join(f"，此后{p}" for p in parts[2:])
