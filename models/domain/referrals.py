"""Referrals that report back (004: 转介 — departments report the result back to the station).

A referral sends a case to a department contact with a feedback deadline (default 7 working
days, counted as response deadlines are). The contact gets the referral at once, a reminder
the working day before and on the due day; when the deadline passes without a result the
comprehensive-governance centre (综治中心) is told, and after more working days the supervisor
(the federation one level up).

Pure and derived from the referral's state, like `models.domain.reminders`: recording the
result needs no cancelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import end_of_day
from models.domain.errors import InputError
from models.domain.notice_keys import (
    referral_overdue_key,
    referral_reminder_key,
    referral_sent_key,
)
from models.domain.notice_kinds import NoticeKind
from models.domain.reminders import OwedNotice, ReminderPolicy, escalation_chain, sending_instant

DEFAULT_FEEDBACK_WORKING_DAYS = 7
MAX_FEEDBACK_WORKING_DAYS = 60


class ReferralStatus(StrEnum):
    OPEN = "open"  # sent, the department has not signed for it
    ACKNOWLEDGED = "acknowledged"  # signed for (签收), no result yet
    RESULTED = "resulted"  # the department reported the result back
    WITHDRAWN = "withdrawn"


# The one definition of "awaiting feedback": sent or signed for, and no result recorded. The
# reminders, the calendar's recount, the board, `weiquan overdue` and the digests all ask this.
AWAITING_FEEDBACK = frozenset({ReferralStatus.OPEN, ReferralStatus.ACKNOWLEDGED})


@dataclass(frozen=True)
class ReferralClock:
    """The facts of a referral the policy needs (no personal data)."""

    referral_id: int
    contact_id: int
    contact_role: str
    contact_jurisdiction: str
    case_jurisdiction: str
    sent_at: datetime
    feedback_due_at: datetime
    closed: bool  # a result was recorded, or the referral was withdrawn
    # Whether a 综治中心 is registered at the case's level or above. Without one, both
    # escalation steps go to federation supervisors, one level apart, rather than the same
    # supervisor twice.
    governance_center: bool = True


def feedback_deadline(*, sent_at: datetime, working_days: int,
                      calendar: WorkCalendar) -> tuple[datetime, bool]:
    """(24:00 of the Nth working day after the day sent, provisional?) — the day sent is
    not counted, as for response deadlines."""
    if not 1 <= working_days <= MAX_FEEDBACK_WORKING_DAYS:
        raise InputError(
            field="working_days",
            reason=f"must be between 1 and {MAX_FEEDBACK_WORKING_DAYS}, got {working_days}")
    day, covered = calendar.add_working_days(start=sent_at.astimezone(SHANGHAI).date(),
                                             count=working_days)
    return end_of_day(day), not covered


def _candidates(ref: ReferralClock, *, calendar: WorkCalendar,
                policy: ReminderPolicy) -> list[OwedNotice]:
    if ref.closed:
        return []
    due_day = ref.feedback_due_at.astimezone(SHANGHAI).date()
    common = {"referral_id": ref.referral_id}
    owed = [OwedNotice(  # the referral itself: at once, whatever the hour
        key=referral_sent_key(referral_id=ref.referral_id), kind=NoticeKind.REFERRAL, due_at=ref.sent_at,
        recipient_role=ref.contact_role, recipient_jurisdiction=ref.contact_jurisdiction,
        contact_id=ref.contact_id, **common)]
    for before in policy.remind_days_before:
        day = _working_day_before(due_day, count=before, calendar=calendar)
        at = sending_instant(datetime.combine(day, policy.send_at, tzinfo=SHANGHAI),
                             calendar=calendar, policy=policy)
        if ref.sent_at < at < ref.feedback_due_at:
            owed.append(OwedNotice(
                key=referral_reminder_key(referral_id=ref.referral_id, due_day=due_day, before=before),
                kind=NoticeKind.REFERRAL_REMINDER, due_at=at, recipient_role=ref.contact_role,
                recipient_jurisdiction=ref.contact_jurisdiction, contact_id=ref.contact_id,
                **common))
    return owed + _escalations(ref, due_day=due_day, calendar=calendar, policy=policy)


def _escalations(ref: ReferralClock, *, due_day, calendar: WorkCalendar,
                 policy: ReminderPolicy) -> list[OwedNotice]:
    """Level 1 at once after the deadline: the governance centre that assigns departments
    (the nearest one up the tree). Level 2 a few working days later: the federation one level
    above the case. Without a governance centre: the federation above the case, then the one
    above that (within `escalate_up_to`; where there is none, level 2 is not sent)."""
    chain = escalation_chain(ref.case_jurisdiction, up_to=policy.escalate_up_to) \
        or (ref.case_jurisdiction,)
    common = {"referral_id": ref.referral_id, "kind": NoticeKind.REFERRAL_OVERDUE}
    level_1_at = sending_instant(ref.feedback_due_at + timedelta(seconds=1), calendar=calendar,
                                 policy=policy)
    day, _ = calendar.add_working_days(start=due_day,
                                       count=1 + policy.escalate_every_working_days)
    level_2_at = sending_instant(datetime.combine(day, policy.send_at, tzinfo=SHANGHAI),
                                 calendar=calendar, policy=policy)
    if ref.governance_center:
        return [
            OwedNotice(key=referral_overdue_key(referral_id=ref.referral_id, due_day=due_day, level=1),
                        due_at=level_1_at, recipient_role="governance_center",
                       recipient_jurisdiction=ref.case_jurisdiction, escalation_level=1,
                       fallback_role="federation_chair", fallback_jurisdiction=chain[0], **common),
            OwedNotice(key=referral_overdue_key(referral_id=ref.referral_id, due_day=due_day, level=2),
                        due_at=level_2_at, recipient_role="federation_chair",
                       recipient_jurisdiction=chain[0], escalation_level=2, **common)]
    return [OwedNotice(key=referral_overdue_key(referral_id=ref.referral_id, due_day=due_day,
                                                level=level),
                        due_at=at, recipient_role="federation_chair",
                       recipient_jurisdiction=code, escalation_level=level, **common)
            for level, (at, code) in enumerate(zip((level_1_at, level_2_at), chain), start=1)]


def owed_referral_notices(ref: ReferralClock, *, as_of: datetime, calendar: WorkCalendar,
                          policy: ReminderPolicy) -> list[OwedNotice]:
    """What fell due by `as_of` and still applies: of the reminders only the latest, and none
    once the deadline has passed (then escalation speaks)."""
    due = [n for n in _candidates(ref, calendar=calendar, policy=policy) if n.due_at <= as_of]
    reminders = [n for n in due if n.kind == NoticeKind.REFERRAL_REMINDER]
    others = [n for n in due if n.kind != NoticeKind.REFERRAL_REMINDER]
    if as_of >= ref.feedback_due_at:
        return others
    return others + reminders[-1:]


def next_referral_check(ref: ReferralClock, *, after: datetime, calendar: WorkCalendar,
                        policy: ReminderPolicy) -> datetime | None:
    later = [n.due_at for n in _candidates(ref, calendar=calendar, policy=policy)
             if n.due_at > after]
    return min(later, default=None)


def _working_day_before(day, *, count: int, calendar: WorkCalendar):
    while count > 0:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            count -= 1
    return day
