"""Tasks of the digest flows: one step each, reporting counts and dates — never names or
addresses (digest content is built when the mail is sent, not here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from prefect import get_run_logger, task

from models.db.session import unit_of_work
from models.domain.calendar import WorkCalendar
from models.domain.digest import first_working_day_of_week, local_date
from models.domain.statistics import monthly_statistics_period
from models.service.calendar import current_calendar
from models.service.digests import (
    plan_cadre_digests,
    plan_monthly_statistics,
    plan_supervisor_digests,
)
from models.runtime.process import current_runtime


@task(task_run_name="plan cadre digests {as_of:%Y-%m-%d}")
def plan_cadre_digests_task(as_of: datetime) -> int:
    def not_today(calendar: WorkCalendar, today: date) -> str | None:
        # Cron fires every day; the official calendar decides (make-up Saturdays included).
        return None if calendar.is_working_day(today) else f"{today} is not a working day"

    return _plan(as_of, what="cadre digests", not_today=not_today, plan=plan_cadre_digests)


@task(task_run_name="plan supervisor digests {as_of:%Y-%m-%d}")
def plan_supervisor_digests_task(as_of: datetime) -> int:
    def not_today(calendar: WorkCalendar, today: date) -> str | None:
        # Cron says Monday–Saturday; whether today is the week's first working day (a
        # holiday Monday is not) only the official calendar knows.
        first = first_working_day_of_week(today, calendar=calendar)
        if first is None or today < first:
            return f"the first working day of this week is {first}, not {today}"
        return None

    return _plan(as_of, what="supervisor digests", not_today=not_today,
                 plan=plan_supervisor_digests)


@task(task_run_name="plan monthly statistics {as_of:%Y-%m-%d}")
def plan_monthly_statistics_task(as_of: datetime) -> int:
    def not_today(calendar: WorkCalendar, today: date) -> str | None:
        # Cron fires on the 1st to the 10th; whether today is the month's first working day
        # (a make-up Saturday can be, a holiday Monday cannot) only the calendar knows.
        if monthly_statistics_period(today, calendar=calendar) is None:
            return f"{today} is not the first working day of its month"
        return None

    return _plan(as_of, what="monthly statistics", not_today=not_today,
                 plan=plan_monthly_statistics)


def _plan(as_of: datetime, *, what: str, not_today: Callable[[WorkCalendar, date], str | None],
          plan: Callable[..., int]) -> int:
    """Plan `what` unless digests are off or `not_today` gives the calendar's reason not to."""
    context, logger = current_runtime(), get_run_logger()
    if not context.settings.digests_enabled:
        logger.info("digests are switched off (WEIQUAN_DIGESTS_ENABLED=false)")
        return 0
    today = local_date(as_of)
    with unit_of_work(context.sessions) as session:
        calendar = current_calendar(session)
        reason = not_today(calendar, today)
        if reason is not None:
            logger.info("%s: no %s", reason, what)
            return 0
        planned = plan(session, as_of=as_of, calendar=calendar,
                       digest_at=context.settings.digest_at,
                       window_end=context.reminder_policy.window_end)
    logger.info("%s queued on %s: %s", what, today, planned)
    return planned
