"""Tasks of the due sweep: one step each, reporting counts — never names or addresses."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.artifacts import create_table_artifact

from app.sweep import sweep
from models.db.session import unit_of_work
from models.service.calendar import current_calendar
from models.service.due import SweepReport
from tasks.context import app_context


@task(task_run_name="process due up to {as_of}")
async def process_due(as_of: datetime) -> SweepReport:
    context = app_context()
    with unit_of_work(context.sessions) as session:
        calendar = current_calendar(session)
    return await sweep(context, as_of=as_of, calendar=calendar)


@task(task_run_name="publish sweep summary")
def publish_sweep_summary(report: SweepReport) -> None:
    create_table_artifact(
        key="due-sweep-latest",
        description="The latest due sweep: counts only, no personal data",
        table=[{
            "as_of": report.as_of.isoformat(), "cases_checked": report.cases_checked,
            "notices_queued": report.notices_queued, "sent": report.sent,
            "retrying": report.retrying, "failed": report.failed, "cancelled": report.cancelled,
        }],
    )
