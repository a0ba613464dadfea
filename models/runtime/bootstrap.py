"""The bootstrap: settings → engine → session factory → clock → mail sender → sweep
configuration, built once per process by its entry point and passed down.

Entry points (the edges) call `build_runtime`: `weiquan up` and `weiquan serve`, every CLI
command, the web app's server, and a flow started by a Prefect worker (flows/runtime.py).
Migrations run only when the edge says so (`migrate=True`): the commands that may meet a
fresh data directory and the service; a flow in a worker never migrates (the service or
`weiquan db upgrade` did).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models.db.migrate import upgrade_to_head
from models.db.session import make_engine, make_session_factory
from models.domain.jurisdiction import Level
from models.domain.reminders import ReminderPolicy
from models.domain.visits import VisitCadence
from models.intake_schema import IntakeLimits
from notifications.sender import MailSender, SmtpConfig, SmtpSender
from models.runtime.clock import Clock, SystemClock
from models.runtime.secret_key import load_secret_key
from models.runtime.settings import Settings, load_settings


@dataclass(frozen=True)
class SweepConfig:
    """What a due sweep needs besides the database, the clock and the sender."""

    policy: ReminderPolicy
    cadences: Mapping[str, VisitCadence]
    max_attempts: int
    public_url: str | None
    ack_secret: str
    digest_at: time
    digests_enabled: bool
    backlog_alert_after: timedelta
    operator_email: str


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    # Injected by a test or a bench; otherwise SMTP (or the local sink) as the settings say.
    sender_override: MailSender | None = None

    @property
    def sender(self) -> MailSender:
        # Made from the settings on each use: it holds no connection between batches, and a
        # test that points the settings at its own sink after building gets that sink.
        if self.sender_override is not None:
            return self.sender_override
        return SmtpSender(smtp_config(self.settings), mail_from=self.settings.mail_from)

    @property
    def intake_limits(self) -> IntakeLimits:
        s = self.settings
        return IntakeLimits(max_bytes=s.max_intake_bytes, max_summary_chars=s.max_summary_chars,
                            max_parties=s.max_parties,
                            clock_skew=timedelta(minutes=s.clock_skew_minutes))

    @property
    def reminder_policy(self) -> ReminderPolicy:
        s = self.settings
        return ReminderPolicy(
            send_at=time(s.reminder_hour, 0),
            window_end=time(23, 59, 59) if s.reminder_window_end_hour == 24 else time(s.reminder_window_end_hour, 0),
            remind_days_before=tuple(s.reminder_days_before),
            escalate_every_working_days=s.escalate_every_working_days,
            escalate_up_to=Level(s.escalate_up_to),
            tracking_every_working_days=s.tracking_every_working_days,
            last_call_minutes=s.reminder_last_call_minutes,
            working_days_only=s.reminder_working_days_only,
        )

    @property
    def sweep_config(self) -> SweepConfig:
        s = self.settings
        return SweepConfig(policy=self.reminder_policy, cadences=s.visit_cadences,
                           max_attempts=s.notice_max_attempts, public_url=s.public_url,
                           ack_secret=load_secret_key(s), digest_at=s.digest_at,
                           digests_enabled=s.digests_enabled,
                           backlog_alert_after=timedelta(minutes=s.backlog_alert_minutes),
                           operator_email=s.operator_email)

    def close(self) -> None:
        self.engine.dispose()


def smtp_config(settings: Settings) -> SmtpConfig:
    """The configured relay, or (no smtp_host) the local sink: no auth, no TLS."""
    if not settings.smtp_host:
        return SmtpConfig(host=settings.sink_host, port=settings.sink_port,
                          connections=settings.smtp_connections)
    return SmtpConfig(host=settings.smtp_host, port=settings.smtp_port,
                      username=settings.smtp_user or None,
                      password=settings.smtp_password or None,
                      starttls=settings.smtp_starttls, connections=settings.smtp_connections)


def build_runtime(*, settings: Settings | None = None, clock: Clock | None = None,
                  sender: MailSender | None = None, migrate: bool) -> Runtime:
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if migrate:
        upgrade_to_head(url)
    engine = make_engine(url)
    return Runtime(settings=settings, engine=engine, sessions=make_session_factory(engine),
                   clock=clock or SystemClock(), sender_override=sender)
