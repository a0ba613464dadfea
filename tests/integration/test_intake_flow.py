"""The intake flow under a real (test) Prefect server: named by case number, parameters =
the case id only, started by the service from the row intake wrote; retried when Prefect
is unreachable."""

from __future__ import annotations

import json

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from sqlalchemy import select

from app.service import dispatch_owed_flows
from models.db.orm import FlowTrigger
from models.db.session import unit_of_work
from models.intake_schema import parse_intake
from models.service.calendar import current_calendar
from models.service.intake import take_in
from models.runtime.process import register_runtime_factory
from tests.conftest import SHARED

pytestmark = pytest.mark.prefect


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the Prefect wiring does not depend on the database backend")


def intake_case(ctx, name: str = "dv_strangulation", **changes) -> tuple[int, str]:
    document = json.loads((SHARED / "contract" / "intake" / f"{name}.json").read_text(encoding="utf-8"))
    document.update(changes)
    intake = parse_intake(json.dumps(document, ensure_ascii=False), limits=ctx.intake_limits,
                          now=ctx.clock.now())
    with unit_of_work(ctx.sessions) as session:
        case, _ = take_in(session, intake=intake, calendar=current_calendar(session),
                          now=ctx.clock.now(), actor="test")
        return case.id, case.number


def trigger_of(ctx, case_id: int) -> FlowTrigger:
    with unit_of_work(ctx.sessions) as session:
        return session.scalar(select(FlowTrigger).where(FlowTrigger.case_id == case_id))


async def test_service_runs_the_intake_flow_named_by_case_number(
    prefect_server, sqlite_only, demo_ctx
):
    register_runtime_factory(lambda: demo_ctx)
    case_id, number = intake_case(demo_ctx)

    assert await dispatch_owed_flows(demo_ctx) == 1

    trigger = trigger_of(demo_ctx, case_id)
    assert trigger.status == "done" and trigger.flow_run_id
    async with get_client() as client:
        run = await client.read_flow_run(trigger.flow_run_id)
        artifacts = await client.read_artifacts()
    assert run.name == number
    assert run.parameters == {"case_id": case_id}
    assert run.state.is_completed()
    card = next(a for a in artifacts if a.key == f"case-{number.lower()}")
    stored = json.dumps(card.data, ensure_ascii=False)
    assert "刘某某" not in stored and "139-0000-0001" not in stored and number in stored
    assert await dispatch_owed_flows(demo_ctx) == 0  # done is done


async def test_prefect_unreachable_leaves_the_flow_owed_for_later(
    prefect_server, sqlite_only, demo_ctx, clock
):
    register_runtime_factory(lambda: demo_ctx)
    case_id, _ = intake_case(demo_ctx)

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}):
        await dispatch_owed_flows(demo_ctx)

    owed = trigger_of(demo_ctx, case_id)
    assert owed.status == "pending" and owed.last_error
    assert owed.not_before > clock.now()
    assert await dispatch_owed_flows(demo_ctx) == 0  # backing off

    clock.at = owed.not_before
    assert await dispatch_owed_flows(demo_ctx) == 1
    assert trigger_of(demo_ctx, case_id).status == "done"


async def test_due_sweep_flow_sends_and_publishes_counts_only(
    prefect_server, sqlite_only, mail_ctx, sink
):
    from datetime import datetime

    from flows.due_sweep import due_sweep
    from notifications.sink import read_sink

    register_runtime_factory(lambda: mail_ctx)
    mail_ctx.clock.at = datetime.fromisoformat("2026-09-30T10:16:00+08:00")
    # no risk indicators: only the breached deadline speaks (one escalation to the township)
    intake_case(mail_ctx, "land_rights_ordinary", jurisdiction="990102001001",
                received_at="2026-09-30T10:15:00+08:00")

    result = await due_sweep(as_of=datetime.fromisoformat("2026-10-16T09:00:00+08:00"))

    assert result["sent"] == 1
    assert [m["To"] for m in read_sink(sink.directory)] == ["fulian.dhz@example.org"]
    async with get_client() as client:
        runs = {r.id: r for r in await client.read_flow_runs()}
        # The test server serves the whole run: the newest artifact under the key is this sweep's.
        artifact = max((a for a in await client.read_artifacts() if a.key == "due-sweep-latest"),
                       key=lambda a: a.created)
    assert runs[artifact.flow_run_id].name.startswith("sweep 2026-10-16")
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert rows[0]["sent"] == 1 and rows[0]["cases_checked"] == 1
    stored = json.dumps(rows, ensure_ascii=False)
    assert "刘某某" not in stored and "@" not in stored


async def test_due_sweep_flow_shows_an_old_backlog_to_the_operator_counts_only(
    prefect_server, sqlite_only, mail_ctx, sink
):
    from datetime import datetime

    from flows.due_sweep import due_sweep
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    from tasks.sweep import BACKLOG_ARTIFACT

    register_runtime_factory(lambda: mail_ctx)
    mail_ctx.clock.at = datetime.fromisoformat("2026-09-30T10:16:00+08:00")
    intake_case(mail_ctx, received_at="2026-09-30T10:15:00+08:00")  # at-once reports queued
    sink.stop()  # the relay is away: they wait

    await due_sweep(as_of=datetime.fromisoformat("2026-09-30T10:40:00+08:00"))
    await APILogHandler.aflush()  # run logs reach the server in the background

    async with get_client() as client:
        artifact = max((a for a in await client.read_artifacts() if a.key == BACKLOG_ARTIFACT),
                       key=lambda a: a.created)
        logs = await client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[artifact.flow_run_id])))
    text = str(artifact.data)
    assert "**邮件积压**" in text and "waited more than 10 min" in text
    assert "刘某某" not in text and "@" not in text
    assert any(log.level == 30 and "the outbox is behind" in log.message for log in logs)
