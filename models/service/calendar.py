"""The working-day calendar in force: the built-in official years plus every notice an
operator has loaded. Loading a notice recomputes the open provisional deadlines: cases'
response deadlines and the feedback deadlines of referrals still awaiting a result."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Referral
from models.domain.calendar import SHANGHAI, CalendarFileError, WorkCalendar, YearSchedule, parse_schedule
from models.domain.deadlines import Tier, response_deadline
from models.domain.official_calendar import builtin_calendar
from models.domain.referrals import AWAITING_FEEDBACK, feedback_deadline
from models.service.procedure import extend


@dataclass(frozen=True)
class DeadlineChange:
    case_id: int
    number: str
    old_due_at: datetime
    new_due_at: datetime
    still_provisional: bool
    # "response" (the case's answer to the complainant) or "referral:<id>" (a department's
    # feedback on a referral)
    deadline: str = "response"


def current_calendar(session: Session) -> WorkCalendar:
    return _calendar_with(tuple(repo.loaded_schedules(session)))


@lru_cache(maxsize=8)
def _calendar_with(schedules: tuple[YearSchedule, ...]) -> WorkCalendar:
    """One calendar object per set of loaded notices: every intake and sweep asks for the
    calendar, and the same object keeps the working-day answers it has already worked out
    (a loaded notice changes the tuple, so the next call builds afresh)."""
    calendar = builtin_calendar()
    for schedule in schedules:
        calendar = calendar.with_schedule(schedule)
    return calendar


def read_schedule_file(path: Path) -> YearSchedule:
    fmt = "csv" if path.suffix.lower() == ".csv" else "yaml"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CalendarFileError("file not found", source=str(path)) from None
    except OSError as exc:  # a directory, no permission…
        raise CalendarFileError(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise CalendarFileError(f"not UTF-8 text ({exc.reason})", source=str(path)) from None
    return parse_schedule(text=text, fmt=fmt, source=path.name)


def load_official_schedule(
    session: Session, *, schedule: YearSchedule, now: datetime, actor: str
) -> list[DeadlineChange]:
    repo.save_schedule(session, schedule=schedule, at=now)
    repo.add_audit(session, case_id=None, at=now, actor=actor, kind="calendar_loaded",
                   note=schedule.source,
                   detail={"year": schedule.year, "holidays": len(schedule.holidays),
                           "makeup_workdays": len(schedule.makeup_workdays)})
    return recompute_provisional_deadlines(
        session, calendar=current_calendar(session), now=now, actor=actor)


def recompute_provisional_deadlines(
    session: Session, *, calendar: WorkCalendar, now: datetime, actor: str
) -> list[DeadlineChange]:
    changes = []
    for case in repo.open_provisional_cases(session):
        change = _recompute(case, calendar=calendar)
        if change is None:
            continue
        case.next_check_at = now  # its reminders are re-planned against the new date
        repo.add_audit(
            session, case_id=case.id, at=now, actor=actor, kind="deadline_recomputed",
            note="正式放假安排已载入，重新计算答复期限",
            detail={"old_due_at": change.old_due_at.isoformat(),
                    "new_due_at": change.new_due_at.isoformat(),
                    "provisional": change.still_provisional},
        )
        changes.append(change)
    changes.extend(_recompute_referrals(session, calendar=calendar, now=now, actor=actor))
    session.flush()
    return changes


def _recompute_referrals(session: Session, *, calendar: WorkCalendar, now: datetime,
                         actor: str) -> list[DeadlineChange]:
    """A referral's deadline is not stored as provisional (it is short and rarely crosses into
    an unannounced year), so every referral still awaiting feedback is recounted; only those
    whose date moves change. The few open referrals make this cheap."""
    changes = []
    for referral in session.scalars(select(Referral).where(Referral.status.in_(AWAITING_FEEDBACK))
                                    .order_by(Referral.id)):
        due_at, provisional = feedback_deadline(
            sent_at=referral.sent_at, working_days=referral.feedback_working_days,
            calendar=calendar)
        if due_at == referral.feedback_due_at:
            continue
        case = session.get(Case, referral.case_id)
        changes.append(DeadlineChange(case.id, case.number or "", referral.feedback_due_at,
                                      due_at, provisional, deadline=f"referral:{referral.id}"))
        repo.add_audit(
            session, case_id=case.id, at=now, actor=actor, kind="deadline_recomputed",
            note="正式放假安排已载入，重新计算转介反馈期限",
            detail={"referral_id": referral.id,
                    "old_due_at": referral.feedback_due_at.isoformat(),
                    "new_due_at": due_at.isoformat(), "provisional": provisional})
        referral.feedback_due_at = due_at
        case.next_check_at = now  # the referral's reminders are re-planned too
    return changes


def _recompute(case: Case, *, calendar: WorkCalendar) -> DeadlineChange | None:
    deadline = response_deadline(tier=Tier(case.tier), received_at=case.received_at,
                                 calendar=calendar, assigner_due_at=case.assigner_due_at)
    due_at = deadline.due_at
    if case.paused_working_days:  # time the clock stood still still counts in the case's favour
        due_at = extend(due_at, working_days=case.paused_working_days, calendar=calendar)
    if due_at == case.response_due_at and deadline.provisional == case.deadline_provisional:
        return None
    change = DeadlineChange(case.id, case.number or "", case.response_due_at, due_at,
                            deadline.provisional)
    case.response_due_at = due_at
    case.response_due_date = due_at.astimezone(SHANGHAI).date()
    case.deadline_provisional = deadline.provisional
    case.deadline_rule = deadline.rule
    return change
