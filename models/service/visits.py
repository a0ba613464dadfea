"""Return visits (000 回访, 附表3), incidents and the risk level, and safe contact.

Each act is audited and sets the case's next check to now, so the due sweep re-reads the
plan at once: a recorded visit moves the reminders to the next visit, a tightened plan brings
the next visit forward, an ended plan stops them. The policy is pure (`models.domain.visits`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, Incident, Party, Visit, VisitPlan
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError, parse_choice
from models.domain.notice_keys import incident_round
from models.domain.risk import RiskLevel, assess_risk
from models.domain.safe_contact import SafeContact, parse_quiet_hours
from models.domain.visits import (
    DEFAULT_CADENCES,
    REPEAT_INCIDENTS,
    Ledger,
    VisitCadence,
    change_level,
    check_end,
    first_visit_due,
    incidents_in_window,
    ledger_for,
    next_visit_due,
    plan_level,
    tighten,
)
from models.domain.vocabulary import vocabulary

VISIT_MODES = vocabulary().groups["visit_modes"]
FUTURE_SKEW = timedelta(minutes=5)
MAX_NOTE_CHARS = 4000

Cadences = Mapping[str, VisitCadence]


# --- the plan -----------------------------------------------------------------------------

def active_plan(session: Session, case: Case) -> VisitPlan | None:
    return session.scalar(select(VisitPlan).where(VisitPlan.case_id == case.id,
                                                  VisitPlan.status == "active"))


def plan_of(session: Session, case: Case) -> VisitPlan | None:
    return session.scalar(select(VisitPlan).where(VisitPlan.case_id == case.id))


def incident_times(session: Session, case: Case) -> list[datetime]:
    """The complaint itself is the family's first known incident; recorded incidents follow."""
    recorded = session.scalars(select(Incident.occurred_at).where(Incident.case_id == case.id))
    return [case.received_at, *recorded]


@dataclass(frozen=True)
class PlanOpening:
    """A return-visit plan as it is opened: its ledger, cadence, first visit and audit event."""

    ledger: Ledger
    level: str
    reason: str
    next_due_at: datetime

    def columns(self, *, now: datetime) -> dict[str, Any]:
        """The plan row's values as opened now (a plan ended before starts afresh)."""
        return {"ledger": self.ledger.value, "level": self.level, "reason": self.reason,
                "status": "active", "started_at": now, "next_due_at": self.next_due_at,
                "ended_at": None, "end_reason": "", "ended_by": ""}

    @property
    def audit(self) -> dict[str, Any]:
        return {"kind": "visit_plan_opened",
                "note": f"列入{'高风险家庭' if self.ledger is Ledger.HIGH_RISK else '重点关注家庭'}台账",
                "detail": {"ledger": self.ledger.value, "level": self.level,
                           "next_due_at": self.next_due_at.isoformat()}}


def plan_opening(*, ledger: Ledger, risk_level: str, incident_dates: Sequence[datetime],
                 reason: str, now: datetime, cadences: Cadences) -> PlanOpening:
    count = incidents_in_window(incident_dates=list(incident_dates), as_of=now)
    level = plan_level(risk_level=risk_level, ledger=ledger, incidents_last_12_months=count)
    return PlanOpening(ledger=ledger, level=level, reason=reason,
                       next_due_at=first_visit_due(opened_at=now, cadence=cadences[level]))


def plan_at_intake(*, category: str, risk_indicators: Sequence[str], risk_level: str,
                   risk_reason: str, incident_dates: Sequence[datetime], now: datetime,
                   cadences: Cadences) -> PlanOpening | None:
    """DV, child abuse, high-risk markers or a life at risk → high-risk ledger; focus-group
    markers → focus ledger. Others get no plan."""
    ledger = ledger_for(category=category, risk_indicators=risk_indicators)
    if ledger is None:
        return None
    return plan_opening(ledger=ledger, risk_level=risk_level, incident_dates=incident_dates,
                        reason="受理时评估：" + risk_reason, now=now, cadences=cadences)


def _open_plan(session: Session, case: Case, opening: PlanOpening, *, now: datetime,
               actor: str) -> VisitPlan:
    plan = plan_of(session, case)
    if plan is None:
        plan = VisitPlan(case_id=case.id, created_at=now)
        session.add(plan)
    for name, value in opening.columns(now=now).items():
        setattr(plan, name, value)
    case.next_check_at = now
    session.flush()
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, **opening.audit)
    return plan


def _retighten(session: Session, case: Case, plan: VisitPlan, *, ledger: Ledger, now: datetime,
               actor: str, cadences: Cadences, why: str) -> None:
    """After an incident or a raised level: the stricter cadence, restarted now, and the next
    visit no later than that cadence's first visit."""
    count = incidents_in_window(incident_dates=incident_times(session, case), as_of=now)
    wanted = plan_level(risk_level=case.risk_level, ledger=ledger, incidents_last_12_months=count)
    level = tighten(current_level=plan.level, new_level=wanted)
    if ledger is Ledger.HIGH_RISK:
        plan.ledger = ledger.value
    soonest = first_visit_due(opened_at=now, cadence=cadences[level])
    before = (plan.level, plan.next_due_at)
    if level != plan.level:
        plan.level, plan.started_at = level, now
    plan.next_due_at = min(plan.next_due_at, soonest) if plan.next_due_at else soonest
    case.next_check_at = now
    session.flush()
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="visit_plan_tightened",
                   note=why, detail={"level": [before[0], plan.level],
                                     "next_due_at": [before[1].isoformat() if before[1] else None,
                                                     plan.next_due_at.isoformat()]})


def record_visit(session: Session, *, case: Case, visited_at: datetime, visited_by: str,
                 mode: str, met_alone: bool, needs: str, condition: str, help_given: str,
                 now: datetime, actor: str, next_visit_on: date | None = None,
                 cadences: Cadences = DEFAULT_CADENCES) -> Visit:
    """附表3: a dated visit and its notes. The next visit is counted from this visit's actual
    date; the cadre may bring it forward (`next_visit_on`), never push it back."""
    plan = active_plan(session, case)
    if plan is None:
        raise InputError(field="case", reason=f"{case.number} 没有正在执行的回访计划")
    _check_visit_input(case=case, visited_at=visited_at, visited_by=visited_by, mode=mode,
                       now=now, texts={"needs": needs, "condition": condition,
                                       "help_given": help_given})
    latest = session.scalar(select(Visit.visited_at).where(Visit.plan_id == plan.id)
                            .order_by(Visit.visited_at.desc()).limit(1))
    last = max(visited_at, latest) if latest else visited_at
    next_due = next_visit_due(plan_started_at=plan.started_at, last_visit_at=last,
                              cadence=cadences[plan.level])
    if plan.next_due_at is not None and _plan_changed_since(session, case, since=visited_at):
        # The visit happened before an incident or a cadre brought the next visit forward:
        # recording it late must not push that earlier visit back.
        next_due = min(next_due, plan.next_due_at)
    if next_visit_on is not None:
        next_due = _brought_forward(next_due, to=next_visit_on, field="next_visit_on", now=now)
    visit = Visit(plan_id=plan.id, case_id=case.id, visited_at=visited_at,
                  visited_by=visited_by.strip(), mode=mode, met_alone=met_alone,
                  needs=needs.strip(), condition=condition.strip(), help_given=help_given.strip(),
                  next_due_at=next_due, recorded_at=now, recorded_by=actor)
    session.add(visit)
    plan.next_due_at = next_due
    case.next_check_at = now
    session.flush()
    # Notes are personal: they stay in the visit row, the audit says only what happened.
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="visit_recorded",
                   note=f"回访：{VISIT_MODES[mode]}{'，单独会见当事人' if met_alone else ''}",
                   detail={"visit_id": visit.id, "visited_at": visited_at.isoformat(),
                           "mode": mode, "met_alone": met_alone,
                           "next_due_at": next_due.isoformat()})
    return visit


PLAN_CHANGES = ("visit_plan_opened", "visit_plan_tightened", "visit_brought_forward")


def _plan_changed_since(session: Session, case: Case, *, since: datetime) -> bool:
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id == case.id, AuditEvent.kind.in_(PLAN_CHANGES),
        AuditEvent.at > since).limit(1)) is not None


def _check_visit_input(*, case: Case, visited_at: datetime, visited_by: str, mode: str,
                       now: datetime, texts: dict[str, str]) -> None:
    if mode not in VISIT_MODES:
        raise InputError(field="mode", reason=f"没有这种回访方式：{mode!r}（可选：{', '.join(VISIT_MODES)}）")
    if not visited_by.strip():
        raise InputError(field="visited_by", reason="请填写回访人")
    if visited_at.tzinfo is None:
        raise InputError(field="visited_at", reason="时间须带时区（如 +08:00）")
    if visited_at > now + FUTURE_SKEW:
        raise InputError(field="visited_at", reason="回访时间不能晚于当前时间")
    if visited_at < case.received_at:
        raise InputError(field="visited_at", reason="不能早于受理时间")
    for name, text in texts.items():
        if len(text) > MAX_NOTE_CHARS:
            raise InputError(field=name, reason=f"不能超过{MAX_NOTE_CHARS}字")


def _brought_forward(due: datetime, *, to: date, field: str, now: datetime) -> datetime:
    if to < now.astimezone(SHANGHAI).date():
        raise InputError(field=field, reason=f"{to.isoformat()} 已经过去")
    if to > due.astimezone(SHANGHAI).date():
        raise InputError(field=field, reason=(
            f"{to.isoformat()} 晚于回访计划的日期（{due.astimezone(SHANGHAI).date()}）："
            "回访只能提前，不能推后"))
    return datetime.combine(to, due.astimezone(SHANGHAI).timetz())


def bring_forward(session: Session, *, case: Case, to: date, now: datetime, actor: str,
                  reason: str = "") -> VisitPlan:
    plan = active_plan(session, case)
    if plan is None or plan.next_due_at is None:
        raise InputError(field="case", reason=f"{case.number} 没有正在执行的回访计划")
    before = plan.next_due_at
    plan.next_due_at = _brought_forward(before, to=to, field="to", now=now)
    case.next_check_at = now
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="visit_brought_forward",
                   note=reason or "提前回访",
                   detail={"from": before.isoformat(), "to": plan.next_due_at.isoformat()})
    session.flush()
    return plan


def end_plan(session: Session, *, case: Case, reason: str, now: datetime, actor: str) -> VisitPlan:
    plan = active_plan(session, case)
    if plan is None:
        raise InputError(field="case", reason=f"{case.number} 没有正在执行的回访计划")
    check_end(reason=reason)
    plan.status, plan.ended_at, plan.end_reason, plan.ended_by = "ended", now, reason.strip(), actor
    plan.next_due_at = None
    case.next_check_at = now
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="visit_plan_ended",
                   note=reason.strip(), detail={"ledger": plan.ledger, "level": plan.level})
    session.flush()
    return plan


# --- incidents and the risk level --------------------------------------------------------------

def record_incident(session: Session, *, case: Case, occurred_at: datetime,
                    risk_indicators: Sequence[str], note: str, now: datetime, actor: str,
                    operator_email: str, cadences: Cadences = DEFAULT_CADENCES) -> Incident:
    """A new incident: re-assess, tighten (never loosen) the level and the plan, report at
    once what must be reported, and put the family on the ledger if it was not."""
    from models.service.routing import route_at_intake  # routing imports nothing of this

    if occurred_at.tzinfo is None:
        raise InputError(field="occurred_at", reason="时间须带时区（如 +08:00）")
    if occurred_at > now + FUTURE_SKEW:
        raise InputError(field="occurred_at", reason="不能晚于当前时间")
    if len(note) > MAX_NOTE_CHARS:
        raise InputError(field="note", reason=f"不能超过{MAX_NOTE_CHARS}字")
    assessed = assess_risk(category=case.category, risk_indicators=risk_indicators,
                           mediation_attempts=case.mediation_attempts)
    incident = Incident(case_id=case.id, occurred_at=occurred_at,
                        risk_indicators=list(risk_indicators), note=note.strip(),
                        assessed_level=assessed.level.value, recorded_at=now, recorded_by=actor)
    session.add(incident)
    session.flush()
    count = incidents_in_window(incident_dates=incident_times(session, case), as_of=now)
    new_level = assessed.level.value
    reasons = [assessed.reason]
    if count >= REPEAT_INCIDENTS:
        new_level = tighten(current_level=new_level, new_level=RiskLevel.HIGH.value)
        reasons.append(f"12个月内发生{count}次事件，列为高风险家庭")
    case.rule_risk_level = tighten(current_level=case.rule_risk_level, new_level=new_level)
    before = case.risk_level
    case.risk_level = tighten(current_level=case.risk_level, new_level=new_level)
    if case.risk_level != before:
        case.risk_reason = "；".join(reasons)
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="incident_recorded",
                   note="新发事件，重新评估风险",
                   detail={"incident_id": incident.id, "assessed_level": assessed.level.value,
                           "incidents_12_months": count, "risk_level": [before, case.risk_level]})
    route_at_intake(session, case, now=now, actor=actor, operator_email=operator_email,
                    risk_indicators=risk_indicators, key_prefix=incident_round(incident_id=incident.id))
    _plan_after_incident(session, case, incident=incident, count=count, now=now, actor=actor,
                         cadences=cadences)
    session.flush()
    return incident


def _plan_after_incident(session: Session, case: Case, *, incident: Incident, count: int,
                         now: datetime, actor: str, cadences: Cadences) -> None:
    ledger = ledger_for(category=case.category,
                        risk_indicators=[*case.risk_indicators, *incident.risk_indicators])
    if count >= REPEAT_INCIDENTS:
        ledger = Ledger.HIGH_RISK
    plan = active_plan(session, case)
    if plan is None:
        if ledger is None and case.risk_level in (RiskLevel.NONE, RiskLevel.ELEVATED):
            return
        opening = plan_opening(
            ledger=ledger or Ledger.FOCUS, risk_level=case.risk_level,
            incident_dates=incident_times(session, case),
            reason=f"新发事件（{incident.occurred_at.astimezone(SHANGHAI):%Y-%m-%d}）后列入",
            now=now, cadences=cadences)
        _open_plan(session, case, opening, now=now, actor=actor)
        return
    _retighten(session, case, plan, ledger=ledger or Ledger(plan.ledger), now=now, actor=actor,
               cadences=cadences, why="新发事件，收紧回访计划")


def set_risk_level(session: Session, *, case: Case, level: str, reason: str | None,
                   now: datetime, actor: str, cadences: Cadences = DEFAULT_CADENCES) -> None:
    """Raising is free; lowering below what the rules set needs a reason, which is audited."""
    parse_choice(level, field="level", what="risk level", choices=(v.value for v in RiskLevel))
    change_level(rule_level=case.rule_risk_level, requested=level, reason=reason)
    before = case.risk_level
    case.risk_level = level
    case.risk_reason = ((reason or "").strip()
                        or f"人工调整为{vocabulary().label('risk_levels', level)}")
    case.next_check_at = now
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="risk_level_set",
                   note=case.risk_reason, detail={"from": before, "to": level,
                                                  "rule_level": case.rule_risk_level})
    plan = active_plan(session, case)
    if plan is not None:
        _replan_level(session, case, plan, now=now, actor=actor, cadences=cadences)
    session.flush()


def _replan_level(session: Session, case: Case, plan: VisitPlan, *, now: datetime, actor: str,
                  cadences: Cadences) -> None:
    count = incidents_in_window(incident_dates=incident_times(session, case), as_of=now)
    level = plan_level(risk_level=case.risk_level, ledger=Ledger(plan.ledger),
                       incidents_last_12_months=count)
    if level == plan.level:
        return
    tighter = tighten(current_level=plan.level, new_level=level) == level
    if tighter:
        _retighten(session, case, plan, ledger=Ledger(plan.ledger), now=now, actor=actor,
                   cadences=cadences, why="风险等级提高，收紧回访计划")
        return
    # Loosening follows a lowered level that was given a reason: the next visit stays as it
    # is, the one after follows the looser cadence.
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="visit_plan_loosened",
                   note="风险等级经说明理由后降低", detail={"level": [plan.level, level]})
    plan.level, plan.started_at = level, now


# --- safe contact -------------------------------------------------------------------------------

def victims(case: Case) -> list[Party]:
    return [p for p in case.parties if p.role == "victim"]


def safe_contact_of(case: Case) -> SafeContact:
    """The strictest wishes of anyone in the case (usually the victim)."""
    people = case.parties
    quiet = tuple(dict.fromkeys(parse_quiet_hours(p.quiet_hours) for p in people if p.quiet_hours))
    return SafeContact(do_not_contact=any(p.do_not_contact for p in people),
                       has_safe_channel=any(bool(p.safe_channel) for p in people),
                       quiet_hours=quiet)


def set_safe_contact(session: Session, *, case: Case, do_not_contact: bool | None,
                     safe_channel: str | None, quiet_hours: str | None, now: datetime,
                     actor: str) -> SafeContact:
    people = victims(case)
    if not people:
        raise InputError(field="case", reason=f"{case.number} 没有登记受害人")
    if quiet_hours:
        parse_quiet_hours(quiet_hours)
    if safe_channel is not None and len(safe_channel) > 300:
        raise InputError(field="safe_channel", reason="不能超过300字")
    for person in people:
        if do_not_contact is not None:
            person.do_not_contact = do_not_contact
        if safe_channel is not None:
            person.safe_channel = safe_channel.strip() or None
        if quiet_hours is not None:
            person.quiet_hours = quiet_hours.strip() or None
    case.next_check_at = now
    safety = safe_contact_of(case)
    # The channel itself is personal data: the audit records only that it changed.
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="safe_contact_set",
                   note="安全联系设置",
                   detail={"do_not_contact": safety.do_not_contact,
                           "safe_channel_set": safety.has_safe_channel,
                           "quiet_hours": [str(q) for q in safety.quiet_hours]})
    session.flush()
    return safety
