"""Errors a person can fix. The edge (CLI, web) turns them into a message and exit status 2."""

from __future__ import annotations

from app.settings import ConfigError
from models.domain.calendar import CalendarFileError, YearScheduleError
from models.domain.errors import FieldError
from models.domain.safe_contact import NoSafeSlotError, QuietHoursError
from models.domain.jurisdiction import DivisionCodeError
from models.domain.procedure import IllegalMoveError
from models.domain.registry import RegistryFileError
from models.intake_schema import IntakeValidationError


class NotFoundError(LookupError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")


class UsageError(ValueError):
    """The command's arguments are off (a file that cannot be read, a bad time…)."""


USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    IntakeValidationError,
    RegistryFileError,
    CalendarFileError,
    YearScheduleError,
    DivisionCodeError,
    NotFoundError,
    UsageError,
    IllegalMoveError,
    FieldError,
    QuietHoursError,
    NoSafeSlotError,
)
