"""Intake end to end through the service layer on a real database."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from models.db.orm import AuditEvent, Case, FlowTrigger, Party
from models.db.session import unit_of_work
from models.intake_schema import IntakeValidationError, parse_intake
from models.service.calendar import current_calendar
from models.service.intake import take_in
from models.service.views import case_view
from tests.conftest import SHARED


def contract_intake(name: str) -> dict:
    return json.loads((SHARED / "contract" / "intake" / f"{name}.json").read_text(encoding="utf-8"))


def store(ctx, document: dict) -> tuple[dict, bool]:
    intake = parse_intake(json.dumps(document, ensure_ascii=False), limits=ctx.intake_limits,
                          now=ctx.clock.now())
    with unit_of_work(ctx.sessions) as session:
        case, created = take_in(session, intake=intake, calendar=current_calendar(session),
                                now=ctx.clock.now(), actor="test")
        return case_view(session, case), created


def counts(ctx) -> dict[str, int]:
    with unit_of_work(ctx.sessions) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Case, Party, AuditEvent, FlowTrigger)}


@pytest.mark.parametrize(
    ("name", "due_date", "tier"),
    [
        pytest.param("dv_strangulation", "2026-10-15", "ordinary", id="national-day"),
        pytest.param("land_rights_ordinary", "2026-03-02", "ordinary", id="spring-festival"),
    ],
)
def test_contract_intakes_get_the_deadlines_of_domain_md(demo_ctx, name, due_date, tier):
    view, created = store(demo_ctx, contract_intake(name))

    assert created
    assert view["tier"] == tier
    assert view["response_due_date"] == due_date
    assert view["response_due_at"] == f"{due_date}T23:59:59+08:00"
    assert view["deadline_provisional"] is False
    assert view["status"] == "accepted"
    assert view["number"].startswith("WQ-2026-")
    assert view["visits"] == []


def test_intake_stores_case_parties_audit_and_owed_flow_in_one_go(demo_ctx):
    view, _ = store(demo_ctx, contract_intake("dv_strangulation"))

    with unit_of_work(demo_ctx.sessions) as session:
        case = session.get(Case, view["id"])
        roles = [p.role for p in case.parties]
        audit = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)).all()
        trigger = session.scalar(select(FlowTrigger).where(FlowTrigger.case_id == case.id))
    assert roles == ["victim", "respondent", "child", "reporter"]
    assert sorted(event.kind for event in audit) == ["intake", "reported_at_once", "visit_plan_opened"]
    assert trigger.status == "pending" and trigger.flow == "case-intake"
    assert view["risk_level"] == "critical"
    assert "掐脖子、用管制刀具吓唬" in view["risk_reason"]  # read as words, not codes


def test_same_external_ref_twice_returns_the_stored_case_and_creates_nothing(demo_ctx):
    first, created_first = store(demo_ctx, contract_intake("dv_strangulation"))
    before = counts(demo_ctx)
    second, created_second = store(demo_ctx, contract_intake("dv_strangulation"))

    assert (created_first, created_second) == (True, False)
    assert second["id"] == first["id"]
    assert counts(demo_ctx) == before


def test_absent_tier_is_proposed_with_a_reason(demo_ctx):
    document = contract_intake("dv_strangulation")
    del document["tier"]
    document["external_ref"] = "no-tier-1"

    view, _ = store(demo_ctx, document)

    assert view["tier"] == "complex"
    assert view["tier_proposed"] is True
    assert "危及生命" in view["tier_reason"]
    assert view["response_due_date"] == "2026-10-30"  # 1 month from 09-30, a Friday


def test_earlier_assigner_deadline_wins(demo_ctx):
    document = contract_intake("land_rights_ordinary")
    document.update(channel="assigned", assigned_by="示范县妇联", due_at="2026-02-20T17:00:00+08:00")

    view, _ = store(demo_ctx, document)

    assert view["response_due_at"] == "2026-02-20T17:00:00+08:00"
    assert "交办" in view["deadline_rule"]


def test_unknown_jurisdiction_is_refused_and_nothing_is_stored(demo_ctx):
    document = contract_intake("land_rights_ordinary")
    document["jurisdiction"] = "990102001009"
    before = counts(demo_ctx)

    with pytest.raises(IntakeValidationError) as error:
        store(demo_ctx, document)

    assert [p.field for p in error.value.problems] == ["jurisdiction"]
    assert "990102001009" in str(error.value)
    assert counts(demo_ctx) == before


def test_deadline_in_a_year_without_a_notice_is_provisional(demo_ctx, clock):
    document = contract_intake("land_rights_ordinary")
    document["received_at"] = "2026-11-20T09:00:00+08:00"
    document["tier"] = "complex"  # due 2026-12-21: covered
    covered, _ = store(demo_ctx, document)
    document.update(received_at="2026-12-28T09:00:00+08:00", external_ref="late-dec")
    clock.at = clock.at.replace(month=12, day=29)
    uncovered, _ = store(demo_ctx, document)

    assert covered["deadline_provisional"] is False
    assert uncovered["deadline_provisional"] is True
    assert date.fromisoformat(uncovered["response_due_date"]).year == 2027


def test_life_threatening_intake_lists_who_is_told_at_once(demo_ctx):
    view, _ = store(demo_ctx, contract_intake("dv_strangulation"))

    told = [(n["kind"], n["role"], n["jurisdiction"], n["to"], n["status"]) for n in view["notices"]]
    assert told == [
        ("at_once", "police_station", "990102001", "duty.dhpolice@example.org", "queued"),
        ("at_once", "federation_chair", "990102001", "fulian.dhz@example.org", "queued"),
        ("at_once", "hotline_12338", "990102", "hotline12338.county@example.org", "queued"),
        ("at_once", "party_secretary", "990102001001", "secretary.donghu@example.org", "queued"),
        ("at_once", "director", "990102001001", "director.donghu@example.org", "queued"),
        ("call_110", "federation_chair", "990102001001", "fulian.donghu@example.org", "queued"),
    ]


def test_role_missing_up_the_tree_is_reported_and_the_operator_alerted(demo_ctx):
    # 南山社区: no director at the community, the street office or above in the demo registry
    view, _ = store(demo_ctx, {**contract_intake("dv_strangulation"),
                               "jurisdiction": "990102002001", "external_ref": "nanshan-1"})

    missing = [n for n in view["notices"] if n["status"] == "failed"]
    assert [(n["role"], n["jurisdiction"], n["to"]) for n in missing] == [
        ("director", "990102002001", None)]
    assert "director" in missing[0]["reason"]
    gap = [n for n in view["notices"] if n["kind"] == "routing_gap"]
    assert [(n["to"], n["status"]) for n in gap] == [("operator@weiquan.local", "queued")]
    assert "director" in gap[0]["reason"]
    with unit_of_work(demo_ctx.sessions) as session:
        kinds = session.scalars(select(AuditEvent.kind).where(AuditEvent.case_id == view["id"])).all()
    assert sorted(kinds) == ["intake", "reported_at_once", "visit_plan_opened"]


def test_ordinary_case_tells_nobody_at_once(demo_ctx):
    view, _ = store(demo_ctx, contract_intake("land_rights_ordinary"))
    assert view["notices"] == []
