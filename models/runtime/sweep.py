"""One due sweep with the process's runtime (its sessions, sender and sweep configuration):
what `weiquan run-due`, the flow service and the `due-sweep` flow all run. From 08:30 of a
working day it also puts the day's digests in the outbox (once a day; see
models/service/digests.py), so whatever runs the sweep sends them — the main job,
`run-due --as-of`, or a Prefect worker. Each sweep also looks at the outbox's backlog and
tells the operator when it is old (models/service/backlog.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from models.db.session import read_only, unit_of_work
from models.domain.calendar import WorkCalendar
from models.service.backlog import Backlog, backlog, episode_changes, watch_backlog
from models.service.digests import DigestPlan, plan_digests
from models.service.due import SweepReport, run_due
from notifications.sender import MailSender
from models.runtime.bootstrap import Runtime

log = logging.getLogger(__name__)


def plan_todays_digests(runtime: Runtime, *, as_of: datetime, calendar: WorkCalendar) -> DigestPlan:
    """The digests due by `as_of` (none before 08:30 or on a rest day), in one transaction."""
    with unit_of_work(runtime.sessions) as session:
        return plan_digests(session, as_of=as_of, calendar=calendar,
                            digest_at=runtime.settings.digest_at,
                            window_end=runtime.reminder_policy.window_end)


def watch_the_outbox(runtime: Runtime, *, as_of: datetime) -> Backlog:
    """The outbox's backlog at `as_of`: the operator's notice when an episode begins (sent by
    this very sweep if the relay answers), and a WARNING every sweep while it is behind."""
    config = runtime.sweep_config
    with read_only(runtime.sessions) as session:
        seen = backlog(session, as_of=as_of, threshold=config.backlog_alert_after)
        changes = episode_changes(session, seen=seen)
    if changes:  # decided again under the write lock: another sweep may have been first
        with unit_of_work(runtime.sessions) as session:
            seen = watch_backlog(session, as_of=as_of, threshold=config.backlog_alert_after,
                                 operator_email=config.operator_email)
    if seen.behind:
        facts = seen.facts()
        log.warning("the outbox is behind: %s of %s queued notices have waited more than %s "
                    "min (the oldest %s min; reason %s)", facts["late"], facts["waiting"],
                    facts["threshold_minutes"], facts["oldest_wait_minutes"], facts["reason"])
    return seen


async def sweep(runtime: Runtime, *, as_of: datetime, calendar: WorkCalendar,
                sender: MailSender | None = None,
                after_send: Callable[[], None] | None = None) -> SweepReport:
    config = runtime.sweep_config
    try:
        if config.digests_enabled:
            plan_todays_digests(runtime, as_of=as_of, calendar=calendar)
    except Exception:  # a digest bug must never hold back reminders and at-once notices
        log.exception("planning the digests failed; the sweep goes on without them")
    seen = None
    try:
        seen = watch_the_outbox(runtime, as_of=as_of)
    except Exception:  # nor a bug in watching the outbox
        log.exception("watching the outbox's backlog failed; the sweep goes on")
    report = await run_due(
        runtime.sessions, as_of=as_of, calendar=calendar, policy=config.policy,
        sender=sender or runtime.sender, max_attempts=config.max_attempts,
        public_url=config.public_url, ack_secret=config.ack_secret,
        cadences=config.cadences, after_send=after_send,
    )
    report.backlog = seen
    return report
