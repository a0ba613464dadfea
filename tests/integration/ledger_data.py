"""A known data set for the ledger and statistics tests: cases taken in and acted on through
the services, as of the times given (the clock moves there)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msoffcrypto
import openpyxl

from models.runtime.bootstrap import Runtime
from models.db import repositories as repo
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.intake_schema import parse_intake
from models.service.calendar import current_calendar
from models.service.intake import take_in


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def store(ctx: Runtime, *, jurisdiction: str, received: str, category: str = "land_rights",
          channel: str = "visit", tier: str | None = "ordinary", risk: list[str] | None = None,
          parties: list[dict[str, Any]] | None = None, summary: str = "测试个案",
          **extra: Any) -> str:
    """Take a case in as of its receipt (the clock moves there and stays); its number."""
    document: dict[str, Any] = {
        "channel": channel, "received_at": at(received).isoformat(), "jurisdiction": jurisdiction,
        "category": category, "summary": summary, "risk_indicators": risk or [],
        "parties": parties or [{"role": "victim", "name": "测试人", "age": 40}], **extra}
    if tier:
        document["tier"] = tier
    ctx.clock.at = at(received) + timedelta(minutes=1)
    intake = parse_intake(json.dumps(document, ensure_ascii=False), limits=ctx.intake_limits,
                          now=ctx.clock.now())
    with unit_of_work(ctx.sessions) as session:
        case, _ = take_in(session, intake=intake, calendar=current_calendar(session),
                          now=ctx.clock.now(), actor="test")
        return case.number


def act(ctx: Runtime, number: str, when: str, fn, /, **fields: Any) -> Any:
    """Call a service on the case as of `when` (the clock moves there)."""
    ctx.clock.at = at(when)
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, number)
        return fn(session, case=case, **fields)


def read_xlsx(path: Path, *, password: str | None = None) -> openpyxl.Workbook:
    data = path.read_bytes()
    if password is not None:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        office.load_key(password=password)
        plain = io.BytesIO()
        office.decrypt(plain)
        data = plain.getvalue()
    return openpyxl.load_workbook(io.BytesIO(data))


def rows_of(book: openpyxl.Workbook, sheet: str) -> list[tuple]:
    return [tuple("" if v is None else v for v in row)
            for row in book[sheet].iter_rows(values_only=True)]
