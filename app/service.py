"""The flow service: starts the flow runs that intake (or any process) has owed to Prefect.

Intake writes a trigger row in its own transaction and returns at once; this loop claims due
triggers in bounded batches and runs their flows. When Prefect is down the run fails to
start, the trigger goes back with backoff, and the case's flow runs when Prefect is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.context import AppContext
from models.db.session import unit_of_work
from models.service.flow_triggers import ClaimedTrigger, claim_due_triggers, release_failed_trigger
from models.service.intake import INTAKE_FLOW
from tasks.context import use_context

log = logging.getLogger(__name__)
BATCH = 20


async def run_service(ctx: AppContext, *, stop: asyncio.Event) -> None:
    use_context(ctx)
    log.info("flow service started; looking for owed flow runs every %ss",
             ctx.settings.dispatch_interval_seconds)
    while not stop.is_set():
        try:
            started = await dispatch_owed_flows(ctx)
        except Exception:  # the loop must outlive a bad pass (database restart, …)
            log.exception("dispatch pass failed; trying again next interval")
            started = 0
        if started < BATCH:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ctx.settings.dispatch_interval_seconds)
    log.info("flow service stopped")


async def dispatch_owed_flows(ctx: AppContext, *, limit: int = BATCH) -> int:
    """Claim due triggers and run each one's flow; returns how many were claimed."""
    with unit_of_work(ctx.sessions) as session:
        claimed = claim_due_triggers(session, now=ctx.clock.now(), limit=limit)
    for trigger in claimed:
        await _run_one(ctx, trigger)
    return len(claimed)


async def _run_one(ctx: AppContext, trigger: ClaimedTrigger) -> None:
    try:
        await _flow_for(trigger)
    except Exception as exc:  # Prefect down, or the flow failed: try again later
        with unit_of_work(ctx.sessions) as session:
            wait = release_failed_trigger(session, key=trigger.key,
                                          error=f"{type(exc).__name__}: {exc}", now=ctx.clock.now())
        log.warning("flow run for %s failed to complete (attempt %s): %s; retry in %s",
                    trigger.key, trigger.attempt, type(exc).__name__, wait)


async def _flow_for(trigger: ClaimedTrigger) -> object:
    if trigger.flow == INTAKE_FLOW and trigger.case_id is not None:
        from flows.intake import case_intake

        return await case_intake(case_id=trigger.case_id)
    raise ValueError(f"no flow known for trigger {trigger.key}")
