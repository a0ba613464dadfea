"""Tasks of the due sweep: one step each, reporting counts — never names or addresses."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from models.runtime.sweep import sweep
from models.db.session import unit_of_work
from models.domain.digest import format_due
from models.service.calendar import current_calendar
from models.service.digests import overdue_table
from models.domain.vocabulary import vocabulary
from models.service.backlog import Backlog
from models.service.due import SweepReport
from models.runtime.process import current_runtime

OVERDUE_ARTIFACT = "overdue-by-jurisdiction"
BACKLOG_ARTIFACT = "outbox-backlog"
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
    if report.backlog is not None and report.backlog.behind:
        _publish_backlog(report.backlog)
    create_table_artifact(
        key="due-sweep-latest",
        description="The latest due sweep: counts only, no personal data",
        table=[{
            "as_of": report.as_of.isoformat(), "cases_checked": report.cases_checked,
            "notices_queued": report.notices_queued, "sent": report.sent,
            "retrying": report.retrying, "failed": report.failed, "cancelled": report.cancelled,
        }],
    )


def _publish_backlog(backlog: Backlog) -> None:
    """The outbox behind, where an operator watching the Prefect UI sees it: a warning in the
    run's log and the `outbox-backlog` artifact (counts only)."""
    facts = backlog.facts()
    get_run_logger().warning(
        "the outbox is behind: %s of %s queued notices have waited more than %s min (the "
        "oldest %s min; reason %s)", facts["late"], facts["waiting"], facts["threshold_minutes"],
        facts["oldest_wait_minutes"], facts["reason"])
    create_markdown_artifact(
        key=BACKLOG_ARTIFACT,
        description="The outbox behind: counts only, no personal data",
        markdown=(f"**邮件积压** ({backlog.as_of.isoformat()}): {facts['late']} of "
                  f"{facts['waiting']} queued notices waited more than "
                  f"{facts['threshold_minutes']} min; the oldest {facts['oldest_wait_minutes']} "
                  f"min; reason: {vocabulary().label('outbox_delays', str(facts['reason']))}. "
                  "The operator is mailed once per episode; `weiquan status` shows it now."))


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
