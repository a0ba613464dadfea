"""The due sweep as a Prefect flow: one run per batch of due work (not per notice), named by
its time. Its only parameter is the instant it processes up to. Each run publishes two table
artifacts with stable keys: `due-sweep-latest` (what this sweep did) and
`overdue-by-jurisdiction` (what stands overdue or due soon, by jurisdiction and escalation
level, case numbers only)."""

# No `from __future__ import annotations`: a flow served by the main job's runner is
# pickled into a subprocess, where pydantic must find the parameter types themselves.

from datetime import datetime

from prefect import flow

from flows.naming import named
from models.domain.calendar import SHANGHAI
from flows.runtime import flow_runtime
from tasks.sweep import process_due, publish_overdue_table, publish_sweep_summary

DUE_SWEEP_FLOW = "due-sweep"


@flow(name=DUE_SWEEP_FLOW, flow_run_name=named("sweep", "%Y-%m-%d %H:%M:%S"), retries=0)
async def due_sweep(as_of: datetime | None = None) -> dict[str, int]:
    # Always asked, as_of given or not: in a worker the flow is the entry point, and this
    # builds the runtime its tasks use.
    clock = flow_runtime().clock
    as_of = (as_of or clock.now()).astimezone(SHANGHAI)  # readable task names
    report = await process_due(as_of)
    publish_sweep_summary(report)
    publish_overdue_table(as_of)
    return {"sent": report.sent, "queued": report.notices_queued, "failed": report.failed,
            "retrying": report.retrying, "cancelled": report.cancelled}
