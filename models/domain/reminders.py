"""Which notices a case owes at a given instant: reminders before the deadline, escalation up
the levels after it, and the transfer and tracking notices of a difficult case.

Pure and derived from the case's state: nothing is scheduled in advance, so answering,
pausing or closing a case needs no cancelling — the next look simply finds nothing owed.
`owed_notices(case, as_of)` is what fell due by `as_of` and still applies;
`next_check(case, after)` is the next instant something could fall due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.jurisdiction import Level, ancestry, level_of
from models.domain.notice_keys import (
    case_key,
    difficult_tracking_step,
    difficult_transfer_step,
    escalation_step,
    last_call_step,
    owed_key_of,
    reminder_step,
)
from models.domain.notice_kinds import NoticeKind, spec_of

LEVEL_ORDER = [Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.CITY, Level.PROVINCE]


@dataclass(frozen=True)
class ReminderPolicy:
    """Defaults from the issue; all configurable (WEIQUAN_REMINDER_* settings)."""

    send_at: time = time(9, 0)  # reminders go out at this hour of a working day
    window_end: time = time(18, 0)  # … and not after this one (next working day 09:00 then)
    remind_days_before: tuple[int, ...] = (1, 0)  # working days before the due day
    escalate_every_working_days: int = 3
    escalate_up_to: Level = Level.COUNTY
    tracking_every_working_days: int = 7  # difficult cases, until the upper level reports
    last_call_minutes: int = 0  # >0: one more reminder this long before the deadline
    working_days_only: bool = True  # False only for demos: send at any hour, any day

    def __post_init__(self) -> None:
        # The policy keys the memos below, asked several times per planned case: hash it
        # once (a frozen dataclass would hash every field on every look-up).
        object.__setattr__(self, "_hash", hash(tuple(
            getattr(self, f.name) for f in fields(self))))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[type[ReminderPolicy], tuple[object, ...]]:
        # Copied or unpickled through the constructor: a string's hash differs between
        # processes, so the remembered hash must not travel.
        return ReminderPolicy, tuple(getattr(self, f.name) for f in fields(self))


class CaseClock(NamedTuple):
    """The facts of a case the policy needs (no personal data). A named tuple: the sweep
    makes one per planned case, and a frozen dataclass costs several times more to build."""

    case_id: int
    tier: str | None
    jurisdiction_code: str
    received_at: datetime
    response_due_at: datetime | None  # None: a family found without a complaint owes no answer
    answered: bool
    paused: bool
    closed: bool
    upper_result: bool


@dataclass(frozen=True)
class OwedNotice:
    key: str
    kind: NoticeKind
    due_at: datetime  # the instant it fell due (sane hours applied)
    recipient_role: str
    recipient_jurisdiction: str  # where to start looking for the role (walks up if absent)
    escalation_level: int = 0
    sequence: int = 0  # tracking reminders: 1, 2, …
    contact_id: int | None = None  # a named recipient (a referral's department contact)
    # Who serves when nobody holds recipient_role up the tree (e.g. no 综治中心 → supervisor).
    fallback_role: str | None = None
    fallback_jurisdiction: str | None = None
    referral_id: int | None = None
    visit_plan_id: int | None = None


def sending_instant(at: datetime, *, calendar: WorkCalendar, policy: ReminderPolicy) -> datetime:
    """The first instant ≥ `at` within sending hours of a working day."""
    if not policy.working_days_only:
        return at
    # The answer is always in Shanghai time, so an equal instant given in another zone gets
    # the same answer.
    local = at.astimezone(SHANGHAI)
    opens, next_opening = _sending_hours(local.date(), calendar, policy)
    if opens is not None and local.time() <= policy.window_end:
        return max(local, opens)
    return next_opening


@lru_cache(maxsize=8192)
def _sending_hours(day: date, calendar: WorkCalendar,
                   policy: ReminderPolicy) -> tuple[datetime | None, datetime]:
    """When sending opens on `day` (None: not a working day) and when it opens next after
    it. Remembered per day: the sweep asks about the same few days for every case it plans,
    at instants that all differ (each case's own deadline)."""
    opens = _at(day, policy.send_at) if calendar.is_working_day(day) else None
    next_day, _ = calendar.first_working_day_on_or_after(day + timedelta(days=1))
    return opens, _at(next_day, policy.send_at)


def _at(day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=SHANGHAI)


def working_day_before(day: date, *, count: int, calendar: WorkCalendar) -> date:
    while count > 0:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            count -= 1
    return day


class _Candidate(NamedTuple):
    """A notice the case's state calls for, before it is known to be owed. Most candidates
    only tell when the case must be looked at next, so the sweep builds an `OwedNotice`
    from the few that are owed (every notice of a case's deadline goes to the federation
    chair of `recipient_jurisdiction`)."""

    due_at: datetime  # in Shanghai time, as notices say it
    at: datetime  # the same instant in UTC: compared with the case's instants and `as_of`,
    # which come in UTC, it compares at a fraction of the cost of two zones
    kind: NoticeKind
    step: str  # the key's part after the case (`notice_keys.case_key`)
    recipient_jurisdiction: str
    escalation_level: int = 0
    sequence: int = 0

    def owed(self, case_id: int) -> OwedNotice:
        return OwedNotice(key=case_key(case_id=case_id, step=self.step), kind=self.kind,
                          due_at=self.due_at, recipient_role="federation_chair",
                          recipient_jurisdiction=self.recipient_jurisdiction,
                          escalation_level=self.escalation_level, sequence=self.sequence)


def _candidates(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy,
                horizon: datetime) -> list[_Candidate]:
    """Every notice the case's current state calls for, due up to `horizon` (inclusive)."""
    if case.closed or case.response_due_at is None:  # no deadline: nothing of its own falls due
        return []
    if case.tier == "difficult":
        return _difficult(case, calendar=calendar, policy=policy, horizon=horizon)
    if case.answered or case.paused:
        return []
    return _deadline(case, calendar=calendar, policy=policy, horizon=horizon)


@lru_cache(maxsize=4096)
def escalation_chain(jurisdiction_code: str, *, up_to: Level) -> tuple[str, ...]:
    """The levels told after a breach: each upper level up to `up_to`, and at least one.
    Remembered: the sweep asks it for every case it plans, of a few hundred places."""
    above = ancestry(jurisdiction_code)[1:]
    limit = LEVEL_ORDER.index(up_to)
    chain = tuple(code for code in above if LEVEL_ORDER.index(level_of(code)) <= limit)
    return chain or tuple(above[:1])


@lru_cache(maxsize=4096)
def _deadline_steps(due_day: date, jurisdiction_code: str, calendar: WorkCalendar,
                    policy: ReminderPolicy) -> tuple[tuple[tuple[NoticeKind, str, datetime,
                                                                 datetime], ...],
                                                     tuple[tuple[int, str, str, datetime | None,
                                                                 datetime | None], ...]]:
    """What a deadline on `due_day` at that place calls for, the same for every case due
    that day there (the sweep plans thousands of cases of a few dozen due days): the
    reminders (kind, key step, instant, in UTC) and the escalation levels (level, key step,
    place told, instant, in UTC; None for level 1, which follows the case's own deadline)."""
    reminders = []
    for before in policy.remind_days_before:
        day = working_day_before(due_day, count=before, calendar=calendar)
        kind = NoticeKind.REMINDER_DUE if before == 0 else NoticeKind.REMINDER_BEFORE
        at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        reminders.append((kind, reminder_step(kind=kind, due_day=due_day, before=before), at,
                          at.astimezone(UTC)))
    escalations: list[tuple[int, str, str, datetime | None, datetime | None]] = []
    for level, code in enumerate(escalation_chain(jurisdiction_code,
                                                  up_to=policy.escalate_up_to), start=1):
        at = None
        if level > 1:
            day, _ = calendar.add_working_days(
                start=due_day, count=1 + policy.escalate_every_working_days * (level - 1))
            at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        escalations.append((level, escalation_step(kind=NoticeKind.ESCALATION, due_day=due_day,
                                                   level=level), code, at,
                            at.astimezone(UTC) if at is not None else None))
    return tuple(reminders), tuple(escalations)


def _deadline(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy,
              horizon: datetime) -> list[_Candidate]:
    """Reminders before the deadline, then escalation up the levels after it."""
    reminders, escalations = _deadline_steps(case.response_due_at.astimezone(SHANGHAI).date(),
                                             case.jurisdiction_code, calendar, policy)
    owed = []
    for kind, step, at, utc in reminders:
        # A reminder meant for before the case existed, or one that could only go out after
        # the deadline, would say something false: skip it.
        if utc < case.received_at or utc >= case.response_due_at:
            continue
        owed.append(_Candidate(at, utc, kind, step, case.jurisdiction_code))
    if policy.last_call_minutes:
        at = sending_instant(case.response_due_at - timedelta(minutes=policy.last_call_minutes),
                             calendar=calendar, policy=policy)
        if case.received_at <= at < case.response_due_at:
            step = last_call_step(kind=NoticeKind.REMINDER_DUE, due_at=case.response_due_at)
            owed.append(_Candidate(at, at.astimezone(UTC), NoticeKind.REMINDER_DUE, step,
                                   case.jurisdiction_code))
    for level, step, code, at, utc in escalations:
        if at is None:
            at = sending_instant(case.response_due_at + timedelta(seconds=1), calendar=calendar,
                                 policy=policy)
            utc = at.astimezone(UTC)
        owed.append(_Candidate(at, utc, NoticeKind.ESCALATION, step, code, level))
        if utc > horizon:
            break  # later levels are later still
    return owed


def _difficult(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy,
               horizon: datetime) -> list[_Candidate]:
    upper = ancestry(case.jurisdiction_code)[1:2] or [case.jurisdiction_code]
    owed = [_Candidate(  # 及时转报上级: at once, whatever the hour
        case.received_at, case.received_at.astimezone(UTC), NoticeKind.DIFFICULT_TRANSFER,
        difficult_transfer_step(kind=NoticeKind.DIFFICULT_TRANSFER),
        upper[0])]
    if case.upper_result:
        return owed
    received_day = case.received_at.astimezone(SHANGHAI).date()
    sequence = 1
    while True:
        day, _ = calendar.add_working_days(start=received_day,
                                           count=policy.tracking_every_working_days * sequence)
        at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        utc = at.astimezone(UTC)
        owed.append(_Candidate(at, utc, NoticeKind.DIFFICULT_TRACKING, difficult_tracking_step(
            kind=NoticeKind.DIFFICULT_TRACKING, sequence=sequence),
            case.jurisdiction_code, 0, sequence))
        if utc > horizon:
            return owed
        sequence += 1


NEXT_CHECK_HORIZON = timedelta(days=400)


def owed_notices(case: CaseClock, *, as_of: datetime, calendar: WorkCalendar,
                 policy: ReminderPolicy) -> list[OwedNotice]:
    """What fell due by `as_of` and still applies. Of the tracking reminders only the latest
    is owed: a reminder superseded by a newer one is not sent late."""
    return _owed_among([c for c in _candidates(case, calendar=calendar, policy=policy,
                                               horizon=as_of) if c.at <= as_of],
                       case=case, as_of=as_of)


def next_check(case: CaseClock, *, after: datetime, calendar: WorkCalendar,
               policy: ReminderPolicy) -> datetime | None:
    """The next instant after `after` at which something could fall due; None if nothing can."""
    later = None
    for candidate in _candidates(case, calendar=calendar, policy=policy,
                                 horizon=after + NEXT_CHECK_HORIZON):
        if candidate.at > after and (later is None or candidate.at < later.at):
            later = candidate
    return later.due_at if later else None


def owed_and_next_check(case: CaseClock, *, as_of: datetime, calendar: WorkCalendar,
                        policy: ReminderPolicy) -> tuple[list[OwedNotice], datetime | None]:
    """`owed_notices(as_of)` and `next_check(after=as_of)` from one pass over the candidates
    (the sweep asks both of every case it plans). The same answers: the longer horizon only
    adds candidates due after `as_of`, which are not owed yet."""
    due, later = [], None
    for candidate in _candidates(case, calendar=calendar, policy=policy,
                                 horizon=as_of + NEXT_CHECK_HORIZON):
        if candidate.at <= as_of:
            due.append(candidate)
        elif later is None or candidate.at < later.at:
            later = candidate
    return _owed_among(due, case=case, as_of=as_of), later.due_at if later else None


def _owed_among(due: list[_Candidate], *, case: CaseClock, as_of: datetime) -> list[OwedNotice]:
    """The notices owed of the candidates `due` by `as_of`."""
    if not due:
        return []
    # A family found without a complaint has no deadline (None): nothing escalates for it.
    if case.response_due_at is not None and as_of >= case.response_due_at:
        due = [n for n in due if n.kind not in (NoticeKind.REMINDER_BEFORE, NoticeKind.REMINDER_DUE)]
    tracking = [n for n in due if n.kind == NoticeKind.DIFFICULT_TRACKING]
    if len(tracking) > 1:
        due = [n for n in due if n.kind != NoticeKind.DIFFICULT_TRACKING] + tracking[-1:]
    return [n.owed(case.case_id) for n in due]


def still_applies(notice_key: str, *, kind: str, owed_now: Iterable[OwedNotice]) -> bool:
    """Checked again just before sending, against what is owed now (`owed_now`: everything
    the case owes at the moment of sending): an answer, pause or confirmation since it was
    queued cancels it, and a reminder superseded or past its deadline is not sent late. Kinds
    the table marks as not re-checked (reports made at once) stand whatever happened since."""
    if not spec_of(kind).rechecked:
        return True
    return owed_key_of(notice_key) in {n.key for n in owed_now}
