"""Input a person can fix: the one error type the edges map (exit 2 on the CLI, 4xx on the web).

`InputError` names one field and the reason. `InputProblems` carries every problem one pass
over a document or file found, so the person fixes them all at once; its `field`/`reason`
are the first problem's. Subclasses exist only where their name tells the reader something.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong in a document or file: `field` may carry a place (`file:line`)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class Problem(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def reason(self) -> str: ...


# A ValueError, so that raised inside a pydantic validator it becomes one of that model's
# field problems rather than escaping it.
class InputError(ValueError):
    def __init__(self, *, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    @property
    def problems(self) -> tuple[Problem, ...]:
        return (FieldProblem(self.field, self.reason),)


class InputProblems(InputError):
    """Several problems at once; printed one after the other, joined by `separator`."""

    separator = "; "

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise TypeError("InputProblems needs at least one problem")
        super().__init__(field=problems[0].field, reason=problems[0].reason)
        self._problems = tuple(problems)
        self.args = (self.separator.join(str(p) for p in self._problems),)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self._problems


class NotFoundError(InputError):
    """A key (case number, referral, contact, jurisdiction) that names nothing stored."""

    def __init__(self, *, what: str, key: str, field: str | None = None) -> None:
        super().__init__(field=field or what, reason=f"{what} {key!r} not found")
        self.key = key


# --- typed values from text, each refusal naming the field -----------------------------------
# Patterns rather than try/except around fromisoformat: every refusal is an explicit decision
# with its own reason, and only the plain forms people type are taken ('20270101' and
# '2027-W05-1', which fromisoformat also takes, are more likely slips than intent).

ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ISO_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?"
    r"(Z|([+-])(\d{2}):(\d{2}))?$")

# The offsets in use on Earth run from UTC-12:00 (Baker Island) to UTC+14:00 (Line Islands);
# anything beyond is a typo, however well-formed.
EARLIEST_OFFSET = timedelta(hours=-12)
LATEST_OFFSET = timedelta(hours=14)
# This service's records begin this century: an earlier year is a slip (0001, 1000, a
# spreadsheet's 1900, which Shanghai's zone shows with its 1900 mean-time offset +08:05:43).
# The upper bound only keeps arithmetic safe (9999 overflows once shifted to UTC); each field
# bounds its time further against the clock (a receipt is never in the future).
EARLIEST_YEAR = 2000
LATEST_YEAR = 9998

# C0 and C1 controls (Unicode category Cc) except tab, line feed and carriage return, and
# lone surrogates (Cs, which JSON's \ud800 escapes produce and no database can store).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _shown(value: str, *, limit: int = 40) -> str:
    """A value quoted in a reason, cut short: a refusal must not echo a megabyte back."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def text_problem(value: str, *, max_chars: int | None = None) -> str | None:
    """Why typed text cannot be stored (None: it can): control characters, or too long."""
    control = _CONTROL.search(value)
    if control is not None:
        return (f"contains the control character U+{ord(control[0]):04X} at position "
                f"{control.start() + 1}; only tab and line breaks are allowed")
    if max_chars is not None and len(value) > max_chars:
        return f"{len(value)} characters; the limit is {max_chars}"
    return None


def check_text(value: str, *, field: str, max_chars: int | None = None) -> str:
    """Typed text as given, or an InputError naming the field."""
    problem = text_problem(value, max_chars=max_chars)
    if problem is not None:
        raise InputError(field=field, reason=problem)
    return value


def is_iso_date(text: str) -> bool:
    """YYYY-MM-DD naming a day that exists."""
    match = ISO_DATE.match(text)
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    return year >= 1 and 1 <= month <= 12 and 1 <= day <= monthrange(year, month)[1]


def parse_date(value: str, *, field: str, reason: str | None = None) -> date:
    text = value.strip()
    if not is_iso_date(text):
        raise InputError(field=field, reason=reason or f"{_shown(value)} is not a date (YYYY-MM-DD)")
    return date.fromisoformat(text)


def parse_aware_time(value: str, *, field: str, reason: str | None = None) -> datetime:
    """An ISO 8601 time that carries a real UTC offset, in a plausible year: a naive time could
    be UTC (a server) or local (a cadre's terminal), and guessing shifts the day."""
    text = value.strip()
    match = _ISO_TIME.match(text)
    if match is None or not is_iso_date(match[1]) or int(match[2]) > 23 or int(match[3]) > 59 \
            or int(match[4] or 0) > 59 or int(match[7] or 0) > 23 or int(match[8] or 0) > 59:
        raise InputError(field=field, reason=reason or (
            f"{_shown(value)} is not an ISO 8601 time (e.g. 2026-09-30T10:15:00+08:00)"))
    if match[5] is None:
        raise InputError(field=field, reason=(
            f"a time must carry its UTC offset, e.g. +08:00 ({_shown(value)} has none)"))
    if match[6] is not None:
        offset = timedelta(hours=int(match[7]), minutes=int(match[8]))
        offset = -offset if match[6] == "-" else offset
        if not EARLIEST_OFFSET <= offset <= LATEST_OFFSET:
            raise InputError(field=field, reason=(
                f"{_shown(value)}: the UTC offset must lie between -12:00 and +14:00"))
    year = int(text[:4])
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise InputError(field=field, reason=(
            f"{_shown(value)}: the year must lie between {EARLIEST_YEAR} and {LATEST_YEAR}"))
    return datetime.fromisoformat(text)


def parse_choice(value: str, *, field: str, choices: Iterable[str], what: str = "value") -> str:
    """One of a fixed set of codes (an enum's values, a vocabulary group)."""
    allowed = list(choices)
    if value not in allowed:
        raise InputError(field=field,
                         reason=f"unknown {what} {_shown(value)} (one of: {', '.join(allowed)})")
    return value
