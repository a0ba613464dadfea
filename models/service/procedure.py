"""Moving a case through the procedure. Every act is audited with who, when and a note, and
sets the case's next check to now so the due sweep re-reads it (an answer stops reminders at
once; a resume re-plans them against the extended deadline)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, FollowUp, Verification
from models.domain.casework import (
    DEFAULT_CLOSING_VISIT_WORKING_DAYS,
    check_verified_before_answer,
    follow_up_due,
)
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.errors import InputError
from models.domain.procedure import (
    PAUSE_LABELS,
    SETTLED,
    STATUS_LABELS,
    CaseState,
    IllegalMoveError,
    PauseReason,
    Status,
    check_answer,
    check_move,
    check_pause,
    check_resume,
)
from models.service.visits import active_plan


def _state(case: Case) -> CaseState:
    return CaseState(number=case.number or str(case.id), status=Status(case.status),
                     answered=case.responded_at is not None, paused=case.paused_at is not None)


def _touch(session: Session, case: Case, *, at: datetime, actor: str, kind: str, note: str,
           detail: dict | None = None) -> None:
    case.next_check_at = at
    repo.add_audit(session, case_id=case.id, at=at, actor=actor, kind=kind, note=note,
                   detail=detail or {})
    session.flush()


def move(session: Session, case: Case, *, to: Status, at: datetime, actor: str, note: str,
         calendar: WorkCalendar | None = None,
         follow_up_working_days: int = DEFAULT_CLOSING_VISIT_WORKING_DAYS) -> None:
    """Move the case on. Closing it plans its one return visit (004: 结案 → 回访),
    `follow_up_working_days` working days after the closing day — unless the family is on a
    ledger, whose visit plan goes on instead."""
    if to == Status.NOT_ACCEPTED:
        raise IllegalMoveError(case_number=case.number or "", move="不予受理",
                               reason="请通过“不予受理”登记理由")
    check_move(_state(case), to=to)
    previous = case.status
    case.status = to.value
    if to == Status.CLOSED:
        case.closed_at = at
    _touch(session, case, at=at, actor=actor, kind=f"status_{to.value}",
           note=note or STATUS_LABELS[to], detail={"from": previous, "to": to.value})
    if to == Status.CLOSED:
        _plan_follow_up(session, case, at=at, actor=actor, calendar=calendar,
                        working_days=follow_up_working_days)


def _plan_follow_up(session: Session, case: Case, *, at: datetime, actor: str,
                    calendar: WorkCalendar | None, working_days: int) -> None:
    if active_plan(session, case) is not None:
        repo.add_audit(session, case_id=case.id, at=at, actor=actor, kind="follow_up_by_plan",
                       note="已列入台账，按回访计划继续回访，不另行安排结案回访", detail={})
        return
    if calendar is None:
        from models.service.calendar import current_calendar  # it imports this module

        calendar = current_calendar(session)
    due = follow_up_due(closed_at=at, working_days=working_days, calendar=calendar)
    follow_up = FollowUp(case_id=case.id, due_at=due, created_at=at)
    session.add(follow_up)
    session.flush()
    repo.add_audit(session, case_id=case.id, at=at, actor=actor, kind="follow_up_planned",
                   note=f"结案回访：应于 {due.astimezone(SHANGHAI):%Y-%m-%d} 前回访",
                   detail={"follow_up_id": follow_up.id, "due_at": due.isoformat(),
                           "working_days": working_days})


# A clock a few minutes ahead on the cadre's side is not an answer from the future.
FUTURE_SKEW = timedelta(minutes=5)


def respond(session: Session, case: Case, *, at: datetime, actor: str, note: str,
            now: datetime | None = None) -> None:
    """Record the answer: the response clock stops. Matters assigned from above, 12338
    referrals and public-opinion matters are verified first (核实). With `now`, an answer
    dated after it (beyond a few minutes' skew) is refused: the CLI and the web both pass it."""
    check_answer(_state(case))
    if now is not None and at > now + FUTURE_SKEW:
        raise InputError(field="at", reason="答复时间不能晚于当前时间")
    check_verified_before_answer(
        channel=case.channel, risk_indicators=case.risk_indicators,
        verified=session.scalar(select(Verification.id).where(
            Verification.case_id == case.id).limit(1)) is not None)
    if at < case.received_at:
        raise IllegalMoveError(case_number=case.number or "", move="登记答复",
                               reason="答复时间不能早于受理时间")
    if case.paused_at is not None:
        case.paused_at, case.pause_reason = None, None
    case.responded_at = at
    on_time = at <= case.response_due_at
    _touch(session, case, at=at, actor=actor, kind="responded", note=note,
           detail={"on_time": on_time, "due_at": case.response_due_at.isoformat()})


def record_upper_result(session: Session, case: Case, *, at: datetime, actor: str, note: str) -> None:
    if case.tier != "difficult":
        raise IllegalMoveError(case_number=case.number or "", move="登记上级结果",
                               reason="只有转报上级的疑难个案才登记上级结果")
    if case.upper_result_at is not None:
        raise IllegalMoveError(case_number=case.number or "", move="登记上级结果",
                               reason="上级结果已登记")
    case.upper_result_at = at
    _touch(session, case, at=at, actor=actor, kind="upper_result", note=note)


def assign(session: Session, case: Case, *, contact: Contact, at: datetime, actor: str, note: str) -> None:
    if case.status in SETTLED:
        raise IllegalMoveError(case_number=case.number or "", move="指定承办人",
                               reason=f"个案处于{STATUS_LABELS[Status(case.status)]}阶段")
    previous = case.responsible_contact_id
    case.responsible_contact_id = contact.id
    _touch(session, case, at=at, actor=actor, kind="assigned", note=note,
           detail={"from_contact": previous, "to_contact": contact.id, "role": contact.role,
                   "jurisdiction": contact.jurisdiction_code})


def pause(session: Session, case: Case, *, reason: PauseReason, at: datetime, actor: str, note: str) -> None:
    check_pause(_state(case))
    case.paused_at, case.pause_reason = at, reason.value
    _touch(session, case, at=at, actor=actor, kind="paused", note=note or PAUSE_LABELS[reason],
           detail={"reason": reason.value})


def resume(session: Session, case: Case, *, at: datetime, actor: str, note: str,
           calendar: WorkCalendar) -> int:
    """Resume the clock; the working days it stood still extend the deadline. Returns them."""
    check_resume(_state(case))
    assert case.paused_at is not None
    paused_days = paused_working_days(paused_at=case.paused_at, resumed_at=at, calendar=calendar)
    old_due = case.response_due_at
    if paused_days:
        case.response_due_at = extend(case.response_due_at, working_days=paused_days, calendar=calendar)
        case.response_due_date = case.response_due_at.astimezone(SHANGHAI).date()
    case.paused_working_days += paused_days
    case.paused_at, case.pause_reason = None, None
    _touch(session, case, at=at, actor=actor, kind="resumed", note=note,
           detail={"paused_working_days": paused_days, "old_due_at": old_due.isoformat(),
                   "new_due_at": case.response_due_at.isoformat()})
    return paused_days


def paused_working_days(*, paused_at: datetime, resumed_at: datetime, calendar: WorkCalendar) -> int:
    """Working days from the pause day up to (not including) the resume day: a clock paused
    and resumed on the same day loses nothing; paused Monday, resumed Wednesday: two days."""
    start = paused_at.astimezone(SHANGHAI).date() - timedelta(days=1)
    end = resumed_at.astimezone(SHANGHAI).date() - timedelta(days=1)
    return working_days_between(calendar=calendar, start=start, end=end) if end > start else 0


def extend(due_at: datetime, *, working_days: int, calendar: WorkCalendar) -> datetime:
    local = due_at.astimezone(SHANGHAI)
    new_day, _ = calendar.add_working_days(start=local.date(), count=working_days)
    return datetime.combine(new_day, local.timetz())
