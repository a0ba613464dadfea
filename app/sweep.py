"""One due sweep with the process's real mail transport: what `weiquan run-due`, the flow
service and the `due-sweep` flow all run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.context import AppContext
from models.domain.calendar import WorkCalendar
from models.service.due import SweepReport, run_due
from notifications.sender import MailSender, SmtpConfig, SmtpSender


def make_sender(ctx: AppContext) -> MailSender:
    return SmtpSender(SmtpConfig.from_settings(ctx.settings), mail_from=ctx.settings.mail_from)


async def sweep(ctx: AppContext, *, as_of: datetime, calendar: WorkCalendar,
                sender: MailSender | None = None,
                after_send: Callable[[], None] | None = None) -> SweepReport:
    return await run_due(
        ctx.sessions, as_of=as_of, calendar=calendar, policy=ctx.reminder_policy,
        sender=sender or make_sender(ctx), max_attempts=ctx.settings.notice_max_attempts,
        public_url=ctx.settings.public_url, after_send=after_send,
    )
