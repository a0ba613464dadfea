"""Tasks of the digest flows: one step each, reporting counts and dates — never names or
addresses (digest content is built when the mail is sent, not here)."""

from __future__ import annotations

from datetime import datetime

from prefect import get_run_logger, task

from models.db.session import unit_of_work
from models.domain.digest import first_working_day_of_week, local_date
from models.domain.statistics import monthly_statistics_period
from models.service.calendar import current_calendar
from models.service.digests import (
    plan_cadre_digests,
    plan_monthly_statistics,
    plan_supervisor_digests,
)
from tasks.context import app_context


@task(task_run_name="plan cadre digests {as_of:%Y-%m-%d}")
def plan_cadre_digests_task(as_of: datetime) -> int:
    context, logger = app_context(), get_run_logger()
    if not context.settings.digests_enabled:
        logger.info("digests are switched off (WEIQUAN_DIGESTS_ENABLED=false)")
        return 0
    with unit_of_work(context.sessions) as session:
        calendar = current_calendar(session)
        if not calendar.is_working_day(local_date(as_of)):
            # Cron fires every day; the official calendar decides (make-up Saturdays included).
            logger.info("%s is not a working day: no cadre digest", local_date(as_of))
            return 0
        planned = plan_cadre_digests(session, as_of=as_of, calendar=calendar,
                                     digest_at=context.settings.digest_at,
                                     window_end=context.reminder_policy.window_end)
    logger.info("cadre digests queued for %s: %s", local_date(as_of), planned)
    return planned


@task(task_run_name="plan supervisor digests {as_of:%Y-%m-%d}")
def plan_supervisor_digests_task(as_of: datetime) -> int:
    context, logger = app_context(), get_run_logger()
    if not context.settings.digests_enabled:
        logger.info("digests are switched off (WEIQUAN_DIGESTS_ENABLED=false)")
        return 0
    with unit_of_work(context.sessions) as session:
        calendar = current_calendar(session)
        first = first_working_day_of_week(local_date(as_of), calendar=calendar)
        if first is None or local_date(as_of) < first:
            # Cron says Monday–Saturday; whether today is the week's first working day (a
            # holiday Monday is not) only the official calendar knows.
            logger.info("the first working day of this week is %s: no supervisor digest on %s",
                        first, local_date(as_of))
            return 0
        planned = plan_supervisor_digests(session, as_of=as_of, calendar=calendar,
                                          digest_at=context.settings.digest_at,
                                          window_end=context.reminder_policy.window_end)
    logger.info("supervisor digests queued for the week of %s: %s", first, planned)
    return planned


@task(task_run_name="plan monthly statistics {as_of:%Y-%m-%d}")
def plan_monthly_statistics_task(as_of: datetime) -> int:
    context, logger = app_context(), get_run_logger()
    if not context.settings.digests_enabled:
        logger.info("digests are switched off (WEIQUAN_DIGESTS_ENABLED=false)")
        return 0
    with unit_of_work(context.sessions) as session:
        calendar = current_calendar(session)
        period = monthly_statistics_period(local_date(as_of), calendar=calendar)
        if period is None:
            # Cron fires on the 1st to the 10th; whether today is the month's first working
            # day (a make-up Saturday can be, a holiday Monday cannot) only the calendar knows.
            logger.info("%s is not the first working day of its month: no monthly statistics",
                        local_date(as_of))
            return 0
        planned = plan_monthly_statistics(session, as_of=as_of, calendar=calendar,
                                          digest_at=context.settings.digest_at,
                                          window_end=context.reminder_policy.window_end)
    logger.info("monthly statistics for %s to %s queued: %s", period.first, period.last, planned)
    return planned
