"""One due sweep with the process's real mail transport: what `weiquan run-due`, the flow
service and the `due-sweep` flow all run. From 08:30 of a working day it also puts the day's
digests in the outbox (once a day; see models/service/digests.py), so whatever runs the sweep
sends them — the main job, `run-due --as-of`, or a Prefect worker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from app.context import AppContext
from app.secret_key import load_secret_key
from models.db.session import unit_of_work
from models.domain.calendar import WorkCalendar
from models.service.digests import DigestPlan, plan_digests
from models.service.due import SweepReport, run_due
from notifications.sender import MailSender, SmtpConfig, SmtpSender

log = logging.getLogger(__name__)


def make_sender(ctx: AppContext) -> MailSender:
    return SmtpSender(SmtpConfig.from_settings(ctx.settings), mail_from=ctx.settings.mail_from)


def plan_todays_digests(ctx: AppContext, *, as_of: datetime, calendar: WorkCalendar) -> DigestPlan:
    """The digests due by `as_of` (none before 08:30 or on a rest day), in one transaction."""
    with unit_of_work(ctx.sessions) as session:
        return plan_digests(session, as_of=as_of, calendar=calendar,
                            digest_at=ctx.settings.digest_at,
                            window_end=ctx.reminder_policy.window_end)


async def sweep(ctx: AppContext, *, as_of: datetime, calendar: WorkCalendar,
                sender: MailSender | None = None,
                after_send: Callable[[], None] | None = None) -> SweepReport:
    try:
        if ctx.settings.digests_enabled:
            plan_todays_digests(ctx, as_of=as_of, calendar=calendar)
    except Exception:  # a digest bug must never hold back reminders and at-once notices
        log.exception("planning the digests failed; the sweep goes on without them")
    return await run_due(
        ctx.sessions, as_of=as_of, calendar=calendar, policy=ctx.reminder_policy,
        sender=sender or make_sender(ctx), max_attempts=ctx.settings.notice_max_attempts,
        public_url=ctx.settings.public_url, ack_secret=load_secret_key(ctx.settings),
        cadences=ctx.settings.visit_cadences, after_send=after_send,
    )
