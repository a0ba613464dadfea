"""Parsing the contact registry (附表1) and the jurisdiction tree from their CSV files.

Pure: takes text, returns rows or one error that lists every bad row with file, line and
reason, so an operator can fix the whole file in one pass. Loading is all-or-nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from models.domain.errors import InputError, InputProblems
from models.domain.jurisdiction import level_of, normalize_code, parent_of
from models.domain.vocabulary import vocabulary

JURISDICTION_COLUMNS = ("code", "name", "level")
CONTACT_COLUMNS = ("jurisdiction_code", "role", "name", "post", "phone", "email")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_PATTERN = re.compile(r"^[0-9+\-() ]{3,40}$")


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int
    reason: str

    @property
    def field(self) -> str:
        return f"{self.file}:{self.line}"

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class RegistryFileError(InputProblems):
    """Every bad row of a registry file, each naming `file:line` and then the column."""

    separator = "\n"


@dataclass(frozen=True)
class JurisdictionRow:
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True)
class ContactRow:
    jurisdiction_code: str
    role: str
    name: str
    post: str
    phone: str
    email: str


def _rows(text: str, *, file: str, columns: tuple[str, ...], problems: list[RowProblem]):
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in columns if c not in header]
    if missing:
        problems.append(RowProblem(file, 1, f"header lacks column(s): {', '.join(missing)}"))
        return
    for row in reader:
        if None in row:
            problems.append(RowProblem(file, reader.line_num, "more fields than the header"))
            continue
        yield reader.line_num, {k: (row.get(k) or "").strip() for k in columns}


def parse_jurisdictions(
    text: str, *, file: str, known_codes: Iterable[str] = ()
) -> list[JurisdictionRow]:
    """known_codes: codes already in the database, so a file may add only a lower level."""
    problems: list[RowProblem] = []
    parsed: dict[str, tuple[int, JurisdictionRow]] = {}
    levels = vocabulary().codes("levels")
    for line, row in _rows(text, file=file, columns=JURISDICTION_COLUMNS, problems=problems):
        try:
            code = normalize_code(row["code"], field="code")
        except InputError as exc:
            problems.append(RowProblem(file, line, str(exc)))
            continue
        if not row["name"]:
            problems.append(RowProblem(file, line, "name: is empty"))
        if row["level"] not in levels:
            problems.append(RowProblem(file, line, f"level: unknown level {row['level']!r}"))
        elif row["level"] != level_of(code):
            problems.append(
                RowProblem(file, line, f"level: {row['level']} does not match code {code} "
                           f"(a {len(code)}-digit code is a {level_of(code)})")
            )
        if code in parsed:
            problems.append(RowProblem(file, line, f"code: {code} repeats line {parsed[code][0]}"))
            continue
        parsed[code] = (line, JurisdictionRow(code, row["name"], row["level"], parent_of(code)))
    known = set(known_codes) | set(parsed)
    for code, (line, jrow) in parsed.items():
        if jrow.parent_code is not None and jrow.parent_code not in known:
            problems.append(
                RowProblem(file, line, f"code: upper level {jrow.parent_code} of {code} is not "
                           "in this file nor in the registry")
            )
    if problems:
        raise RegistryFileError(sorted(problems, key=lambda p: p.line))
    return [jrow for _, jrow in parsed.values()]


def parse_contacts(text: str, *, file: str, known_codes: Iterable[str]) -> list[ContactRow]:
    problems: list[RowProblem] = []
    known = set(known_codes)
    roles = vocabulary().codes("contact_roles")
    seen: dict[tuple[str, str, str], int] = {}
    contacts: list[ContactRow] = []
    for line, row in _rows(text, file=file, columns=CONTACT_COLUMNS, problems=problems):
        reasons = _contact_problems(row, known=known, roles=roles)
        try:
            code = normalize_code(row["jurisdiction_code"])
        except InputError:  # reported by _contact_problems; the raw code still finds repeats
            code = row["jurisdiction_code"]
        key = (code, row["role"], row["name"])
        if key in seen:
            reasons.append(f"contact {row['name']} ({row['role']}) repeats line {seen[key]}")
        seen.setdefault(key, line)
        if reasons:
            problems.extend(RowProblem(file, line, reason) for reason in reasons)
            continue
        contacts.append(ContactRow(code, row["role"], row["name"], row["post"],
                                   row["phone"], row["email"]))
    if problems:
        raise RegistryFileError(problems)
    return contacts


def _contact_problems(row: dict[str, str], *, known: set[str], roles: frozenset[str]) -> list[str]:
    reasons: list[str] = []
    try:
        code = normalize_code(row["jurisdiction_code"], field="jurisdiction_code")
        if code not in known:
            reasons.append(f"jurisdiction_code: {code} is not in the jurisdiction registry")
    except InputError as exc:
        reasons.append(str(exc))
    if row["role"] not in roles:
        reasons.append(f"role: unknown contact role {row['role']!r}")
    if not row["name"]:
        reasons.append("name: is empty")
    if not row["email"] and not row["phone"]:
        reasons.append("email/phone: a contact needs at least one way to be reached")
    if row["email"] and not EMAIL_PATTERN.match(row["email"]):
        reasons.append(f"email: {row['email']!r} is not an email address")
    if row["phone"] and not PHONE_PATTERN.match(row["phone"]):
        reasons.append(f"phone: {row['phone']!r} is not a phone number")
    return reasons
