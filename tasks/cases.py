"""Tasks on cases: one I/O step each. They return ids, numbers and dates — never names."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from prefect.artifacts import create_markdown_artifact

from models.db import repositories as repo
from models.db.session import unit_of_work
from models.service.flow_triggers import mark_trigger_done
from models.service.views import local_iso
from models.runtime.bootstrap import Runtime
from models.runtime.process import current_runtime


@dataclass(frozen=True)
class CaseBrief:
    """What an operator may see of a case: no personal data."""

    case_id: int
    number: str
    jurisdiction: str
    category: str
    tier: str
    status: str
    risk_level: str
    response_due_at: str
    deadline_provisional: bool


def case_number_for(*, runtime: Runtime, case_id: int) -> str:
    with unit_of_work(runtime.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        return case.number if case is not None and case.number else f"case-{case_id}"


@task(task_run_name="load case {case_id}")
def load_case_brief(case_id: int) -> CaseBrief:
    with unit_of_work(current_runtime().sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        if case is None:
            raise LookupError(f"case id {case_id} does not exist")
        return CaseBrief(
            case_id=case.id, number=case.number or "", jurisdiction=case.jurisdiction_code,
            category=case.category, tier=case.tier, status=case.status,
            risk_level=case.risk_level, response_due_at=local_iso(case.response_due_at) or "",
            deadline_provisional=case.deadline_provisional,
        )


@task(task_run_name="publish case card {brief.number}")
def publish_case_card(brief: CaseBrief) -> None:
    provisional = " (provisional: that year's holiday notice is not loaded yet)" if brief.deadline_provisional else ""
    create_markdown_artifact(
        key=f"case-{brief.number.lower()}",
        description=f"Case {brief.number}: deadline and risk (no personal data)",
        markdown=(
            f"### {brief.number}\n\n"
            f"| field | value |\n|---|---|\n"
            f"| jurisdiction | {brief.jurisdiction} |\n| category | {brief.category} |\n"
            f"| tier | {brief.tier} |\n| risk level | {brief.risk_level} |\n"
            f"| status | {brief.status} |\n"
            f"| response due | {brief.response_due_at}{provisional} |\n"
        ),
    )


@task(task_run_name="mark {key} done")
def record_flow_done(key: str, flow_run_id: str | None) -> None:
    context = current_runtime()
    with unit_of_work(context.sessions) as session:
        mark_trigger_done(session, key=key, flow_run_id=flow_run_id, now=context.clock.now())
