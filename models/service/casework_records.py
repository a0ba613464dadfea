"""The casework records besides the case (domain.md §11): mediations, verifications, not
accepting a case, the return visit after closing, and DV protective measures.

Each function is one act: it checks its input (an `InputError` naming the field), stores the
record, audits who did it, when and a note (personal details stay in the record, not in the
audit), and sets the case's next check to now so the due sweep re-reads what the case owes.
The rules are pure (`models.domain.casework`, `models.domain.procedure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import (
    Case,
    CaseRejection,
    Contact,
    FollowUp,
    Incident,
    Mediation,
    ProtectiveMeasure,
    Referral,
    Verification,
)
from models.domain.calendar import SHANGHAI
from models.domain.casework import (
    MAX_NAME_CHARS,
    MEASURE_STATUSES,
    MeasureKind,
    MeasureStatus,
    MediationOutcome,
    Reasonableness,
    Satisfaction,
    Veracity,
    VerificationMethod,
    check_measure,
    choice,
    failed_mediations,
    label,
    mediation_reaches_report,
    takes_protective_measures,
    text,
)
from models.domain.errors import InputError
from models.domain.notice_keys import mediation_round
from models.domain.procedure import STATUS_LABELS, IllegalMoveError, Status, check_move
from models.domain.referrals import AWAITING_FEEDBACK
from models.domain.routing import Trigger
from models.domain.visits import DEFAULT_CADENCES, VisitCadence
from models.service.owed import load_case_works
from models.service.procedure import _state, _touch
from models.service.routing import route_at_intake
from models.service.visits import active_plan, record_incident

FUTURE_SKEW = timedelta(minutes=5)
BREACH_INDICATOR = "protection_order_breach"


def _open_case(case: Case) -> None:
    """Records are kept on cases the federation took on: not on one it did not accept."""
    if case.status == Status.NOT_ACCEPTED:
        raise InputError(field="case", reason=f"{case.number} 已不予受理")


def _past(at: datetime, *, field: str, now: datetime, case: Case) -> datetime:
    if at.tzinfo is None:
        raise InputError(field=field, reason="时间须带时区（如 +08:00）")
    if at > now + FUTURE_SKEW:
        raise InputError(field=field, reason=f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 晚于当前时间")
    if at < case.received_at:
        raise InputError(field=field, reason="不能早于受理时间")
    return at


def _past_day(day: date, *, field: str, now: datetime, case: Case) -> date:
    if day > now.astimezone(SHANGHAI).date():
        raise InputError(field=field, reason=f"{day.isoformat()} 晚于今天")
    if day < case.received_at.astimezone(SHANGHAI).date():
        raise InputError(field=field, reason=f"{day.isoformat()} 早于受理日期")
    return day


# --- mediation -------------------------------------------------------------------------------

def record_mediation(session: Session, *, case: Case, held_on: date, mediator: str,
                     outcome: str, note: str = "", now: datetime, actor: str,
                     operator_email: str) -> Mediation:
    """调解. `mediator` is a registry contact (id or email) or a mediator's name. The failure
    that brings failed mediations to two (the intake's count included) reports the case at
    once to the upper federation or 12338, through the routing table, once."""
    _open_case(case)
    result = MediationOutcome(choice(MediationOutcome, outcome, field="outcome"))
    _past_day(held_on, field="held_on", now=now, case=case)
    contact, name = _mediator(session, mediator)
    note = text(note, field="note")
    failed_before = session.scalar(select(func.count()).select_from(Mediation).where(
        Mediation.case_id == case.id, Mediation.outcome == MediationOutcome.FAILED)) or 0
    mediation = Mediation(case_id=case.id, held_on=held_on,
                          mediator_contact_id=contact.id if contact else None,
                          mediator_name=name, outcome=result, note=note,
                          recorded_at=now, recorded_by=actor)
    session.add(mediation)
    session.flush()
    failed = failed_mediations(intake_attempts=case.mediation_attempts,
                               failed_records=failed_before
                               + (result is MediationOutcome.FAILED))
    _touch(session, case, at=now, actor=actor, kind="mediation_recorded",
           note=f"调解（{held_on.isoformat()}，{name}）：{label(result)}",
           detail={"mediation_id": mediation.id, "outcome": result.value,
                   "held_on": held_on.isoformat(), "failed_mediations": failed})
    if mediation_reaches_report(intake_attempts=case.mediation_attempts,
                                failed_before=failed_before, outcome=result):
        route_at_intake(session, case, now=now, actor=actor, operator_email=operator_email,
                        key_prefix=mediation_round(case_id=case.id), only=[Trigger.UNRESOLVED])
    return mediation


def _mediator(session: Session, key: str) -> tuple[Contact | None, str]:
    name = text(key, field="mediator", required=True, limit=MAX_NAME_CHARS)
    contact = repo.contact_by_key(session, name)
    if contact is not None:
        return contact, contact.name
    if "@" in name or name.isdigit():  # meant as a registry key: a slip, not a name
        raise InputError(field="mediator", reason=f"联络名册中没有 {name!r}")
    return None, name


# --- verification ----------------------------------------------------------------------------

def record_verification(session: Session, *, case: Case, verified_at: datetime, method: str,
                        with_whom: str, findings: str, veracity: str, reasonableness: str,
                        now: datetime, actor: str) -> Verification:
    """核实: when, how, with whom, what was found; true or not, the claim reasonable or not."""
    _open_case(case)
    how = VerificationMethod(choice(VerificationMethod, method, field="method"))
    true = Veracity(choice(Veracity, veracity, field="veracity"))
    reasonable = Reasonableness(choice(Reasonableness, reasonableness, field="reasonableness"))
    _past(verified_at, field="verified_at", now=now, case=case)
    verification = Verification(
        case_id=case.id, verified_at=verified_at, method=how,
        with_whom=text(with_whom, field="with_whom", required=True, limit=MAX_NAME_CHARS),
        findings=text(findings, field="findings", required=True), veracity=true,
        reasonableness=reasonable, recorded_at=now, recorded_by=actor)
    session.add(verification)
    session.flush()
    _touch(session, case, at=now, actor=actor, kind="verification_recorded",
           note=f"核实（{label(how)}）：{label(true)}，{label(reasonable)}",
           detail={"verification_id": verification.id, "method": how.value,
                   "veracity": true.value, "reasonableness": reasonable.value,
                   "verified_at": verified_at.isoformat()})
    return verification


# --- not accepted ----------------------------------------------------------------------------

def reject_case(session: Session, *, case: Case, reason: str, redirected_to: str | None = None,
                now: datetime, actor: str) -> CaseRejection:
    """不予受理 / 转办他处 at the 申请/受理 stage: the clock stops, the case leaves every list of
    work. Open referrals must be withdrawn first (a department would be chased for a case
    the federation did not take on); a visit plan opened at intake ends with the case."""
    reason = text(reason, field="reason", required=True)
    where = text(redirected_to, field="redirect_to", limit=MAX_NAME_CHARS)
    check_move(_state(case), to=Status.NOT_ACCEPTED)
    if session.scalar(select(Referral.id).where(Referral.case_id == case.id,
                                                Referral.status.in_(AWAITING_FEEDBACK)).limit(1)):
        raise IllegalMoveError(case_number=case.number or "", move="不予受理",
                               reason="还有未办结的转介：请先撤回")
    previous = case.status
    case.status = Status.NOT_ACCEPTED
    case.paused_at, case.pause_reason = None, None
    rejection = CaseRejection(case_id=case.id, reason=reason, redirected_to=where,
                              rejected_at=now, recorded_by=actor)
    session.add(rejection)
    plan = active_plan(session, case)
    if plan is not None:
        plan.status, plan.ended_at, plan.ended_by = "ended", now, actor
        plan.end_reason, plan.next_due_at = f"不予受理：{reason}", None
    _touch(session, case, at=now, actor=actor, kind="not_accepted",
           note=f"{STATUS_LABELS[Status.NOT_ACCEPTED]}：{reason}"
           + (f"（已转办{where}）" if where else ""),
           detail={"from": previous, "redirected_to": where or None,
                   "visit_plan_ended": plan is not None})
    return rejection


# --- the return visit after closing -------------------------------------------------------------

def follow_up_of(session: Session, case: Case) -> FollowUp | None:
    return session.scalar(select(FollowUp).where(FollowUp.case_id == case.id))


def record_follow_up(session: Session, *, case: Case, visited_at: datetime, visited_by: str,
                     outcome: str, satisfaction: str, now: datetime, actor: str) -> FollowUp:
    """结案回访: made, with what came of it and whether the person was satisfied. Its reminders
    stop (the sweep finds nothing owed)."""
    happy = Satisfaction(choice(Satisfaction, satisfaction, field="satisfaction"))
    by = text(visited_by, field="visited_by", required=True, limit=100)
    result = text(outcome, field="outcome", required=True)
    _past(visited_at, field="visited_at", now=now, case=case)
    follow_up = follow_up_of(session, case)
    if follow_up is None:
        raise InputError(field="case", reason=(
            f"{case.number} 没有待进行的结案回访（尚未结案，或该家庭在台账上、按回访计划回访："
            "请在回访计划中登记）"))
    if follow_up.visited_at is not None:
        raise InputError(field="case", reason=f"{case.number} 的结案回访已登记")
    if case.closed_at is not None and visited_at < case.closed_at:
        raise InputError(field="visited_at", reason="不能早于结案时间")
    follow_up.visited_at, follow_up.visited_by, follow_up.outcome = visited_at, by, result
    follow_up.satisfaction, follow_up.recorded_at, follow_up.recorded_by = happy, now, actor
    _touch(session, case, at=now, actor=actor, kind="follow_up_recorded",
           note=f"结案回访：{label(happy)}",
           detail={"follow_up_id": follow_up.id, "visited_at": visited_at.isoformat(),
                   "satisfaction": happy.value,
                   "on_time": visited_at <= follow_up.due_at})
    return follow_up


# --- protective measures -----------------------------------------------------------------------

def record_measure(session: Session, *, case: Case, kind: str, status: str | None = None,
                   on: date, until: date | None = None, issuer: str = "", note: str = "",
                   now: datetime, actor: str) -> ProtectiveMeasure:
    """告诫书 / 伤情鉴定 / 人身安全保护令 / 临时庇护 for a DV case. A granted protection order's
    expiry is a deadline: the responsible cadre is reminded 10 working days before and on
    the day (planned by the due sweep from this row)."""
    _open_case(case)
    what = MeasureKind(choice(MeasureKind, kind, field="kind"))
    state = MeasureStatus(choice(MeasureStatus, status, field="status")) if status \
        else _default_status(what)
    if not takes_protective_measures(category=case.category):
        raise InputError(field="case", reason=f"{case.number} 不是家庭暴力个案："
                         "保护措施只为家庭暴力个案登记")
    issuer = text(issuer, field="issuer", limit=MAX_NAME_CHARS)
    if on > now.astimezone(SHANGHAI).date():
        raise InputError(field="on", reason=f"{on.isoformat()} 晚于今天")
    check_measure(kind=what, status=state, on=on, until=until, issuer=issuer)
    measure = ProtectiveMeasure(case_id=case.id, kind=what, status=state, on_date=on,
                                until_date=until, issuer=issuer, note=text(note, field="note"),
                                recorded_at=now, recorded_by=actor)
    session.add(measure)
    session.flush()
    _touch(session, case, at=now, actor=actor, kind="measure_recorded",
           note=f"{label(what)}：{label(state)}（{on.isoformat()}"
           + (f"，至 {until.isoformat()}" if until else "") + "）",
           detail={"measure_id": measure.id, "kind": what.value, "status": state.value,
                   "on": on.isoformat(), "until": until.isoformat() if until else None})
    return measure


def _default_status(kind: MeasureKind) -> MeasureStatus:
    return MEASURE_STATUSES[kind][0]


def current_protection_order(session: Session, case: Case) -> ProtectiveMeasure | None:
    """The order in force (the latest protection-order record, if it granted one): read as
    the due sweep reads it."""
    return load_case_works(session, [case])[0].order


def record_order_breach(session: Session, *, case: Case, occurred_at: datetime, note: str = "",
                        risk_indicators: Sequence[str] = (), now: datetime, actor: str,
                        operator_email: str,
                        cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> Incident:
    """A breach of the protection order is a new incident: the risk is re-assessed, the visit
    plan tightened and the breach reported at once (police first), as any incident is."""
    if current_protection_order(session, case) is None:
        raise InputError(field="breach", reason=f"{case.number} 没有已签发的人身安全保护令")
    incident = record_incident(
        session, case=case, occurred_at=occurred_at,
        risk_indicators=list(dict.fromkeys([BREACH_INDICATOR, *risk_indicators])),
        note=note, now=now, actor=actor, operator_email=operator_email, cadences=cadences)
    repo.add_audit(session, case_id=case.id, at=now, actor=actor,
                   kind="protection_order_breached", note="违反人身安全保护令",
                   detail={"incident_id": incident.id})
    session.flush()
    return incident
