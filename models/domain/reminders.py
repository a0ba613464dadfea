"""Which notices a case owes at a given instant: reminders before the deadline, escalation up
the levels after it, and the transfer and tracking notices of a difficult case.

Pure and derived from the case's state: nothing is scheduled in advance, so answering,
pausing or closing a case needs no cancelling — the next look simply finds nothing owed.
`owed_notices(case, as_of)` is what fell due by `as_of` and still applies;
`next_check(case, after)` is the next instant something could fall due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.jurisdiction import Level, ancestry, level_of
from models.domain.notice_keys import (
    difficult_tracking_key,
    difficult_transfer_key,
    escalation_key,
    last_call_key,
    owed_key_of,
    reminder_key,
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


@dataclass(frozen=True)
class CaseClock:
    """The facts of a case the policy needs (no personal data)."""

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
    return _sending_instant(at, calendar, policy)


@lru_cache(maxsize=8192)
def _sending_instant(at: datetime, calendar: WorkCalendar, policy: ReminderPolicy) -> datetime:
    # Remembered: most instants asked are a working day's 09:00, the same for every case whose
    # deadline falls on that day. The answer is always in Shanghai time, so an equal instant
    # given in another zone gets the same answer.
    local = at.astimezone(SHANGHAI)
    day = local.date()
    if calendar.is_working_day(day) and local.time() <= policy.window_end:
        return max(local, _at(day, policy.send_at))
    next_day, _ = calendar.first_working_day_on_or_after(day + timedelta(days=1))
    return _at(next_day, policy.send_at)


def _at(day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=SHANGHAI)


def working_day_before(day: date, *, count: int, calendar: WorkCalendar) -> date:
    while count > 0:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            count -= 1
    return day


def _candidates(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy,
                horizon: datetime) -> list[OwedNotice]:
    """Every notice the case's current state calls for, due up to `horizon` (inclusive)."""
    if case.closed:
        return []
    if case.tier == "difficult":
        return _difficult(case, calendar=calendar, policy=policy, horizon=horizon)
    if case.answered or case.paused:
        return []
    return _reminders(case, calendar=calendar, policy=policy) + _escalations(
        case, calendar=calendar, policy=policy, horizon=horizon)


def _reminders(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy) -> list[OwedNotice]:
    due_day = case.response_due_at.astimezone(SHANGHAI).date()
    owed = []
    for before in policy.remind_days_before:
        day = working_day_before(due_day, count=before, calendar=calendar)
        at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        # A reminder meant for before the case existed, or one that could only go out after
        # the deadline, would say something false: skip it.
        if at < case.received_at or at >= case.response_due_at:
            continue
        kind = NoticeKind.REMINDER_DUE if before == 0 else NoticeKind.REMINDER_BEFORE
        owed.append(OwedNotice(
            key=reminder_key(case_id=case.case_id, kind=kind, due_day=due_day, before=before),
            kind=kind, due_at=at,
            recipient_role="federation_chair", recipient_jurisdiction=case.jurisdiction_code))
    if policy.last_call_minutes:
        at = sending_instant(case.response_due_at - timedelta(minutes=policy.last_call_minutes),
                             calendar=calendar, policy=policy)
        if case.received_at <= at < case.response_due_at:
            owed.append(OwedNotice(
                key=last_call_key(case_id=case.case_id, kind=NoticeKind.REMINDER_DUE,
                                  due_at=case.response_due_at),
                kind=NoticeKind.REMINDER_DUE, due_at=at, recipient_role="federation_chair",
                recipient_jurisdiction=case.jurisdiction_code))
    return owed


@lru_cache(maxsize=4096)
def escalation_chain(jurisdiction_code: str, *, up_to: Level) -> tuple[str, ...]:
    """The levels told after a breach: each upper level up to `up_to`, and at least one.
    Remembered: the sweep asks it for every case it plans, of a few hundred places."""
    above = ancestry(jurisdiction_code)[1:]
    limit = LEVEL_ORDER.index(up_to)
    chain = tuple(code for code in above if LEVEL_ORDER.index(level_of(code)) <= limit)
    return chain or tuple(above[:1])


def _escalations(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy,
                 horizon: datetime) -> list[OwedNotice]:
    due_day = case.response_due_at.astimezone(SHANGHAI).date()
    owed = []
    for level, code in enumerate(escalation_chain(case.jurisdiction_code,
                                                  up_to=policy.escalate_up_to), start=1):
        if level == 1:
            at = sending_instant(case.response_due_at + timedelta(seconds=1), calendar=calendar,
                                 policy=policy)
        else:
            day, _ = calendar.add_working_days(
                start=due_day, count=1 + policy.escalate_every_working_days * (level - 1))
            at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        owed.append(OwedNotice(
            key=escalation_key(case_id=case.case_id, kind=NoticeKind.ESCALATION, due_day=due_day,
                               level=level),
            kind=NoticeKind.ESCALATION,
            due_at=at, recipient_role="federation_chair", recipient_jurisdiction=code,
            escalation_level=level))
        if at > horizon:
            break  # later levels are later still
    return owed


def _difficult(case: CaseClock, *, calendar: WorkCalendar, policy: ReminderPolicy,
               horizon: datetime) -> list[OwedNotice]:
    upper = ancestry(case.jurisdiction_code)[1:2] or [case.jurisdiction_code]
    owed = [OwedNotice(  # 及时转报上级: at once, whatever the hour
        key=difficult_transfer_key(case_id=case.case_id, kind=NoticeKind.DIFFICULT_TRANSFER),
        kind=NoticeKind.DIFFICULT_TRANSFER,
        due_at=case.received_at, recipient_role="federation_chair",
        recipient_jurisdiction=upper[0])]
    if case.upper_result:
        return owed
    received_day = case.received_at.astimezone(SHANGHAI).date()
    sequence = 1
    while True:
        day, _ = calendar.add_working_days(start=received_day,
                                           count=policy.tracking_every_working_days * sequence)
        at = sending_instant(_at(day, policy.send_at), calendar=calendar, policy=policy)
        owed.append(OwedNotice(
            key=difficult_tracking_key(case_id=case.case_id, kind=NoticeKind.DIFFICULT_TRACKING,
                                       sequence=sequence),
            kind=NoticeKind.DIFFICULT_TRACKING,
            due_at=at, recipient_role="federation_chair",
            recipient_jurisdiction=case.jurisdiction_code, sequence=sequence))
        if at > horizon:
            return owed
        sequence += 1


NEXT_CHECK_HORIZON = timedelta(days=400)


def owed_notices(case: CaseClock, *, as_of: datetime, calendar: WorkCalendar,
                 policy: ReminderPolicy) -> list[OwedNotice]:
    """What fell due by `as_of` and still applies. Of the tracking reminders only the latest
    is owed: a reminder superseded by a newer one is not sent late."""
    return _owed_among(_candidates(case, calendar=calendar, policy=policy, horizon=as_of),
                       case=case, as_of=as_of)


def next_check(case: CaseClock, *, after: datetime, calendar: WorkCalendar,
               policy: ReminderPolicy) -> datetime | None:
    """The next instant after `after` at which something could fall due; None if nothing can."""
    return _next_among(_candidates(case, calendar=calendar, policy=policy,
                                   horizon=after + NEXT_CHECK_HORIZON), after=after)


def owed_and_next_check(case: CaseClock, *, as_of: datetime, calendar: WorkCalendar,
                        policy: ReminderPolicy) -> tuple[list[OwedNotice], datetime | None]:
    """`owed_notices(as_of)` and `next_check(after=as_of)` from one pass over the candidates
    (the sweep asks both of every case it plans). The same answers: the longer horizon only
    adds candidates due after `as_of`, which are not owed yet."""
    candidates = _candidates(case, calendar=calendar, policy=policy,
                             horizon=as_of + NEXT_CHECK_HORIZON)
    return _owed_among(candidates, case=case, as_of=as_of), _next_among(candidates, after=as_of)


def _owed_among(candidates: list[OwedNotice], *, case: CaseClock,
                as_of: datetime) -> list[OwedNotice]:
    due = [n for n in candidates if n.due_at <= as_of]
    if case.response_due_at is not None and as_of >= case.response_due_at:  # the deadline has passed: escalation speaks now
        due = [n for n in due if n.kind not in (NoticeKind.REMINDER_BEFORE, NoticeKind.REMINDER_DUE)]
    tracking = [n for n in due if n.kind == NoticeKind.DIFFICULT_TRACKING]
    if len(tracking) > 1:
        due = [n for n in due if n.kind != NoticeKind.DIFFICULT_TRACKING] + tracking[-1:]
    return due


def _next_among(candidates: list[OwedNotice], *, after: datetime) -> datetime | None:
    return min((n.due_at for n in candidates if n.due_at > after), default=None)


def still_applies(notice_key: str, *, kind: str, owed_now: Iterable[OwedNotice]) -> bool:
    """Checked again just before sending, against what is owed now (`owed_now`: everything
    the case owes at the moment of sending): an answer, pause or confirmation since it was
    queued cancels it, and a reminder superseded or past its deadline is not sent late. Kinds
    the table marks as not re-checked (reports made at once) stand whatever happened since."""
    if not spec_of(kind).rechecked:
        return True
    return owed_key_of(notice_key) in {n.key for n in owed_now}
