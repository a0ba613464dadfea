"""The flow service: starts the flow runs owed to Prefect and wakes the due sweep on time.

- Intake writes a trigger row in its own transaction and returns at once; this loop claims
  due triggers in bounded batches and runs their flows. When Prefect is down the run fails to
  start, the trigger goes back with backoff, and the flow runs when Prefect is back.
- One service process leads the scheduler at a time, through the `scheduler` lease row
  (models/service/leases.py): it renews the lease every `lease_renew_seconds`; a standby
  tries as often and takes over once the leader has left it unrenewed for
  `lease_ttl_seconds`. Losing the lease stops the scheduler at once. Standbys start owed
  flow runs (claimed with SKIP LOCKED) but run no sweep: a sweep runs once per instant,
  the leader's. They run no deliver-only loop either: one sweep already sends over
  `smtp_connections` connections, a dead leader's claimed notices come back when their
  lease runs out and the new leader sends them, and every other sender (`run-due`, a
  Prefect worker's due-sweep) claims with SKIP LOCKED alongside it.
- The leader's APScheduler wakes the due sweep at the next instant anything falls due (a
  lease that runs out counts: a crashed sender's notices go again), and every
  `sweep_interval_seconds` runs a safety sweep that really sweeps (cases and notices stored
  by other processes, anything a lost wake-up would have left). Its jobs live in memory: the
  database rows, not a job store, say what is due (a wake-up is only a reason to look, and
  looking twice sends nothing twice), and a job store shared by several schedulers runs a
  job twice.
- At 08:30 Shanghai time (WEIQUAN_DIGEST_AT) it runs the digest flows, which ask the official
  calendar whether today is a working day; on taking the lead it makes up a digest missed
  that day.
- A Prefect Runner in a thread serves the flows as deployments, so the UI lists them and can
  start one (app/deployments.py); the schedules stay here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.deployments import ServedDeployments
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.service.batch_intake import IMPORT_FLOW
from models.service.calendar import current_calendar
from models.service.digests import digests_pending
from models.service.flow_triggers import ClaimedTrigger, claim_due_triggers, release_failed_trigger
from models.service.intake import INTAKE_FLOW
from models.service.leases import (
    SCHEDULER_LEASE,
    beat,
    forget_silent_processes,
    hold_lease,
    process_holder,
    process_lease_name,
    release_lease,
)
from models.service.outbox import next_wakeup
from models.runtime.bootstrap import Runtime
from models.runtime.process import register_runtime_factory
from models.runtime.sweep import sweep

log = logging.getLogger(__name__)
BATCH = 20
PERIODIC_JOB = "due-sweep-periodic"
NEXT_JOB = "due-sweep-next"
DIGEST_JOB = "digests-daily"
# Which process swept which instant: the record that a sweep runs once per instant.
SWEEP_LINE = "%s sweeps (%s) as of %s"


def _always() -> bool:
    return True


async def run_service(runtime: Runtime, *, stop: asyncio.Event,
                      prefect_ready: Callable[[], bool] = _always,
                      serve_deployments: bool = True) -> None:
    """The service as an entry point runs it: this process's flows run with `runtime`."""
    register_runtime_factory(lambda: runtime)
    try:
        await FlowService(runtime, prefect_ready=prefect_ready).run(
            stop=stop, serve_deployments=serve_deployments)
    finally:
        register_runtime_factory(None)


class FlowService:
    """One service process: its runtime, its place in the leader lease, and — while it
    leads — its scheduler. `prefect_ready` says whether the Prefect server answers: until
    it does, sweeps and digests run without a flow run and intake's flow runs wait in their
    trigger rows (the main job passes it when the server is slow to boot)."""

    def __init__(self, runtime: Runtime, *, prefect_ready: Callable[[], bool] = _always,
                 holder: str | None = None) -> None:
        self.runtime = runtime
        self.prefect_ready = prefect_ready
        self.holder = holder or process_holder()
        self.scheduler: AsyncIOScheduler | None = None
        self._sweep_lock = asyncio.Lock()

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    async def run(self, *, stop: asyncio.Event, serve_deployments: bool = True) -> None:
        settings = self.runtime.settings
        log.info("flow service %s started; owed flow runs every %ss; the leader sweeps every "
                 "%ss and on time", self.holder, settings.dispatch_interval_seconds,
                 settings.sweep_interval_seconds)
        leadership = asyncio.create_task(self._keep_lease(stop), name="leader lease")
        # The flows as deployments in the UI, runnable from there (app/deployments.py).
        served = ServedDeployments()
        serving = False
        try:
            while not stop.is_set():
                if serve_deployments and not serving and self.prefect_ready():
                    served.start()
                    serving = True
                # Mail first: at-once notices stored by an intake in another process go out
                # within seconds, not after that case's flow run (slow when Prefect is busy).
                try:  # the loop must outlive a bad pass (database restart, …)
                    if self.leading and self._something_due():
                        await self.wake_due_sweep()
                except Exception:
                    log.exception("due check failed; trying again next interval")
                try:
                    started = await dispatch_owed_flows(self.runtime) if self.prefect_ready() else 0
                except Exception:  # the loop must outlive a bad pass (database restart, …)
                    log.exception("dispatch pass failed; trying again next interval")
                    started = 0
                if started < BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), settings.dispatch_interval_seconds)
        finally:
            leadership.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leadership
            if serving:
                await asyncio.to_thread(served.stop)
            self._give_up_lead()
            log.info("flow service stopped")

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.hold_or_stand_by()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.runtime.settings.lease_renew_seconds)

    async def hold_or_stand_by(self) -> bool:
        """Take or renew the scheduler lease: start leading when it is won, stop at once when
        it is lost (or cannot be renewed: the database is unreachable). True while leading."""
        try:
            now = self.runtime.clock.now()
            ttl = timedelta(seconds=self.runtime.settings.lease_ttl_seconds)
            with unit_of_work(self.runtime.sessions) as session:
                beat(session, holder=self.holder, now=now, ttl=ttl)
                held = hold_lease(session, name=SCHEDULER_LEASE, holder=self.holder, now=now,
                                  ttl=ttl)
                if held:
                    forget_silent_processes(session, now=now)
        except Exception:
            log.exception("could not renew the scheduler lease")
            held = False
        if held and not self.leading:
            self._start_leading()
        elif not held and self.leading:
            log.warning("%s lost the scheduler lease: its scheduler stops now", self.holder)
            self._stop_scheduler()
        return held

    def _start_leading(self) -> None:
        self.scheduler = self.make_scheduler()
        self.scheduler.start()
        log.info("%s leads the scheduler", self.holder)
        # Whatever fell due while no process led, and today's digests if 08:30 passed then.
        # Jobs rather than awaits: the lease must keep being renewed while they run.
        self.scheduler.add_job(self._catch_up, "date", run_date=datetime.now(UTC))

    async def _catch_up(self) -> None:
        await self.wake_due_sweep()
        await self.wake_digests()

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def _give_up_lead(self) -> None:
        """A clean stop: the lease goes at once, so a standby need not wait for it to expire;
        the process's heartbeat stops there too."""
        leading = self.leading
        self._stop_scheduler()
        try:
            with unit_of_work(self.runtime.sessions) as session:
                now = self.runtime.clock.now()
                release_lease(session, name=process_lease_name(self.holder), holder=self.holder,
                              now=now)
                if leading:
                    release_lease(session, name=SCHEDULER_LEASE, holder=self.holder, now=now)
        except Exception:  # they expire by themselves
            log.warning("could not release the scheduler lease", exc_info=True)

    def _something_due(self) -> bool:
        with unit_of_work(self.runtime.sessions) as session:
            due = next_wakeup(session)
        return due is not None and due <= self.runtime.clock.now()

    def make_scheduler(self) -> AsyncIOScheduler:
        settings = self.runtime.settings
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            # The default misfire grace of 1 s silently drops a wake-up missed while busy.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        scheduler.add_job(self.safety_sweep, "interval", seconds=settings.sweep_interval_seconds,
                          id=PERIODIC_JOB, replace_existing=True)
        # Every day at 08:30 Shanghai time; the flows ask the official calendar whether today
        # is a working day. Missed while no process led: made up when one starts leading.
        digest_at = settings.digest_at
        scheduler.add_job(self.wake_digests, "cron", hour=digest_at.hour,
                          minute=digest_at.minute, second=digest_at.second, timezone=SHANGHAI,
                          id=DIGEST_JOB, replace_existing=True)
        return scheduler

    async def wake_digests(self) -> None:
        """The day's digests as Prefect flow runs (cadre-digest, and supervisor-digest on the
        first working day of the week) — only when one is due and not yet made, so restarts
        and the 08:30 job never clutter the dashboard. Without Prefect the sweep sends them."""
        runtime = self.runtime
        if not runtime.settings.digests_enabled:
            return
        async with self._sweep_lock:
            as_of = runtime.clock.now()
            with unit_of_work(runtime.sessions) as session:
                calendar = current_calendar(session)
                pending = digests_pending(session, as_of=as_of, calendar=calendar,
                                          digest_at=runtime.settings.digest_at,
                                          window_end=runtime.reminder_policy.window_end)
            if not pending:
                return
            if not await self._digest_flows(pending, as_of=as_of):  # Prefect booting or down
                await sweep(runtime, as_of=as_of, calendar=calendar)

    async def _digest_flows(self, pending: list[str], *, as_of: datetime) -> bool:
        """The pending digests as Prefect flow runs; False when Prefect cannot run them now."""
        if not self.prefect_ready():
            return False
        try:
            from flows.digests import cadre_digest, supervisor_digest

            for kind in pending:
                await (cadre_digest if kind == "cadre" else supervisor_digest)(as_of=as_of)
            return True
        except Exception as exc:
            log.warning("digest flow run failed (%s); sending without Prefect", type(exc).__name__)
            return False

    async def wake_due_sweep(self) -> None:
        """Run the due sweep now (as a Prefect flow run), then set the next wake-up."""
        runtime = self.runtime
        async with self._sweep_lock:
            as_of = runtime.clock.now()
            with unit_of_work(runtime.sessions) as session:
                due = next_wakeup(session)
            if due is None or due > as_of:  # nothing due: no flow run to clutter the dashboard
                self._schedule_next_wakeup()
                return
            log.info(SWEEP_LINE, self.holder, "due", as_of.isoformat())
            if not await self._due_sweep_flow(as_of):  # Prefect booting or down: mail must not wait
                with unit_of_work(runtime.sessions) as session:
                    calendar = current_calendar(session)
                await sweep(runtime, as_of=as_of, calendar=calendar)
            self._schedule_next_wakeup()

    async def safety_sweep(self) -> None:
        """The periodic sweep: runs whatever the wake-up says, without a flow run each time
        (every 30 s would bury the dashboard), then sets the next wake-up."""
        runtime = self.runtime
        async with self._sweep_lock:
            as_of = runtime.clock.now()
            log.info(SWEEP_LINE, self.holder, "safety", as_of.isoformat())
            with unit_of_work(runtime.sessions) as session:
                calendar = current_calendar(session)
            try:
                await sweep(runtime, as_of=as_of, calendar=calendar)
            finally:
                self._schedule_next_wakeup()

    async def _due_sweep_flow(self, as_of: datetime) -> bool:
        """The due sweep as a Prefect flow run; False when Prefect cannot run it now."""
        if not self.prefect_ready():
            return False
        try:
            from flows.due_sweep import due_sweep

            await due_sweep(as_of=as_of)
            return True
        except Exception as exc:
            log.warning("due-sweep flow run failed (%s); sweeping without Prefect", type(exc).__name__)
            return False

    def _schedule_next_wakeup(self) -> None:
        with unit_of_work(self.runtime.sessions) as session:
            when = next_wakeup(session)
        if self.scheduler is None or when is None:
            return
        run_date = max(when, datetime.now(UTC))  # aware: naive times land in the past and drop
        self.scheduler.add_job(self.wake_due_sweep, "date", run_date=run_date, id=NEXT_JOB,
                               replace_existing=True)
        log.info("next due sweep at %s", run_date.isoformat())


async def dispatch_owed_flows(runtime: Runtime, *, limit: int = BATCH) -> int:
    """Claim due triggers and run each one's flow; returns how many were claimed."""
    with unit_of_work(runtime.sessions) as session:
        claimed = claim_due_triggers(session, now=runtime.clock.now(), limit=limit)
    for trigger in claimed:
        await _run_one(runtime, trigger)
    return len(claimed)


async def _run_one(runtime: Runtime, trigger: ClaimedTrigger) -> None:
    try:
        await _flow_for(trigger)
    except Exception as exc:  # Prefect down, or the flow failed: try again later
        with unit_of_work(runtime.sessions) as session:
            wait = release_failed_trigger(session, key=trigger.key,
                                          error=f"{type(exc).__name__}: {exc}",
                                          now=runtime.clock.now())
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
