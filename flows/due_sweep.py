"""The due sweep as a Prefect flow: one run per batch of due work (not per notice), named by
its time. Its only parameter is the instant it processes up to."""

from __future__ import annotations

from datetime import datetime

from prefect import flow

from tasks.context import app_context
from tasks.sweep import process_due, publish_sweep_summary

DUE_SWEEP_FLOW = "due-sweep"


@flow(name=DUE_SWEEP_FLOW, flow_run_name="sweep {as_of}", retries=0)
async def due_sweep(as_of: datetime | None = None) -> dict[str, int]:
    as_of = as_of or app_context().clock.now()
    report = await process_due(as_of)
    publish_sweep_summary(report)
    return {"sent": report.sent, "queued": report.notices_queued, "failed": report.failed,
            "retrying": report.retrying, "cancelled": report.cancelled}
