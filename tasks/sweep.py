"""Tasks of the due sweep: one step each, reporting counts — never names or addresses."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.artifacts import create_table_artifact

from models.runtime.sweep import sweep
from models.db.session import unit_of_work
from models.domain.digest import format_due
from models.service.calendar import current_calendar
from models.service.digests import overdue_table
from models.service.due import SweepReport
from models.runtime.process import current_runtime

OVERDUE_ARTIFACT = "overdue-by-jurisdiction"
EMPTY_ROW = {"jurisdiction": "", "jurisdiction_name": "（无逾期或即将到期事项）", "level": "",
             "kind": "", "escalation_level": 0, "overdue": 0, "due_soon": 0, "cases": ""}


@task(task_run_name="process due up to {as_of}")
async def process_due(as_of: datetime) -> SweepReport:
    context = current_runtime()
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


@task(task_run_name="publish overdue by jurisdiction {as_of}")
def publish_overdue_table(as_of: datetime) -> int:
    """Overdue and due-soon counts by jurisdiction, kind and escalation level, with case
    numbers: the operator's standing picture (the key stays, the content is the latest)."""
    context = current_runtime()
    with unit_of_work(context.sessions) as session:
        rows = overdue_table(session, as_of=as_of, calendar=current_calendar(session))
    create_table_artifact(
        key=OVERDUE_ARTIFACT,
        description=(f"Overdue and due within 3 working days, by jurisdiction, kind "
                     f"(response, transfer, visit, referral) and escalation level reached, as of "
                     f"{format_due(as_of)} (Asia/Shanghai). Case numbers only, no personal data."),
        table=rows or [EMPTY_ROW],
    )
    return len(rows)
