"""The digest flows: the cadre digest (each working day at 08:30), the supervisor digest
(the first working day of each ISO week at 08:30) and the supervisors' monthly statistics
(the first working day of each month at 08:30: last month's counts, the xlsx attached). Their
only parameter is the instant they run as of (default: now); runs are named by the date.

Cron cannot know China's make-up workdays, so the deployments fire on calendar days and the
flows ask the official calendar: a make-up Saturday gets a digest, a National Day Monday does
not. Each flow plans its digests (outbox notices with stable keys: never twice) and then
runs the due sweep, which sends them — rendered at that moment — with whatever else is due.
"""

# No `from __future__ import annotations`: a flow served by the main job's runner is
# pickled into a subprocess, where pydantic must find the parameter types themselves.

from datetime import datetime

from prefect import Task, flow

from flows.naming import named
from models.domain.calendar import SHANGHAI
from flows.runtime import flow_runtime
from tasks.digests import (
    plan_cadre_digests_task,
    plan_monthly_statistics_task,
    plan_supervisor_digests_task,
)
from tasks.sweep import process_due

CADRE_DIGEST_FLOW = "cadre-digest"
SUPERVISOR_DIGEST_FLOW = "supervisor-digest"
MONTHLY_STATISTICS_FLOW = "monthly-statistics"


@flow(name=CADRE_DIGEST_FLOW, flow_run_name=named("cadre digest"), retries=0)
async def cadre_digest(as_of: datetime | None = None) -> dict[str, int]:
    return await _plan_and_send(as_of, plan=plan_cadre_digests_task, planned_as="digests_planned")


@flow(name=SUPERVISOR_DIGEST_FLOW, flow_run_name=named("supervisor digest"), retries=0)
async def supervisor_digest(as_of: datetime | None = None) -> dict[str, int]:
    return await _plan_and_send(as_of, plan=plan_supervisor_digests_task,
                                planned_as="digests_planned")


@flow(name=MONTHLY_STATISTICS_FLOW, flow_run_name=named("monthly statistics"), retries=0)
async def monthly_statistics(as_of: datetime | None = None) -> dict[str, int]:
    return await _plan_and_send(as_of, plan=plan_monthly_statistics_task,
                                planned_as="statistics_planned")


async def _plan_and_send(as_of: datetime | None, *, plan: Task, planned_as: str) -> dict[str, int]:
    # Always asked, as_of given or not: in a worker the flow is the entry point, and this
    # builds the runtime its tasks use.
    clock = flow_runtime().clock
    as_of = (as_of or clock.now()).astimezone(SHANGHAI)  # readable task names
    planned = plan(as_of)
    report = await process_due(as_of)
    return {planned_as: planned, "sent": report.sent, "retrying": report.retrying,
            "failed": report.failed, "cancelled": report.cancelled}
