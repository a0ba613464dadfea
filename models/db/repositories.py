"""Repositories: take a session, read and write rows, flush. They never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db.orm import AuditEvent, CalendarYear, Case, Contact, FlowTrigger, Jurisdiction
from models.domain.calendar import YearSchedule
from models.domain.jurisdiction import ancestry
from models.domain.registry import ContactRow, JurisdictionRow


def jurisdiction_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Jurisdiction.code)))


def get_jurisdiction(session: Session, code: str) -> Jurisdiction | None:
    return session.get(Jurisdiction, code)


def upsert_jurisdictions(session: Session, rows: Sequence[JurisdictionRow]) -> tuple[int, int]:
    """(added, updated). Parents first, so the foreign key holds at every flush."""
    added = updated = 0
    for row in sorted(rows, key=lambda r: len(r.code)):
        existing = session.get(Jurisdiction, row.code)
        if existing is None:
            session.add(Jurisdiction(code=row.code, name=row.name, level=row.level,
                                     parent_code=row.parent_code))
            added += 1
        elif (existing.name, existing.level) != (row.name, row.level):
            existing.name, existing.level = row.name, row.level
            updated += 1
        session.flush()
    return added, updated


def upsert_contacts(session: Session, rows: Sequence[ContactRow]) -> tuple[int, int]:
    """(added, updated), keyed by jurisdiction, role and name: a re-load is not a duplicate."""
    added = updated = 0
    for row in rows:
        existing = session.scalar(
            select(Contact).where(
                Contact.jurisdiction_code == row.jurisdiction_code,
                Contact.role == row.role,
                Contact.name == row.name,
            )
        )
        if existing is None:
            session.add(Contact(jurisdiction_code=row.jurisdiction_code, role=row.role,
                                name=row.name, post=row.post, phone=row.phone, email=row.email))
            added += 1
        elif (existing.post, existing.phone, existing.email) != (row.post, row.phone, row.email):
            existing.post, existing.phone, existing.email = row.post, row.phone, row.email
            updated += 1
    session.flush()
    return added, updated


def contacts_for_role(session: Session, *, jurisdiction_code: str, role: str) -> list[Contact]:
    """The contacts with `role` at the nearest level, walking up from the case's own node
    (domain.md §5: when a level has no such contact, the nearest level above serves)."""
    for code in ancestry(jurisdiction_code):
        found = list(
            session.scalars(
                select(Contact)
                .where(Contact.jurisdiction_code == code, Contact.role == role)
                .order_by(Contact.id)
            )
        )
        if found:
            return found
    return []


MAX_ROW_ID_DIGITS = 18  # below 2**63: a longer key is no row id (and would overflow the driver)


def row_id(key: str) -> int | None:
    """The row id a key such as '42' names, or None when it names none (str.isdigit alone
    would take '²' or 30 digits, which int() or the database driver refuse)."""
    if key.isascii() and key.isdigit() and len(key) <= MAX_ROW_ID_DIGITS:
        return int(key)
    return None


def contact_by_key(session: Session, key: str) -> Contact | None:
    """A registry contact by id or email."""
    if (contact_id := row_id(key)) is not None:
        return session.get(Contact, contact_id)
    return session.scalar(select(Contact).where(Contact.email == key).order_by(Contact.id).limit(1))


def case_by_external_ref(session: Session, external_ref: str) -> Case | None:
    return session.scalar(select(Case).where(Case.external_ref == external_ref))


def allocate_case_ids(session: Session, *, count: int) -> list[int]:
    """`count` new case ids for a bulk insert (a case's number is made from its id).
    PostgreSQL takes them from the id sequence, as single inserts do; SQLite has held the
    write lock since the transaction began (BEGIN IMMEDIATE, models/db/session.py), so the
    ids after the largest stored one are ours."""
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(
            select(func.nextval(func.pg_get_serial_sequence("cases", "id")))
            .select_from(func.generate_series(1, count))))
    last = session.scalar(select(func.max(Case.id))) or 0
    return list(range(last + 1, last + 1 + count))


def case_by_key(session: Session, key: str) -> Case | None:
    """A case by its number (WQ-2026-000001) or its numeric id."""
    if (case_id := row_id(key)) is not None:
        return session.get(Case, case_id)
    return session.scalar(select(Case).where(Case.number == key))


# The actor of audit events the software records by itself (a sweep, a digest).
SYSTEM_ACTOR = "system"


def add_audit(
    session: Session,
    *,
    case_id: int | None,
    at: datetime,
    actor: str,
    kind: str,
    note: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(case_id=case_id, at=at, actor=actor, kind=kind, note=note,
                       detail=detail or {})
    session.add(event)
    return event


def audit_events(session: Session, *, case_id: int) -> list[AuditEvent]:
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.at, AuditEvent.id)
    ))


def loaded_schedules(session: Session) -> list[YearSchedule]:
    # Columns, not entities: every intake asks, and an ORM load costs more than the rows.
    return [
        YearSchedule(
            year=row.year,
            holidays=frozenset(date.fromisoformat(d) for d in row.holidays),
            makeup_workdays=frozenset(date.fromisoformat(d) for d in row.makeup_workdays),
            source=row.source,
        )
        for row in session.execute(
            select(CalendarYear.year, CalendarYear.holidays, CalendarYear.makeup_workdays,
                   CalendarYear.source).order_by(CalendarYear.year))
    ]


def save_schedule(session: Session, *, schedule: YearSchedule, at: datetime) -> None:
    row = session.get(CalendarYear, schedule.year) or CalendarYear(year=schedule.year)
    row.source = schedule.source
    row.holidays = sorted(d.isoformat() for d in schedule.holidays)
    row.makeup_workdays = sorted(d.isoformat() for d in schedule.makeup_workdays)
    row.loaded_at = at
    session.add(row)
    session.flush()


def open_provisional_cases(session: Session) -> list[Case]:
    return list(session.scalars(
        select(Case)
        .where(Case.deadline_provisional.is_(True), Case.responded_at.is_(None),
               Case.status != "closed")
        .order_by(Case.id)
    ))


def add_flow_trigger(
    session: Session, *, key: str, flow: str, case_id: int | None, at: datetime,
    import_id: int | None = None,
) -> FlowTrigger:
    trigger = FlowTrigger(key=key, flow=flow, case_id=case_id, import_id=import_id,
                          status="pending", not_before=at, created_at=at)
    session.add(trigger)
    return trigger


