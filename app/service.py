"""The flow service: starts the flow runs owed to Prefect and wakes the due sweep on time.

- Intake writes a trigger row in its own transaction and returns at once; this loop claims
  due triggers in bounded batches and runs their flows. When Prefect is down the run fails to
  start, the trigger goes back with backoff, and the flow runs when Prefect is back.
- APScheduler (job store in the same database) wakes the due sweep at the next instant
  anything falls due (a lease that runs out counts: a crashed sender's notices go again),
  and every `sweep_interval_seconds` runs a safety sweep that really sweeps (cases and notices
  stored by other processes, anything a lost wake-up would have left). The database rows, not
  the job store, say what is due: a wake-up is only a reason to look, and looking twice sends
  nothing twice.
- At 08:30 Shanghai time (WEIQUAN_DIGEST_AT) it runs the digest flows, which ask the official
  calendar whether today is a working day; on start it makes up a digest missed that day.
- A Prefect Runner in a thread serves the flows as deployments, so the UI lists them and can
  start one (app/deployments.py); the schedules stay here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.context import AppContext
from app.deployments import ServedDeployments
from app.sweep import sweep
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.service.calendar import current_calendar
from models.service.digests import digests_pending
from models.service.outbox import next_wakeup
from models.service.flow_triggers import ClaimedTrigger, claim_due_triggers, release_failed_trigger
from models.service.batch_intake import IMPORT_FLOW
from models.service.intake import INTAKE_FLOW
from tasks.context import app_context, use_context

log = logging.getLogger(__name__)
BATCH = 20
PERIODIC_JOB = "due-sweep-periodic"
NEXT_JOB = "due-sweep-next"
DIGEST_JOB = "digests-daily"

_scheduler: AsyncIOScheduler | None = None
_sweep_lock = asyncio.Lock()


def _always() -> bool:
    return True


# Whether the Prefect server answers. Until it does, sweeps and digests run without a flow
# run and intake's flow runs wait in their trigger rows (the main job sets this when the
# server is slow to boot).
_prefect_ready: Callable[[], bool] = _always


async def run_service(ctx: AppContext, *, stop: asyncio.Event,
                      prefect_ready: Callable[[], bool] = _always,
                      serve_deployments: bool = True) -> None:
    global _scheduler, _prefect_ready
    use_context(ctx)
    _prefect_ready = prefect_ready
    _scheduler = make_scheduler(ctx)
    _scheduler.start()
    log.info("flow service started; owed flow runs every %ss, due sweep every %ss and on time",
             ctx.settings.dispatch_interval_seconds, ctx.settings.sweep_interval_seconds)
    await wake_due_sweep()  # whatever fell due while the service was down, once
    await wake_digests()  # today's digests, if the service was down at 08:30
    # The flows as deployments in the UI, runnable from there (app/deployments.py).
    served = ServedDeployments()
    serving = False
    try:
        while not stop.is_set():
            if serve_deployments and not serving and prefect_ready():
                served.start()
                serving = True
            # Mail first: at-once notices stored by an intake in another process go out
            # within seconds, not after that case's flow run (slow when Prefect is busy).
            if _something_due(ctx):
                await wake_due_sweep()
            try:
                started = await dispatch_owed_flows(ctx) if prefect_ready() else 0
            except Exception:  # the loop must outlive a bad pass (database restart, …)
                log.exception("dispatch pass failed; trying again next interval")
                started = 0
            if started < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), ctx.settings.dispatch_interval_seconds)
    finally:
        if serving:
            await asyncio.to_thread(served.stop)
        _scheduler.shutdown(wait=False)
        _scheduler = None
        _prefect_ready = _always
        log.info("flow service stopped")


def _something_due(ctx: AppContext) -> bool:
    with unit_of_work(ctx.sessions) as session:
        due = next_wakeup(session)
    return due is not None and due <= ctx.clock.now()


def make_scheduler(ctx: AppContext) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        jobstores={"default": SQLAlchemyJobStore(url=ctx.settings.effective_database_url,
                                                 tablename="apscheduler_jobs")},
        # The default misfire grace of 1 s silently drops a wake-up missed during downtime.
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
    )
    scheduler.add_job(safety_sweep, "interval", seconds=ctx.settings.sweep_interval_seconds,
                      id=PERIODIC_JOB, replace_existing=True)
    # Every day at 08:30 Shanghai time; the flows ask the official calendar whether today is a
    # working day. Missed while the machine slept: run once on waking (misfire grace None).
    digest_at = ctx.settings.digest_at
    scheduler.add_job(wake_digests, "cron", hour=digest_at.hour, minute=digest_at.minute,
                      second=digest_at.second, timezone=SHANGHAI, id=DIGEST_JOB,
                      replace_existing=True)
    return scheduler


async def wake_digests() -> None:
    """The day's digests as Prefect flow runs (cadre-digest, and supervisor-digest on the first
    working day of the week) — only when one is due and not yet made, so restarts and the
    08:30 job never clutter the dashboard. Without Prefect the same sweep sends them."""
    ctx = app_context()
    if not ctx.settings.digests_enabled:
        return
    async with _sweep_lock:
        as_of = ctx.clock.now()
        with unit_of_work(ctx.sessions) as session:
            calendar = current_calendar(session)
            pending = digests_pending(session, as_of=as_of, calendar=calendar,
                                      digest_at=ctx.settings.digest_at,
                                      window_end=ctx.reminder_policy.window_end)
        if not pending:
            return
        if not await _digest_flows(pending, as_of=as_of):  # Prefect booting or down
            await sweep(ctx, as_of=as_of, calendar=calendar)


async def _digest_flows(pending: list[str], *, as_of: datetime) -> bool:
    """The pending digests as Prefect flow runs; False when Prefect cannot run them now."""
    if not _prefect_ready():
        return False
    try:
        from flows.digests import cadre_digest, supervisor_digest

        for kind in pending:
            await (cadre_digest if kind == "cadre" else supervisor_digest)(as_of=as_of)
        return True
    except Exception as exc:
        log.warning("digest flow run failed (%s); sending without Prefect", type(exc).__name__)
        return False


async def wake_due_sweep() -> None:
    """Run the due sweep now (as a Prefect flow run), then set the next wake-up."""
    ctx = app_context()
    async with _sweep_lock:
        as_of = ctx.clock.now()
        with unit_of_work(ctx.sessions) as session:
            due = next_wakeup(session)
        if due is None or due > as_of:  # nothing due: no flow run to clutter the dashboard
            _schedule_next_wakeup(ctx)
            return
        if not await _due_sweep_flow(as_of):  # Prefect booting or down: mail must not wait
            with unit_of_work(ctx.sessions) as session:
                calendar = current_calendar(session)
            await sweep(ctx, as_of=as_of, calendar=calendar)
        _schedule_next_wakeup(ctx)


async def safety_sweep() -> None:
    """The periodic sweep: runs whatever the wake-up says, without a flow run each time (every
    30 s would bury the dashboard), then sets the next wake-up."""
    ctx = app_context()
    async with _sweep_lock:
        as_of = ctx.clock.now()
        with unit_of_work(ctx.sessions) as session:
            calendar = current_calendar(session)
        try:
            await sweep(ctx, as_of=as_of, calendar=calendar)
        finally:
            _schedule_next_wakeup(ctx)


async def _due_sweep_flow(as_of: datetime) -> bool:
    """The due sweep as a Prefect flow run; False when Prefect cannot run it now."""
    if not _prefect_ready():
        return False
    try:
        from flows.due_sweep import due_sweep

        await due_sweep(as_of=as_of)
        return True
    except Exception as exc:
        log.warning("due-sweep flow run failed (%s); sweeping without Prefect", type(exc).__name__)
        return False


def _schedule_next_wakeup(ctx: AppContext) -> None:
    with unit_of_work(ctx.sessions) as session:
        when = next_wakeup(session)
    if _scheduler is None or when is None:
        return
    run_date = max(when, datetime.now(UTC))  # aware: naive times land in the past and drop
    _scheduler.add_job(wake_due_sweep, "date", run_date=run_date, id=NEXT_JOB, replace_existing=True)
    log.info("next due sweep at %s", run_date.isoformat())


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
    if trigger.flow == IMPORT_FLOW and trigger.import_id is not None:
        from flows.imports import case_import

        return await case_import(import_id=trigger.import_id)
    raise ValueError(f"no flow known for trigger {trigger.key}")
