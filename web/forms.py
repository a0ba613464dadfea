"""The online complaint window (网上投诉窗口) as an HTML form: its fields become the intake
contract's JSON document, which goes through the same validation as the CLI and the hotline
(`models.intake_schema.parse_intake`). Field problems come back keyed by form field.

Times in the form are Beijing time (the browser's `datetime-local` carries no offset).
Pure: no request objects, no database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from models.domain.calendar import SHANGHAI
from models.domain.errors import FieldProblem

PARTY_ROWS = 3
PARTY_FIELDS = ("role", "name", "phone", "age", "address")
_LOCAL_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def local_input_value(value: datetime) -> str:
    """A time as a `datetime-local` input shows it (Beijing time, to the minute)."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def with_beijing_offset(value: str) -> str:
    """'2026-11-24T10:00' → '2026-11-24T10:00:00+08:00'; anything else is passed on as typed,
    and validation names the field."""
    value = value.strip()
    if _LOCAL_MINUTES.match(value):
        return (value if value.count(":") == 2 else value + ":00") + "+08:00"
    return value


_SMALL_NUMBER = re.compile(r"^[0-9]{1,9}$")


def _number(value: str) -> int | str:
    """A typed whole number as a number; anything else (Unicode digits such as '²', which
    int() refuses, or thousands of digits, which it refuses too) passes on as text, and
    validation names the field."""
    value = value.strip()
    return int(value) if _SMALL_NUMBER.match(value) else value


def intake_document(form: Mapping[str, str], *, risk_indicators: Sequence[str],
                    party_rows: int = PARTY_ROWS) -> dict[str, Any]:
    """The contract document for what was typed; empty fields are left out."""
    def text(name: str) -> str:
        return (form.get(name) or "").strip()

    document: dict[str, Any] = {
        "channel": text("channel"),
        "received_at": with_beijing_offset(text("received_at")),
        "jurisdiction": text("jurisdiction"),
        "category": text("category"),
        "summary": text("summary"),
        "risk_indicators": list(risk_indicators),
        "parties": [],
    }
    for optional in ("external_ref", "tier", "assigned_by"):
        if text(optional):
            document[optional] = text(optional)
    if text("due_at"):
        document["due_at"] = with_beijing_offset(text("due_at"))
    if text("mediation_attempts"):
        document["mediation_attempts"] = _number(text("mediation_attempts"))
    for index in range(party_rows):
        values = {f: text(f"party-{index}-{f}") for f in PARTY_FIELDS}
        if not any(values[f] for f in ("name", "phone", "age", "address")):
            continue  # an empty row (its role alone says nothing) is not a party
        party: dict[str, Any] = {"role": values["role"]}
        for f in ("name", "phone", "address"):
            if values[f]:
                party[f] = values[f]
        if values["age"]:
            party["age"] = _number(values["age"])
        document["parties"].append(party)
    if text("reporter_name") or text("reporter_phone"):
        document["reporter"] = {k: text(f"reporter_{k}") for k in ("name", "phone")
                                if text(f"reporter_{k}")}
    return document


def party_row_of(document: Mapping[str, Any], *, form: Mapping[str, str],
                 party_rows: int = PARTY_ROWS) -> list[int]:
    """Which form row each stored party came from (empty rows were skipped)."""
    rows = []
    for index in range(party_rows):
        if any((form.get(f"party-{index}-{f}") or "").strip()
               for f in ("name", "phone", "age", "address")):
            rows.append(index)
    return rows


def form_errors(problems: Sequence[FieldProblem], *, party_rows: list[int]) -> dict[str, str]:
    """{form field name: reason}. `parties.1.age` is the age of the second filled-in row."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(_form_field(problem.field, party_rows=party_rows), []).append(problem.reason)
    return {name: "；".join(reasons) for name, reasons in errors.items()}


def _form_field(field: str, *, party_rows: list[int]) -> str:
    parts = field.split(".")
    if parts[0] == "parties" and len(parts) >= 3 and parts[1].isdigit():
        position = int(parts[1])
        row = party_rows[position] if position < len(party_rows) else position
        return f"party-{row}-{parts[2]}"
    if parts[0] == "reporter" and len(parts) >= 2:
        return f"reporter_{parts[1]}"
    if parts[0] == "(document)":
        return "_form"
    return parts[0]
