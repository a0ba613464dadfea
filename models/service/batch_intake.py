"""Batch intake (`weiquan intake --batch`): one contract document a line, each stored by the
single intake's rules (models/service/intake.py: validation, tier, deadline, at-once notices,
visit plan, idempotency by external_ref) but written in bulk: a chunk of lines is one
transaction of multi-row inserts, its case numbers allocated together, its registry lookups
asked once. A refused line stores nothing; the other lines are stored.

The import, not each of its cases, is owed one flow run (`case-import`, parameter: the
import's id), written when the last chunk is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.db import repositories as repo
from models.db.bulk import insert_rows
from models.db.orm import AuditEvent, Case, CaseImport, Jurisdiction, Notice, Party, VisitPlan
from models.db.session import unit_of_work
from models.domain.calendar import WorkCalendar
from models.domain.visits import VisitCadence
from models.intake_schema import FieldProblem, IntakeIn, IntakeLimits, IntakeValidationError, parse_intake
from models.service.calendar import current_calendar
from models.service.intake import (
    case_number,
    case_values,
    new_case_rows,
    party_values,
    unknown_jurisdiction,
)
from models.service.routing import DbRegistry

IMPORT_FLOW = "case-import"
CHUNK_SIZE = 500  # lines per transaction: large enough for bulk inserts, small enough to retry


@dataclass(frozen=True)
class StoredLine:
    line: int
    case_id: int
    number: str
    external_ref: str | None
    tier: str
    at_once_notices: int


@dataclass(frozen=True)
class KnownLine:
    """A line whose external_ref is stored already (before, or earlier in the same file)."""

    line: int
    case_id: int
    number: str
    external_ref: str


@dataclass(frozen=True)
class RefusedLine:
    line: int
    problems: tuple[FieldProblem, ...]


@dataclass
class ImportReport:
    import_id: int
    source: str
    stored: list[StoredLine] = field(default_factory=list)
    known: list[KnownLine] = field(default_factory=list)
    refused: list[RefusedLine] = field(default_factory=list)


@dataclass(frozen=True)
class _Setting:
    """What every chunk of one import shares."""

    import_id: int
    calendar: WorkCalendar
    now: datetime
    actor: str
    operator_email: str
    cadences: Mapping[str, VisitCadence]


def import_intakes(
    sessions: sessionmaker[Session], *, source: str, lines: Iterable[tuple[int, bytes]],
    limits: IntakeLimits, now: datetime, actor: str, operator_email: str,
    cadences: Mapping[str, VisitCadence], chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Store every good line of (line number, document) and report each line's fate."""
    with unit_of_work(sessions) as session:
        record = CaseImport(source=source[:200], actor=actor, created_at=now, stored=0, known=0,
                            refused=0)
        session.add(record)
        session.flush()
        setting = _Setting(import_id=record.id, calendar=current_calendar(session), now=now,
                           actor=actor, operator_email=operator_email, cadences=cadences)
    report = ImportReport(import_id=setting.import_id, source=source)
    seen: dict[str, tuple[int, str]] = {}  # external_ref → (case id, number) stored by this import
    chunk: list[tuple[int, IntakeIn]] = []
    for number, raw in lines:
        try:
            chunk.append((number, parse_intake(raw, limits=limits, now=now)))
        except IntakeValidationError as exc:
            report.refused.append(RefusedLine(line=number, problems=tuple(exc.problems)))
        if len(chunk) >= chunk_size:
            _store_chunk(sessions, chunk, setting=setting, seen=seen, report=report)
            chunk = []
    if chunk:
        _store_chunk(sessions, chunk, setting=setting, seen=seen, report=report)
    report.known.sort(key=lambda known: known.line)
    report.refused.sort(key=lambda refused: refused.line)
    with unit_of_work(sessions) as session:
        if not report.stored:
            # Nothing was stored: the import leaves no trace, as a refused single intake does.
            session.execute(delete(CaseImport).where(CaseImport.id == setting.import_id))
            return report
        session.execute(update(CaseImport).where(CaseImport.id == setting.import_id).values(
            stored=len(report.stored), known=len(report.known), refused=len(report.refused),
            finished_at=now))
        if report.stored:
            repo.add_flow_trigger(session, key=f"{IMPORT_FLOW}:{setting.import_id}",
                                  flow=IMPORT_FLOW, case_id=None, import_id=setting.import_id,
                                  at=now)
    return report


def _store_chunk(sessions: sessionmaker[Session], chunk: Sequence[tuple[int, IntakeIn]], *,
                 setting: _Setting, seen: dict[str, tuple[int, str]],
                 report: ImportReport) -> None:
    try:
        with unit_of_work(sessions) as session:
            stored, known, refused = _chunk(session, chunk, setting=setting, seen=seen)
    except IntegrityError:
        # Another process stored one of these external_refs between our check and our
        # insert (the single intake's race too): the chunk rolled back whole; look again.
        with unit_of_work(sessions) as session:
            stored, known, refused = _chunk(session, chunk, setting=setting, seen=seen)
    seen.update({s.external_ref: (s.case_id, s.number) for s in stored if s.external_ref})
    report.stored.extend(stored)
    report.known.extend(known)
    report.refused.extend(refused)


def _chunk(session: Session, chunk: Sequence[tuple[int, IntakeIn]], *, setting: _Setting,
           seen: Mapping[str, tuple[int, str]],
           ) -> tuple[list[StoredLine], list[KnownLine], list[RefusedLine]]:
    refs = {intake.external_ref for _, intake in chunk if intake.external_ref} - seen.keys()
    stored_before = {ref: (case_id, number) for ref, case_id, number in session.execute(
        select(Case.external_ref, Case.id, Case.number).where(Case.external_ref.in_(refs)))
    } if refs else {}
    registered = set(session.scalars(select(Jurisdiction.code).where(
        Jurisdiction.code.in_({intake.jurisdiction for _, intake in chunk}))))
    known: list[KnownLine] = []
    refused: list[RefusedLine] = []
    new: list[tuple[int, IntakeIn, dict[str, Any]]] = []
    first_here: dict[str, int] = {}  # external_ref → its index in `new`
    repeated: list[tuple[int, str]] = []
    for line, intake in chunk:
        ref = intake.external_ref
        if ref is not None and (hit := seen.get(ref) or stored_before.get(ref)):
            known.append(KnownLine(line=line, case_id=hit[0], number=hit[1], external_ref=ref))
        elif ref is not None and ref in first_here:
            repeated.append((line, ref))
        elif intake.jurisdiction not in registered:
            problems = unknown_jurisdiction(intake.jurisdiction).problems
            refused.append(RefusedLine(line=line, problems=tuple(problems)))
        else:
            if ref is not None:
                first_here[ref] = len(new)
            values = case_values(intake, calendar=setting.calendar, now=setting.now)
            new.append((line, intake, {**values, "import_id": setting.import_id}))
    if not new:
        return [], known, refused
    ids = repo.allocate_case_ids(session, count=len(new))
    numbers = [case_number(case_id=case_id, received_at=intake.received_at)
               for case_id, (_, intake, _) in zip(ids, new, strict=True)]
    insert_rows(session, Case.__table__, [
        {**values, "id": case_id, "number": number}
        for case_id, number, (_, _, values) in zip(ids, numbers, new, strict=True)])
    stored = _dependants(session, new, ids=ids, numbers=numbers, setting=setting)
    for line, ref in repeated:
        twin = stored[first_here[ref]]
        known.append(KnownLine(line=line, case_id=twin.case_id, number=twin.number,
                               external_ref=ref))
    return stored, known, refused


def _dependants(session: Session, new: Sequence[tuple[int, IntakeIn, dict[str, Any]]], *,
                ids: Sequence[int], numbers: Sequence[str], setting: _Setting) -> list[StoredLine]:
    """Parties, audit events, at-once notices and visit plans of the chunk's new cases, in
    the order the single intake writes them."""
    registry = DbRegistry(session)  # one lookup per (level, role) for the whole chunk
    parties: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    plans: list[dict[str, Any]] = []
    stored: list[StoredLine] = []
    for (line, intake, values), case_id, number in zip(new, ids, numbers, strict=True):
        parties.extend({**party, "case_id": case_id} for party in party_values(intake))
        rows = new_case_rows(case_id=case_id, intake=intake, values=values, registry=registry,
                             now=setting.now, actor=setting.actor,
                             operator_email=setting.operator_email, cadences=setting.cadences)
        audits.extend(rows.audits)
        notices.extend(rows.notices)
        if rows.plan is not None:
            plans.append(rows.plan)
        stored.append(StoredLine(line=line, case_id=case_id, number=number,
                                 external_ref=intake.external_ref, tier=values["tier"],
                                 at_once_notices=len(rows.notices)))
    for model, rows in ((Party, parties), (AuditEvent, audits), (Notice, notices),
                        (VisitPlan, plans)):
        insert_rows(session, model.__table__, rows)
    return stored


@dataclass(frozen=True)
class ImportBrief:
    """What an operator may see of an import (its Prefect run and artifact): no personal data."""

    import_id: int
    source: str
    stored: int
    known: int
    refused: int
    numbers: tuple[str, ...]
    tiers: dict[str, int]
    risk_levels: dict[str, int]
    provisional: int
    earliest_due_at: datetime | None

    @property
    def run_name(self) -> str:
        return f"import {self.source} ({self.stored})"


def import_brief(session: Session, *, import_id: int) -> ImportBrief | None:
    record = session.get(CaseImport, import_id)
    if record is None:
        return None
    rows = session.execute(
        select(Case.number, Case.tier, Case.risk_level, Case.deadline_provisional,
               Case.response_due_at).where(Case.import_id == import_id).order_by(Case.id)).all()
    return ImportBrief(
        import_id=record.id, source=record.source, stored=record.stored, known=record.known,
        refused=record.refused, numbers=tuple(row.number for row in rows),
        tiers=dict(Counter(row.tier for row in rows)),
        risk_levels=dict(Counter(row.risk_level for row in rows)),
        provisional=sum(1 for row in rows if row.deadline_provisional),
        earliest_due_at=min((row.response_due_at for row in rows), default=None))
