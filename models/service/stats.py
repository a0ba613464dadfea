"""Statistics for a subtree and a period (001, 004 "统计有分类"): one read model for the
command, the board's statistics page and the xlsx.

What is counted (the rules themselves are in `models.domain.statistics`):
- `received`, `by_channel`, `by_category`, `by_tier`: cases received in the period;
- `answered`, `answered_on_time`: answers given in the period, on time against the deadline
  as extended by paused working days; `assigned_*` / `online_*` the same for matters
  assigned from above and online complaints;
- `overdue`: open past their deadline at the period's end (not answered, not paused, not
  difficult — those are tracked, not answered), as the overdue board counts;
- `at_once_reports`: at-once reports made in the period to someone (`made`) and those the
  recipient confirmed by the period's end (`confirmed`);
- `referrals`: sent in the period; of those, acknowledged, answered by the period's end, and
  late (feedback deadline passed by then without a result, or a result after it);
- `mediations`: until the mediation records of the casework issue exist, the mediations a
  case reports at intake (`mediation_attempts`, counted for cases received in the period).
  Those are mediations that did not settle the dispute — it is why the case came — so
  `held` and `failed` are both that sum;
- `legal_aid`: cases received in the period about legal aid, or referred in the period to a
  legal-aid role (judicial assistant, village legal adviser, lawyer, justice office);
- `ledger_families`: families on the 附表3 ledgers at the period's end;
- `visits`: visits made in the period (`done`) and visits whose day ended in the period
  without one (`missed`).
"States at the period's end" are taken now when the period has not ended yet.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.db.orm import AuditEvent, Case, Jurisdiction, Notice, Referral, Visit, VisitPlan
from models.domain.errors import InputError
from models.domain.ledgers import Period
from models.domain.notice_kinds import NoticeKind
from models.domain.statistics import (
    PlanHistory,
    as_at,
    is_on_time,
    missed_visits,
    roll_up,
    shaped,
)

LEGAL_AID_ROLES = ("judicial_assistant", "legal_adviser", "lawyer", "justice")


@dataclass(frozen=True)
class NodeStats:
    code: str
    name: str
    level: str
    tally: Counter


@dataclass(frozen=True)
class StatsReport:
    under: str
    name: str
    period: Period
    as_at: datetime
    nodes: list[NodeStats]  # the root first, then its subtree in code order; rolled up

    @property
    def root(self) -> NodeStats:
        return self.nodes[0]

    def as_json(self) -> dict[str, Any]:
        return {"under": self.under, "name": self.name, "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(), "as_at": self.as_at.isoformat(),
                **shaped(self.root.tally),
                "jurisdictions": [{"code": n.code, "name": n.name, "level": n.level,
                                   **shaped(n.tally)} for n in self.nodes]}


def statistics(session: Session, *, under: str, period: Period, now: datetime) -> StatsReport:
    root = session.get(Jurisdiction, under)
    if root is None:
        raise InputError(field="under", reason=f"{under} is not in the jurisdiction registry")
    until = as_at(period, now=now)
    tallies: dict[str, Counter] = defaultdict(Counter)
    for count in (_received, _answered, _overdue, _at_once, _referrals, _legal_aid, _ledgers,
                  _visits):
        for code, key, amount in count(session, under=under, period=period, until=until):
            tallies[code][key] += amount
    nodes = session.execute(select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level)
                            .where(Jurisdiction.code.startswith(under))
                            .order_by(Jurisdiction.code)).all()
    totals = roll_up(tallies, nodes=[n.code for n in nodes])
    return StatsReport(under=under, name=root.name, period=period, as_at=until,
                       nodes=[NodeStats(n.code, n.name, n.level, totals[n.code]) for n in nodes])


Counted = Iterator[tuple[str, str, int]]  # (case jurisdiction, metric path, amount)


def _in(column, period: Period):
    return (column >= period.start) & (column < period.end)


def _received(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    rows = session.execute(select(Case.jurisdiction_code, Case.channel, Case.category, Case.tier,
                                  Case.mediation_attempts)
                           .where(Case.jurisdiction_code.startswith(under),
                                  _in(Case.received_at, period)))
    for code, channel, category, tier, mediations in rows:
        yield code, "received", 1
        yield code, f"by_channel.{channel}", 1
        yield code, f"by_category.{category}", 1
        if tier is not None:  # a family found by screening has no tier: it owes no answer
            yield code, f"by_tier.{tier}", 1
        yield code, "mediations.held", mediations
        yield code, "mediations.failed", mediations


def _answered(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    rows = session.execute(select(Case.jurisdiction_code, Case.channel, Case.responded_at,
                                  Case.response_due_at)
                           .where(Case.jurisdiction_code.startswith(under),
                                  _in(Case.responded_at, period)))
    for code, channel, answered_at, due_at in rows:
        on_time = int(is_on_time(answered_at=answered_at, due_at=due_at))
        yield code, "answered", 1
        yield code, "answered_on_time", on_time
        if channel in ("assigned", "online"):
            yield code, f"{channel}_answered", 1
            yield code, f"{channel}_on_time", on_time


def _overdue(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    rows = session.scalars(select(Case.jurisdiction_code).where(
        Case.jurisdiction_code.startswith(under), Case.received_at < until,
        Case.tier != "difficult", Case.response_due_at < until,
        or_(Case.responded_at.is_(None), Case.responded_at >= until),
        or_(Case.paused_at.is_(None), Case.paused_at >= until)))
    for code in rows:
        yield code, "overdue", 1


def _at_once(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    rows = session.execute(select(Case.jurisdiction_code, Notice.acknowledged_at)
                           .join(Case, Case.id == Notice.case_id)
                           .where(Case.jurisdiction_code.startswith(under),
                                  Notice.kind == NoticeKind.AT_ONCE, Notice.contact_id.is_not(None),
                                  _in(Notice.created_at, period)))
    for code, acknowledged_at in rows:
        yield code, "at_once_reports.made", 1
        yield code, "at_once_reports.confirmed", int(acknowledged_at is not None
                                                     and acknowledged_at < until)


def _referrals(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    rows = session.execute(select(Case.jurisdiction_code, Referral.status,
                                  Referral.acknowledged_at, Referral.result_at,
                                  Referral.feedback_due_at)
                           .join(Case, Case.id == Referral.case_id)
                           .where(Case.jurisdiction_code.startswith(under),
                                  _in(Referral.sent_at, period)))
    for code, status, acknowledged_at, result_at, due_at in rows:
        answered = result_at is not None and result_at < until
        yield code, "referrals.sent", 1
        yield code, "referrals.acknowledged", int(answered or (acknowledged_at is not None
                                                               and acknowledged_at < until))
        yield code, "referrals.answered", int(answered)
        late = status != "withdrawn" and due_at < until and (result_at is None or result_at > due_at)
        yield code, "referrals.late", int(late)


def _legal_aid(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    by_category = select(Case.id, Case.jurisdiction_code).where(
        Case.jurisdiction_code.startswith(under), Case.category == "legal_aid",
        _in(Case.received_at, period))
    by_referral = (select(Case.id, Case.jurisdiction_code).join(Referral, Referral.case_id == Case.id)
                   .where(Case.jurisdiction_code.startswith(under),
                          Referral.role.in_(LEGAL_AID_ROLES), _in(Referral.sent_at, period)))
    cases = set(session.execute(by_category).all()) | set(session.execute(by_referral).all())
    for _, code in cases:
        yield code, "legal_aid", 1


def _ledgers(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    rows = session.execute(select(Case.jurisdiction_code, VisitPlan.ledger)
                           .join(Case, Case.id == VisitPlan.case_id)
                           .where(Case.jurisdiction_code.startswith(under),
                                  VisitPlan.started_at < until,
                                  or_(VisitPlan.ended_at.is_(None), VisitPlan.ended_at >= until)))
    for code, ledger in rows:
        yield code, f"ledger_families.{ledger}", 1


def _visits(session: Session, *, under: str, period: Period, until: datetime) -> Counted:
    for code in session.scalars(select(Case.jurisdiction_code).join(Visit, Visit.case_id == Case.id)
                                .where(Case.jurisdiction_code.startswith(under),
                                       _in(Visit.visited_at, period))):
        yield code, "visits.done", 1
    plans = session.execute(select(VisitPlan.id, VisitPlan.case_id, VisitPlan.status,
                                   VisitPlan.next_due_at, Case.jurisdiction_code)
                            .join(Case, Case.id == VisitPlan.case_id)
                            .where(Case.jurisdiction_code.startswith(under))).all()
    if not plans:
        return
    visits: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for plan_id, visited_at, next_due in session.execute(
            select(Visit.plan_id, Visit.visited_at, Visit.next_due_at)
            .join(Case, Case.id == Visit.case_id)
            .where(Case.jurisdiction_code.startswith(under))
            .order_by(Visit.plan_id, Visit.visited_at, Visit.id)):
        visits[plan_id].append((visited_at, next_due))
    first_due = _first_dues(session, under=under)
    for plan_id, case_id, status, next_due, code in plans:
        history = PlanHistory(first_due=first_due.get(case_id), visits=visits.get(plan_id, []),
                              outstanding_due=next_due if status == "active" else None)
        missed = missed_visits(history, start=period.start, until=until)
        if missed:
            yield code, "visits.missed", missed


def _first_dues(session: Session, *, under: str) -> dict[int, datetime]:
    """When each plan's first visit was due: the audit trail records it when the plan opens
    (the latest opening counts: a plan re-opened after an incident starts again)."""
    rows = session.execute(select(AuditEvent.case_id, AuditEvent.detail)
                           .join(Case, Case.id == AuditEvent.case_id)
                           .where(Case.jurisdiction_code.startswith(under),
                                  AuditEvent.kind == "visit_plan_opened")
                           .order_by(AuditEvent.id))
    dues: dict[int, datetime] = {}
    for case_id, detail in rows:
        if isinstance(detail, dict) and detail.get("next_due_at"):
            dues[case_id] = datetime.fromisoformat(detail["next_due_at"])
    return dues
