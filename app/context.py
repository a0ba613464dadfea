"""Wiring: settings → engine → session factory, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock, SystemClock
from app.settings import Settings, load_settings
from models.db.migrate import upgrade_to_head
from models.db.session import make_engine, make_session_factory
from models.domain.jurisdiction import Level
from models.domain.reminders import ReminderPolicy
from models.intake_schema import IntakeLimits


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock

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

    def close(self) -> None:
        self.engine.dispose()


def build_context(
    settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = True
) -> AppContext:
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if migrate:
        upgrade_to_head(url)
    engine = make_engine(url)
    return AppContext(settings=settings, engine=engine, sessions=make_session_factory(engine),
                      clock=clock or SystemClock())
