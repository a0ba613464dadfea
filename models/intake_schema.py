"""The intake JSON (shared/contract) as it crosses the boundary, validated field by field.

Every problem names the field (a dotted path such as `parties.1.role`) and the reason; the
caller stores nothing unless all of it is valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from models.domain.found_families import MAX_REASON_CHARS, MIN_REASON_CHARS, FoundBy
from models.domain.errors import FieldProblem, InputError, InputProblems, parse_aware_time, text_problem
from models.domain.jurisdiction import normalize_code
from models.domain.safe_contact import parse_quiet_hours
from models.domain.vocabulary import vocabulary



def _plain_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _aware_time(value: Any) -> datetime | None:
    # Strict: only the ISO 8601 text the contract names. A bare number would otherwise be
    # read as Unix seconds, and pydantic's own parser takes offsets no place on Earth has.
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time as text with its UTC offset, "
                         "e.g. \"2026-09-30T10:15:00+08:00\", not a number or other value")
    try:
        return parse_aware_time(value, field="time")
    except InputError as exc:  # pydantic names the field
        raise ValueError(exc.reason) from None


PlainText = AfterValidator(_plain_text)
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                    PlainText]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+\-() ]{3,40}$", max_length=40)
]
AwareTime = Annotated[datetime, BeforeValidator(_aware_time)]
OptionalAwareTime = Annotated[datetime | None, BeforeValidator(_aware_time)]


@dataclass(frozen=True)
class IntakeLimits:
    max_bytes: int = 256 * 1024
    max_summary_chars: int = 4000
    max_parties: int = 30
    clock_skew: timedelta = timedelta(minutes=5)
    # The contract nests three deep (document, parties, a party); Python's JSON parser
    # recurses per level and fails near 1,000, so depth is counted before parsing.
    max_depth: int = 8
    # No field holds more than an age or a count; the longest integer kept stays far from
    # Python's 4,300-digit conversion limit, which would raise instead of refusing a field.
    max_integer_digits: int = 18
    # An assigner's deadline runs days to months; one beyond this is a mistyped year.
    max_due_ahead: timedelta = timedelta(days=3 * 366)


class IntakeValidationError(InputProblems):
    """Every problem of one intake document, each naming its dotted field path."""


def _in_vocabulary(group: str, value: str) -> str:
    if value not in vocabulary().codes(group):
        raise ValueError(f"unknown code {value!r} (see vocabulary.yaml: {group})")
    return value


def _known_indicators(value: list[str]) -> list[str]:
    for index, code in enumerate(value):
        if code not in vocabulary().codes("risk_indicators"):
            raise ValueError(f"item {index}: unknown risk indicator {code!r}")
    return list(dict.fromkeys(value))  # a repeated code says nothing more


def _jurisdiction_code(value: str) -> str:
    try:
        return normalize_code(value)
    except InputError as exc:  # pydantic names the field
        raise ValueError(exc.reason) from None


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    name: Text100 | None = None
    phone: Phone | None = None
    age: Annotated[StrictInt, Field(ge=0, le=130)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300),
                       PlainText] | None = None
    # Safe contact (an extension of the contract): do not contact her directly; how to reach
    # her safely; when never to (local "HH:MM-HH:MM", may wrap midnight).
    do_not_contact: StrictBool = False
    safe_channel: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=300), PlainText] | None = None
    quiet_hours: str | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return _in_vocabulary("party_roles", value)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(parse_quiet_hours(value))
        except InputError as exc:  # pydantic names the field (parties.N.quiet_hours)
            raise ValueError(exc.reason) from None


class ReporterIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text100 | None = None
    phone: Phone | None = None


class IntakeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    external_ref: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), PlainText
    ] | None = None
    channel: str
    received_at: AwareTime
    jurisdiction: str
    category: str
    tier: str | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), PlainText]
    parties: list[PartyIn] = Field(default_factory=list)
    risk_indicators: list[str] = Field(default_factory=list)
    mediation_attempts: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    reporter: ReporterIn | None = None
    assigned_by: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200),
                           PlainText] | None = None
    due_at: OptionalAwareTime = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return _in_vocabulary("channels", value)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _in_vocabulary("categories", value)

    @field_validator("tier")
    @classmethod
    def _tier(cls, value: str | None) -> str | None:
        return None if value is None else _in_vocabulary("tiers", value)

    @field_validator("risk_indicators")
    @classmethod
    def _indicators(cls, value: list[str]) -> list[str]:
        return _known_indicators(value)

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdiction(cls, value: str) -> str:
        return _jurisdiction_code(value)


class FoundFamilyIn(BaseModel):
    """A family found without a complaint (`weiquan ledger add`, the 台账 page's form): the
    person's fields are a party's, checked by the same rules as an intake's."""

    model_config = ConfigDict(extra="forbid")

    jurisdiction: Annotated[str, AfterValidator(_jurisdiction_code)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=MIN_REASON_CHARS,
                                             max_length=MAX_REASON_CHARS), PlainText]
    found_by: FoundBy
    category: Annotated[str, AfterValidator(lambda code: _in_vocabulary("categories", code))] = "other"
    risk_indicators: Annotated[list[str], AfterValidator(_known_indicators)] = Field(default_factory=list)
    name: Text100 | None = None
    phone: Phone | None = None
    # Lax: the command line and the form give text; "abc" is still refused, naming the field.
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300),
                       PlainText] | None = None

    def party(self) -> PartyIn:
        return PartyIn(role="victim", name=self.name, phone=self.phone, age=self.age,
                       address=self.address)


def parse_found_family(values: dict[str, Any]) -> FoundFamilyIn:
    """Every problem at once, each naming its field; blank optional fields are absent."""
    given = {k: v for k, v in values.items() if v is not None and v != "" and v != []}
    try:
        return FoundFamilyIn.model_validate(given)
    except ValidationError as exc:
        raise IntakeValidationError(_problems(exc)) from None


def parse_intake(raw: bytes | str, *, limits: IntakeLimits, now: datetime) -> IntakeIn:
    """Validate one intake document. `now` is the clock at the edge (receipt in the future?)."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > limits.max_bytes:
        raise IntakeValidationError(
            [FieldProblem("(document)", f"{size} bytes is larger than the limit of {limits.max_bytes}")]
        )
    try:
        text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise IntakeValidationError([FieldProblem("(document)", f"malformed JSON: {exc}")]) from None
    if _depth_beyond(text, limit=limits.max_depth):
        raise IntakeValidationError([FieldProblem(
            "(document)", f"nested more than {limits.max_depth} levels deep; an intake needs 3")])
    try:
        data: Any = json.loads(text, parse_int=lambda digits: _integer(digits, limits=limits))
    except ValueError as exc:  # JSONDecodeError included
        raise IntakeValidationError([FieldProblem("(document)", f"malformed JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise IntakeValidationError([FieldProblem("(document)", "must be a JSON object")])
    try:
        intake = IntakeIn.model_validate(data)
    except ValidationError as exc:
        raise IntakeValidationError(_problems(exc)) from None
    problems = _business_problems(intake, limits=limits, now=now)
    if problems:
        raise IntakeValidationError(problems)
    return intake


# A string's body (escapes included) or one bracket: brackets inside strings do not nest.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _depth_beyond(text: str, *, limit: int) -> bool:
    """Whether the JSON text nests deeper than `limit`, counted without recursing."""
    depth = 0
    for match in _STRUCTURE.finditer(text):
        first = match[0][0]
        if first in "[{":
            depth += 1
            if depth > limit:
                return True
        elif first in "]}":
            depth -= 1
    return False


@dataclass(frozen=True)
class _LongInteger:
    """A JSON integer too long to be any field's value, kept unconverted so that validation
    names the field it was given for."""

    digits: int


def _integer(digits: str, *, limits: IntakeLimits) -> int | _LongInteger:
    length = len(digits.lstrip("-"))
    return _LongInteger(length) if length > limits.max_integer_digits else int(digits)


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(document)"
        message = error["msg"].removeprefix("Value error, ")
        if isinstance(error.get("input"), _LongInteger):
            message = f"a number of {error['input'].digits} digits is out of range"
        problems.append(FieldProblem(field, message))
    return problems


def _business_problems(intake: IntakeIn, *, limits: IntakeLimits, now: datetime) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if len(intake.summary) > limits.max_summary_chars:
        problems.append(FieldProblem(
            "summary", f"{len(intake.summary)} characters; the limit is {limits.max_summary_chars}"))
    if len(intake.parties) > limits.max_parties:
        problems.append(FieldProblem(
            "parties", f"{len(intake.parties)} parties; the limit is {limits.max_parties}"))
    if intake.received_at > now + limits.clock_skew:
        problems.append(FieldProblem(
            "received_at", f"{intake.received_at.isoformat()} lies in the future (now {now.isoformat()})"))
    if intake.due_at is not None and intake.due_at <= intake.received_at:
        problems.append(FieldProblem("due_at", "must be later than received_at"))
    if intake.due_at is not None and intake.due_at > now + limits.max_due_ahead:
        problems.append(FieldProblem(
            "due_at", f"{intake.due_at.isoformat()} lies more than "
                      f"{limits.max_due_ahead.days // 366} years ahead; check the year"))
    if intake.due_at is not None and intake.channel != "assigned" and not intake.assigned_by:
        problems.append(FieldProblem(
            "due_at", "an assigner's deadline needs assigned_by (who set it) or channel 'assigned'"))
    return problems
