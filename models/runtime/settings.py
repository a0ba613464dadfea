"""The one settings object. Every knob is an environment variable with the WEIQUAN_ prefix.

Defaults are embedded so that a fresh clone runs with nothing configured: SQLite and the
mail sink under the data directory, a local Prefect server on loopback.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.domain.errors import FieldProblem, InputError, InputProblems
from models.domain.casework import DEFAULT_CLOSING_VISIT_WORKING_DAYS
from models.domain.visits import DEFAULT_CADENCES, VisitCadence, parse_cadences

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # models/runtime/settings.py → the checkout


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIQUAN_", extra="ignore")

    # production: refuse to start with anything only fit for trying it out (see
    # production_problems); development (the default) runs with nothing configured.
    env: Literal["development", "production"] = "development"
    # How many processes share the database: service processes plus the web app's workers.
    # Declared so that production can refuse SQLite, which takes one writer at a time.
    processes: int = Field(default=1, ge=1, le=256)

    data_dir: Path = Field(default=PROJECT_ROOT / "var")
    database_url: str | None = None  # default: sqlite file in data_dir

    # Prefect server started by the main job (loopback only).
    prefect_host: str = "127.0.0.1"
    prefect_port: int = Field(default=4200, ge=1, le=65535)

    # Mail: unset SMTP host means "deliver to the local sink".
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "weiquan@localhost"
    # Who is alerted when a notice has nobody to go to (a role missing from the registry).
    operator_email: str = "operator@weiquan.local"
    # The operator is mailed (once per episode) when queued notices have waited this long:
    # the outbox is behind (models/service/backlog.py). The board's health line uses 10.
    backlog_alert_minutes: int = Field(default=10, ge=1, le=24 * 60)
    # SMTP connections a batch of mail is spread over (the relay's or the sink's).
    smtp_connections: int = Field(default=4, ge=1, le=32)
    sink_host: str = "127.0.0.1"
    sink_port: int = Field(default=8025, ge=1, le=65535)

    # Intake limits: a hotline form is small; anything far larger is a mistake or abuse.
    max_intake_bytes: int = Field(default=256 * 1024, ge=1024)
    max_summary_chars: int = Field(default=4000, ge=100)
    max_parties: int = Field(default=30, ge=1)
    clock_skew_minutes: int = Field(default=5, ge=0, le=60)
    # POST /api/intake: requests one source may make a minute (counted in the database).
    api_rate_per_minute: int = Field(default=60, ge=1, le=100_000)

    # How often the service looks for intake flows not yet started.
    dispatch_interval_seconds: float = Field(default=2.0, gt=0, le=30)
    # The periodic due sweep: bounds how long a case stored by another process waits.
    sweep_interval_seconds: float = Field(default=30.0, gt=0, le=30)
    # The scheduler's leader lease (models/service/leases.py): renewed this often, and taken
    # over by a standby once unrenewed this long, so a dead leader is replaced within
    # ttl + renew seconds (≤ 30 s).
    lease_ttl_seconds: float = Field(default=15.0, gt=0, le=20)
    lease_renew_seconds: float = Field(default=4.0, gt=0, le=10)

    # Reminder and escalation policy (models/domain/reminders.py).
    reminder_hour: int = Field(default=9, ge=0, le=23)
    reminder_window_end_hour: int = Field(default=18, ge=1, le=24)
    reminder_days_before: list[int] = Field(default=[1, 0])
    reminder_last_call_minutes: int = Field(default=0, ge=0, le=24 * 60)
    reminder_working_days_only: bool = True
    escalate_every_working_days: int = Field(default=3, ge=1, le=60)
    escalate_up_to: str = "county"
    tracking_every_working_days: int = Field(default=7, ge=1, le=60)
    notice_max_attempts: int = Field(default=8, ge=1, le=50)
    # The cadre's daily digest (and the supervisors' weekly one) at this time of a working day.
    digest_at: time = time(8, 30)
    # false: no digests at all (reminders and at-once notices are unaffected)
    digests_enabled: bool = True

    # Where a recipient can act (links in mails); unset: the board's own address (web_url).
    public_url: str | None = None

    # The supervisors' board (web/), started by the main job.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=0, le=65535)
    # Signs session cookies and acknowledgement links. Unset: generated once and kept in
    # <data_dir>/secret_key (models/runtime/secret_key.py), so nothing needs configuring.
    secret_key: str | None = Field(default=None, repr=False)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    ack_link_valid_days: int = Field(default=14, ge=1, le=365)

    # Return-visit cadences by plan level (YAML, format in data/visit_cadences.yaml, which
    # holds the built-in defaults). Unset: the defaults. Read and checked at start-up.
    visit_cadences_file: Path | None = None
    # 004 结案 → 回访: a closed case (not on a ledger) is visited once, this many working days
    # after the closing day.
    closing_visit_working_days: int = Field(default=DEFAULT_CLOSING_VISIT_WORKING_DAYS, ge=1,
                                            le=60)
    _visit_cadences: Mapping[str, VisitCadence] = PrivateAttr(default_factory=lambda: DEFAULT_CADENCES)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must be at least 32 characters (or unset: one is generated)")
        return value

    @field_validator("escalate_up_to")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value not in {"township", "county", "city", "province"}:
            raise ValueError("must be one of township, county, city, province")
        return value

    @field_validator("reminder_days_before")
    @classmethod
    def _days_before(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 30 for day in value):
            raise ValueError("each value must be 0 (the due day) to 30 working days before")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _public_url_defaults_to_the_board(self) -> "Settings":
        if not self.public_url:
            self.public_url = self.web_url
        self.public_url = self.public_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _read_visit_cadences(self) -> "Settings":
        # Fail at start-up, naming the file and the field, rather than at the first visit.
        path = self.visit_cadences_file
        if path is None:
            return self
        try:
            data = yaml.safe_load(path.expanduser().read_text(encoding="utf-8"))
            self._visit_cadences = parse_cadences(data)
        except OSError as exc:
            raise ValueError(f"WEIQUAN_VISIT_CADENCES_FILE {path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"WEIQUAN_VISIT_CADENCES_FILE {path}: not valid YAML ({exc})") from None
        except InputError as exc:
            raise ValueError(f"WEIQUAN_VISIT_CADENCES_FILE {path}: {exc}") from None
        return self

    @property
    def visit_cadences(self) -> Mapping[str, VisitCadence]:
        return self._visit_cadences

    @model_validator(mode="after")
    def _lease_renewed_before_it_expires(self) -> "Settings":
        if self.lease_renew_seconds * 2 > self.lease_ttl_seconds:
            raise ValueError("WEIQUAN_LEASE_RENEW_SECONDS must be at most half of "
                             "WEIQUAN_LEASE_TTL_SECONDS: one missed renewal must not lose the lease")
        return self

    @model_validator(mode="after")
    def _smtp_auth_complete(self) -> "Settings":
        if bool(self.smtp_user) != bool(self.smtp_password):
            raise ValueError("WEIQUAN_SMTP_USER and WEIQUAN_SMTP_PASSWORD must be set together")
        return self

    def production_problems(self) -> list[FieldProblem]:
        """What a production deployment must not run with, each naming its variable; none
        outside production."""
        if self.env != "production":
            return []
        problems = []
        if not self.smtp_host:
            problems.append(FieldProblem("WEIQUAN_SMTP_HOST", (
                "must name the SMTP relay: unset, every notice (police reports included) would "
                "be filed in the local mail sink and reach nobody")))
        secret_problem = weak_secret_problem(self.secret_key)
        if secret_problem is not None:
            problems.append(FieldProblem("WEIQUAN_SECRET_KEY", secret_problem))
        if self.effective_database_url.startswith("sqlite") and self.processes > 1:
            problems.append(FieldProblem("WEIQUAN_PROCESSES", (
                f"{self.processes} processes on SQLite, which takes one writer at a time: "
                "use PostgreSQL (WEIQUAN_DATABASE_URL) or one process")))
        if "operator_email" not in self.model_fields_set:
            problems.append(FieldProblem("WEIQUAN_OPERATOR_EMAIL", (
                "must be set: the operator is told of notices nobody can receive")))
        if not (self.public_url or "").startswith("https://"):
            problems.append(FieldProblem("WEIQUAN_PUBLIC_URL", (
                f"must be the https:// address recipients open links at (now {self.public_url})")))
        return problems

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'weiquan.db'}"

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def mail_sink_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def prefect_home(self) -> Path:
        return self.data_dir / "prefect"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.prefect_host}:{self.prefect_port}/api"

    @property
    def prefect_ui_url(self) -> str:
        return f"http://{self.prefect_host}:{self.prefect_port}"


# Placeholders people paste from examples; a key containing one is guessable.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "secret", "password", "example", "weiquan")
# A generated key (`python -c "import secrets; print(secrets.token_urlsafe(32))"`) has 25 or
# more distinct characters; 10 still lets a long hex key through and stops 'aaaa…', 'abab…'.
MIN_SECRET_DISTINCT_CHARS = 10


def weak_secret_problem(secret_key: str | None) -> str | None:
    """Why this secret key is not fit for production (None: it is)."""
    hint = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
    if not secret_key:
        return f"must be set in production (no key is generated there); {hint}"
    if len(secret_key) < 32:
        return f"must be at least 32 characters; {hint}"
    if any(word in secret_key.lower() for word in _PLACEHOLDER_WORDS):
        return f"contains a placeholder word and can be guessed; {hint}"
    if len(set(secret_key)) < MIN_SECRET_DISTINCT_CHARS:
        return (f"uses only {len(set(secret_key))} distinct characters and can be guessed; {hint}")
    return None


class ConfigError(InputProblems):
    """Settings that cannot be used: every problem, each naming its environment variable."""


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError([_config_problem(error) for error in exc.errors()]) from None
    problems = settings.production_problems()
    if problems:
        raise ConfigError(problems)
    return settings


def _config_problem(error) -> FieldProblem:
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    # A model-wide check (no field) names its variables in the message itself.
    return FieldProblem(f"WEIQUAN_{field.upper()}" if field else "configuration", message)
