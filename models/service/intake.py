"""Taking a complaint in (申请 → 受理): one transaction stores the case, its parties, its
deadline, an audit event and the flow run it is owed. Nothing here waits on Prefect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.db import repositories as repo
from models.db.bulk import insert_rows
from models.db.session import unit_of_work
from models.db.orm import AuditEvent, Case, Notice, Party, VisitPlan
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import Tier, response_deadline
from models.domain.risk import assess_risk
from models.domain.routing import Registry
from models.domain.tiering import propose_tier
from models.domain.visits import DEFAULT_CADENCES, VisitCadence
from models.domain.errors import FieldProblem
from models.domain.vocabulary import vocabulary
from models.intake_schema import IntakeIn, IntakeValidationError
from models.service.calendar import current_calendar
from models.service.routing import DbRegistry, at_once_rows
from models.service.visits import plan_at_intake

INTAKE_FLOW = "case-intake"

T = TypeVar("T")


def case_number(*, case_id: int, received_at: datetime) -> str:
    return f"WQ-{received_at.astimezone(SHANGHAI).year}-{case_id:06d}"


def take_in(
    session: Session, *, intake: IntakeIn, calendar: WorkCalendar, now: datetime, actor: str,
    operator_email: str = "operator@weiquan.local",
    cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES,
) -> tuple[Case, bool]:
    """Store the case; (case, created). The same external_ref again returns the stored case."""
    if intake.external_ref is not None:
        existing = repo.case_by_external_ref(session, intake.external_ref)
        if existing is not None:
            return existing, False
    if repo.get_jurisdiction(session, intake.jurisdiction) is None:
        raise unknown_jurisdiction(intake.jurisdiction)
    values = case_values(intake, calendar=calendar, now=now)
    # The id taken first (as the batch import does), so the number goes in with the row
    # instead of an UPDATE after it.
    [case_id] = repo.allocate_case_ids(session, count=1)
    case = Case(**values, id=case_id,
                number=case_number(case_id=case_id, received_at=intake.received_at),
                parties=[Party(**party) for party in party_values(intake)])
    session.add(case)
    rows = new_case_rows(case_id=case_id, intake=intake, values=values,
                         registry=DbRegistry(session), now=now, actor=actor,
                         operator_email=operator_email, cadences=cadences)
    repo.add_flow_trigger(session, key=f"{INTAKE_FLOW}:{case_id}", flow=INTAKE_FLOW,
                          case_id=case_id, at=now)
    session.flush()
    # Rows nothing here reads back: written as rows, without the unit of work's bookkeeping
    # per object (the larger part of an intake's time); queries later in the transaction see
    # them.
    insert_rows(session, AuditEvent.__table__, rows.audits)
    insert_rows(session, Notice.__table__, rows.notices)
    insert_rows(session, VisitPlan.__table__, [rows.plan] if rows.plan is not None else [])
    return case, True


def store_intake(
    sessions: sessionmaker[Session], *, intake: IntakeIn, now: datetime, actor: str,
    operator_email: str, cadences: Mapping[str, VisitCadence],
    then: Callable[[Session, Case, bool], T],
) -> T:
    """`take_in` in a transaction of its own, and `then(session, case, created)` inside it
    (a view of the case, or a refusal that rolls everything back). Two requests carrying
    one new external_ref may both miss it and both insert: the unique index refuses the
    second, whose retry then finds the first's case."""
    def once() -> T:
        with unit_of_work(sessions) as session:
            case, created = take_in(session, intake=intake, calendar=current_calendar(session),
                                    now=now, actor=actor, operator_email=operator_email,
                                    cadences=cadences)
            return then(session, case, created)

    try:
        return once()
    except IntegrityError:
        return once()


@dataclass(frozen=True)
class NewCaseRows:
    """A new case's audit events, at-once notices and visit plan, as column values in the
    order they are stored: the single intake adds them, the batch import inserts a chunk's."""

    audits: list[dict[str, Any]]
    notices: list[dict[str, Any]]
    plan: dict[str, Any] | None


def new_case_rows(*, case_id: int, intake: IntakeIn, values: Mapping[str, Any],
                  registry: Registry, now: datetime, actor: str, operator_email: str,
                  cadences: Mapping[str, VisitCadence]) -> NewCaseRows:
    at_once = at_once_rows(case_id=case_id, jurisdiction_code=intake.jurisdiction,
                           category=intake.category, risk_indicators=intake.risk_indicators,
                           mediation_attempts=intake.mediation_attempts, registry=registry,
                           now=now, operator_email=operator_email)
    # A new case's only incident is the complaint itself.
    opening = plan_at_intake(category=intake.category, risk_indicators=intake.risk_indicators,
                             risk_level=values["risk_level"], risk_reason=values["risk_reason"],
                             incident_dates=[intake.received_at], now=now, cadences=cadences)
    events = [intake_audit(values), at_once.audit, opening.audit if opening else None]
    return NewCaseRows(
        audits=[{"case_id": case_id, "at": now, "actor": actor, **event}
                for event in events if event is not None],
        notices=at_once.notices,
        plan=None if opening is None else {"case_id": case_id, "created_at": now,
                                           **opening.columns(now=now)})


def unknown_jurisdiction(code: str) -> IntakeValidationError:
    return IntakeValidationError([FieldProblem(
        "jurisdiction", f"{code} is not in the jurisdiction registry")])


def case_values(intake: IntakeIn, *, calendar: WorkCalendar, now: datetime) -> dict[str, Any]:
    """The case row an intake stores (all but its id, number and parties): tier, deadline and
    risk decided here for the single intake and the batch import alike."""
    tier, tier_reason, proposed = _tier(intake)
    deadline = response_deadline(tier=tier, received_at=intake.received_at, calendar=calendar,
                                 assigner_due_at=intake.due_at)
    risk = assess_risk(category=intake.category, risk_indicators=intake.risk_indicators,
                       mediation_attempts=intake.mediation_attempts)
    return {
        "external_ref": intake.external_ref,
        "channel": intake.channel,
        "category": intake.category,
        "tier": tier.value,
        "tier_proposed": proposed,
        "tier_reason": tier_reason,
        "status": "accepted",
        "jurisdiction_code": intake.jurisdiction,
        "received_at": intake.received_at,
        "summary": intake.summary,
        "risk_indicators": intake.risk_indicators,
        "risk_level": risk.level.value,
        "rule_risk_level": risk.level.value,
        "risk_reason": risk.reason,
        "mediation_attempts": intake.mediation_attempts,
        "assigned_by": intake.assigned_by,
        "assigner_due_at": intake.due_at,
        "response_due_at": deadline.due_at,
        "response_due_date": deadline.last_day,
        "deadline_provisional": deadline.provisional,
        "deadline_rule": deadline.rule,
        "created_at": now,
        "next_check_at": now,  # the due sweep plans its reminders (or at-once notices) now
    }


def intake_audit(values: Mapping[str, Any]) -> dict[str, Any]:
    """The intake's audit event (kind, note, detail) for the case row `case_values` made."""
    return {
        "kind": "intake", "note": f"受理：{vocabulary().label('channels', values['channel'])}",
        "detail": {
            "tier": values["tier"], "tier_proposed": values["tier_proposed"],
            "response_due_at": values["response_due_at"].isoformat(),
            "deadline_provisional": values["deadline_provisional"],
            "risk_level": values["risk_level"],
        },
    }


def _tier(intake: IntakeIn) -> tuple[Tier, str, bool]:
    if intake.tier is not None:
        return Tier(intake.tier), "来件指定", False
    tier, reason = propose_tier(category=intake.category, channel=intake.channel,
                                risk_indicators=intake.risk_indicators,
                                mediation_attempts=intake.mediation_attempts)
    return tier, reason, True


def party_values(intake: IntakeIn) -> list[dict[str, Any]]:
    """The party rows, every column given (a bulk insert takes one shape for all rows)."""
    parties = [{"role": p.role, "name": p.name, "phone": p.phone, "age": p.age,
                "address": p.address, "do_not_contact": p.do_not_contact,
                "safe_channel": p.safe_channel, "quiet_hours": p.quiet_hours}
               for p in intake.parties]
    if intake.reporter is not None and (intake.reporter.name or intake.reporter.phone):
        parties.append({"role": "reporter", "name": intake.reporter.name,
                        "phone": intake.reporter.phone, "age": None, "address": None,
                        "do_not_contact": False, "safe_channel": None, "quiet_hours": None})
    return parties
