"""The database tables. The database rows are the truth; schedulers only wake things up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from models.db.types import UTCDateTime, enum_of
from models.domain.access import Role
from models.domain.casework import (
    MeasureKind,
    MeasureStatus,
    MediationOutcome,
    Reasonableness,
    Satisfaction,
    Veracity,
    VerificationMethod,
)
from models.domain.deadlines import Tier
from models.domain.jurisdiction import Level
from models.domain.notice_kinds import NoticeKind
from models.domain.procedure import PauseReason, Status
from models.domain.referrals import ReferralStatus
from models.domain.risk import RiskLevel
from models.domain.statuses import NoticeStatus, TriggerStatus
from models.domain.visits import Ledger, PlanStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Jurisdiction(Base):
    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[Level] = mapped_column(enum_of(Level, column="level"))
    parent_code: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("jurisdictions.code"), index=True
    )


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("jurisdiction_code", "role", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jurisdiction_code: Mapped[str] = mapped_column(
        String(12), ForeignKey("jurisdictions.code"), index=True
    )
    role: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    post: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    external_ref: Mapped[str | None] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(40))
    # None for a family found without a complaint (channel `screening`): it owes nobody an
    # answer, so it has no tier and no response deadline (migration 0011 says why).
    tier: Mapped[Tier | None] = mapped_column(enum_of(Tier, column="tier"))
    tier_proposed: Mapped[bool] = mapped_column(Boolean, default=False)
    tier_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(enum_of(Status, column="status"), index=True)
    jurisdiction_code: Mapped[str] = mapped_column(
        String(12), ForeignKey("jurisdictions.code"), index=True
    )
    received_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text)
    risk_indicators: Mapped[list[str]] = mapped_column(default=list)
    risk_level: Mapped[RiskLevel] = mapped_column(enum_of(RiskLevel, column="risk_level"),
                                                  default=RiskLevel.NONE)
    risk_reason: Mapped[str] = mapped_column(Text, default="")
    # The level the rules set (intake, incidents). `risk_level` may be raised by hand freely;
    # lowering it below this needs a recorded reason.
    rule_risk_level: Mapped[RiskLevel] = mapped_column(
        enum_of(RiskLevel, column="rule_risk_level"), default=RiskLevel.NONE)
    mediation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    assigned_by: Mapped[str | None] = mapped_column(String(200))
    assigner_due_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None] = mapped_column(index=True)
    response_due_date: Mapped[date | None] = mapped_column(Date)
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    deadline_rule: Mapped[str] = mapped_column(Text, default="")
    responded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # Who must answer: a contact from the registry; None = the federation chair of the case's
    # jurisdiction (nearest level up).
    responsible_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    paused_at: Mapped[datetime | None]
    pause_reason: Mapped[PauseReason | None] = mapped_column(
        enum_of(PauseReason, column="pause_reason", length=40))
    paused_working_days: Mapped[int] = mapped_column(Integer, default=0)
    upper_result_at: Mapped[datetime | None]  # difficult cases: the upper level reported back
    closed_at: Mapped[datetime | None]
    # The row is the timer: the next instant the due sweep must look at this case (None: no
    # more notices can fall due). Any change to the case sets it to "now".
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    # Stored by a batch import (`weiquan intake --batch`); None for a single intake.
    import_id: Mapped[int | None] = mapped_column(ForeignKey("case_imports.id"), index=True)

    parties: Mapped[list[Party]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Party.id"
    )


class CaseImport(Base):
    """A batch intake (`weiquan intake --batch`): its source file and what became of its lines.
    The import, not each of its cases, is owed one flow run."""

    __tablename__ = "case_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))  # the file's name, as the run is named
    actor: Mapped[str] = mapped_column(String(100))
    stored: Mapped[int] = mapped_column(Integer, default=0)
    known: Mapped[int] = mapped_column(Integer, default=0)  # external_ref already stored
    refused: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    age: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(300))
    # Safe contact: nothing the system sends or schedules may contact her directly, or in her
    # quiet hours ("HH:MM-HH:MM", local time; may wrap midnight).
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    safe_channel: Mapped[str | None] = mapped_column(String(300))
    quiet_hours: Mapped[str | None] = mapped_column(String(11))

    case: Mapped[Case] = relationship(back_populates="parties")


class AuditEvent(Base):
    """记: every act on a case, who did it and when. Details hold no free-text personal data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    # Indexed: every due sweep asks for the latest outbox-backlog event (models/service/backlog.py).
    kind: Mapped[str] = mapped_column(String(40), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CalendarYear(Base):
    """An official holiday notice loaded by an operator; overrides the built-in calendar."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    holidays: Mapped[list[str]] = mapped_column()
    makeup_workdays: Mapped[list[str]] = mapped_column()
    loaded_at: Mapped[datetime]


# At-once reports of a life at risk that went out: each must be confirmed. Written as SQL
# text, with the kind's value from the kinds table, because an index's WHERE is matched
# against the query's conditions as written: bound parameters would not match it.
SENT_AT_ONCE = text(f"kind = '{NoticeKind.AT_ONCE.value}' AND must_confirm AND status = 'sent'")


class Notice(Base):
    """The outbox: one row per notice that fell due, keyed so it exists once. Sending moves it
    queued → sending → sent, or back to queued with backoff, or to failed after too many
    tries. A notice that no longer applies when its turn comes is cancelled, not sent."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_deliverable", "status", "next_attempt_at"),
                      # the claim: most urgent first, then oldest due
                      Index("ix_notices_claim", "status", "priority", "next_attempt_at"),
                      # the planner's question for every batch of cases: their at-once
                      # reports sent and to be confirmed. A partial index holds those rows
                      # only, so a batch's few hundred look-ups stay in a small tree; with
                      # case_id and status indexes alone SQLite searched by status and read
                      # every sent notice of the outbox's history for each batch
                      Index("ix_notices_sent_at_once", "case_id", sqlite_where=SENT_AT_ONCE,
                            postgresql_where=SENT_AT_ONCE))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    recipient_role: Mapped[str] = mapped_column(String(40))
    recipient_jurisdiction: Mapped[str] = mapped_column(String(12))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    to_address: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # at-once notices: why, in words
    due_at: Mapped[datetime]  # when it fell due (before sane-hours shifting)
    status: Mapped[NoticeStatus] = mapped_column(enum_of(NoticeStatus, column="status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    # Who holds the lease (host:pid:nonce): only the holder records the outcome or renews it.
    claimed_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # Send order, from the kinds table when the row is stored (0 first: a life at risk).
    priority: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    last_error: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # A life-threatening case's at-once report: unconfirmed after 30 minutes it goes again and
    # the cadre is told to phone. Set when the report is made, not inferred later.
    must_confirm: Mapped[bool] = mapped_column(Boolean, default=False)
    # The recipient confirmed receipt (signed link or CLI); stops that notice's re-sends.
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    visit_plan_id: Mapped[int | None] = mapped_column(ForeignKey("visit_plans.id"), index=True)


class Referral(Base):
    """转介: the case sent to a department contact, who must report the result back by a
    feedback deadline (004). Reminders and escalation are derived from this row."""

    __tablename__ = "referrals"
    # a case's referrals awaiting feedback, found by case first: with case_id alone SQLite
    # searched by status and read every open referral for each batch of the planner
    __table_args__ = (Index("ix_referrals_case_status", "case_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    role: Mapped[str] = mapped_column(String(40))
    jurisdiction_code: Mapped[str] = mapped_column(String(12))  # the contact's
    purpose: Mapped[str] = mapped_column(Text, default="")  # what is asked, no personal data
    sent_at: Mapped[datetime]
    feedback_working_days: Mapped[int] = mapped_column(Integer)
    feedback_due_at: Mapped[datetime]
    status: Mapped[ReferralStatus] = mapped_column(enum_of(ReferralStatus, column="status"), index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    result_at: Mapped[datetime | None]
    result_note: Mapped[str] = mapped_column(Text, default="")
    result_by: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100))


class VisitPlan(Base):
    """A family on a ledger (附表3) and its return-visit plan. One per case."""

    __tablename__ = "visit_plans"
    # the planner asks for the active plans of a batch of cases: with the unique case_id
    # alone SQLite preferred the status index and read every active plan per batch
    __table_args__ = (Index("ix_visit_plans_case_status", "case_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    ledger: Mapped[Ledger] = mapped_column(enum_of(Ledger, column="ledger"))
    level: Mapped[str] = mapped_column(String(16))  # critical | high | focus (the cadence)
    reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime]
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    status: Mapped[PlanStatus] = mapped_column(enum_of(PlanStatus, column="status"), index=True)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str] = mapped_column(Text, default="")
    ended_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]


class Visit(Base):
    """One return visit as the cadre recorded it (附表3: dated visits and their notes)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("visit_plans.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    visited_at: Mapped[datetime]
    visited_by: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(16))  # home | phone | office | safe_channel
    met_alone: Mapped[bool] = mapped_column(Boolean)
    needs: Mapped[str] = mapped_column(Text, default="")
    condition: Mapped[str] = mapped_column(Text, default="")  # women's and children's state
    help_given: Mapped[str] = mapped_column(Text, default="")
    next_due_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class Incident(Base):
    """A new incident in a family already known: re-assesses the risk, tightens the plan."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    occurred_at: Mapped[datetime]
    risk_indicators: Mapped[list[str]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    assessed_level: Mapped[RiskLevel] = mapped_column(enum_of(RiskLevel, column="assessed_level"))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class Mediation(Base):
    """调解: one mediation held, by a registry contact or a named mediator, and its outcome."""

    __tablename__ = "mediations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    mediator_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    mediator_name: Mapped[str] = mapped_column(String(200))  # the contact's name, or as given
    outcome: Mapped[MediationOutcome] = mapped_column(enum_of(MediationOutcome, column="outcome"))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class Verification(Base):
    """核实 (情况报告 二, 附表4/5): when, how and with whom, what was found, and the conclusion."""

    __tablename__ = "verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    verified_at: Mapped[datetime]
    method: Mapped[VerificationMethod] = mapped_column(enum_of(VerificationMethod, column="method"))
    with_whom: Mapped[str] = mapped_column(String(200))
    findings: Mapped[str] = mapped_column(Text)
    veracity: Mapped[Veracity] = mapped_column(enum_of(Veracity, column="veracity"))
    reasonableness: Mapped[Reasonableness] = mapped_column(
        enum_of(Reasonableness, column="reasonableness", length=20))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class HelperWork(Base):
    """附表2: one entry of a helper's work log typed by a cadre — what a lawyer, counsellor,
    mediator, social worker or volunteer did and when, beyond what the software saw (the
    referrals she answered and the mediations she held are read from their own rows)."""

    __tablename__ = "helper_work"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    worked_on: Mapped[date] = mapped_column(Date)
    work: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class CaseRejection(Base):
    """不予受理 / 转办他处 at the 申请/受理 stage: why, and where the matter was sent."""

    __tablename__ = "case_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    redirected_to: Mapped[str] = mapped_column(String(200), default="")  # an organisation
    rejected_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class FollowUp(Base):
    """结案 → 回访 (004): the one return visit a closed case owes, due N working days after
    closing, and what it found (outcome, the person's satisfaction) once it is made."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    visited_at: Mapped[datetime | None]
    visited_by: Mapped[str] = mapped_column(String(100), default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[Satisfaction | None] = mapped_column(
        enum_of(Satisfaction, column="satisfaction", length=20))
    created_at: Mapped[datetime]
    recorded_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(String(100), default="")


class ProtectiveMeasure(Base):
    """A DV protective measure as recorded (000 Q&A): a warning letter, an injury appraisal, a
    protection order, a shelter placement. Each record is a step; the latest of a kind is its
    state (an order applied for, then granted)."""

    __tablename__ = "protective_measures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[MeasureKind] = mapped_column(enum_of(MeasureKind, column="kind", length=20))
    status: Mapped[MeasureStatus] = mapped_column(enum_of(MeasureStatus, column="status"))
    on_date: Mapped[date] = mapped_column(Date)
    until_date: Mapped[date | None] = mapped_column(Date)  # an order's expiry, a shelter's end
    issuer: Mapped[str] = mapped_column(String(200), default="")  # police station, court
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class User(Base):
    """Someone who signs in to the board: a role and a jurisdiction (she sees its subtree)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_of(Role, column="role"))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    email: Mapped[str] = mapped_column(String(254), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class FlowTrigger(Base):
    """A flow run owed to Prefect. Written in the intake transaction so intake never waits
    on Prefect; the service starts the run (now, or when Prefect is back) and marks it."""

    __tablename__ = "flow_triggers"
    __table_args__ = (Index("ix_flow_triggers_pending", "status", "not_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    flow: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("case_imports.id"), index=True)
    status: Mapped[TriggerStatus] = mapped_column(enum_of(TriggerStatus, column="status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class IntakeSource(Base):
    """Another system that files cases through the API (the 12338 platform, a petition
    system): a name, the subtree it may file in, and its token's hash (the token is shown
    once, at `weiquan source add`, and never stored)."""

    __tablename__ = "intake_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ApiRateWindow(Base):
    """Requests a source made in one minute, counted in the database so that every web
    worker draws on the same allowance."""

    __tablename__ = "api_rate_windows"

    source_id: Mapped[int] = mapped_column(ForeignKey("intake_sources.id"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)


class SigninFailure(Base):
    """A failed sign-in, once under the user name tried and once under the client address,
    so that either one guessing alone is throttled (models/service/users.py)."""

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_key", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # "user" or "address"
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class SigninLock(Base):
    """Sign-in refused for a user name or an address until `until`."""

    __tablename__ = "signin_locks"
    __table_args__ = (Index("ix_signin_locks_key", "scope", "key", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime]


class Lease(Base):
    """A named lease one process holds at a time (the scheduler's leadership): taken and
    renewed by a compare-and-set UPDATE, so it holds behind a connection pooler where
    session-scoped advisory locks do not."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    acquired_at: Mapped[datetime]  # when this holder took it (the lease's age)
    heartbeat_at: Mapped[datetime]  # its last renewal
    expires_at: Mapped[datetime]
