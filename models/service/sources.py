"""Other systems that file cases through `POST /api/intake` (the 12338 platform, a petition
system): each a source with a name, the subtree it may file in and a bearer token.

The token is 32 random bytes, shown once when the source is added; the database keeps only
its SHA-256. A fast hash is enough here, unlike for passwords: 256 random bits cannot be
guessed or looked up in a dictionary, so there is nothing for a slow hash to slow down, and
a fast one lets every request find its source by an indexed equality lookup.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import ApiRateWindow, Case, IntakeSource, Notice
from models.domain.errors import InputError, NotFoundError
from models.domain.jurisdiction import is_within, normalize_code
from models.service.users import USERNAME_CHARS
from models.service.views import local_iso

log = logging.getLogger(__name__)

TOKEN_PREFIX = "wqs_"  # tells a leaked token apart from other secrets in logs and scanners
RATE_WINDOW = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_of(source: IntakeSource) -> str:
    """How the audit trail names a source's acts."""
    return f"source:{source.name}"


def add_source(session: Session, *, name: str, jurisdiction_code: str, now: datetime,
               actor: str) -> tuple[IntakeSource, str]:
    """A new source and its token (the only time the token exists outside the caller)."""
    name = name.strip().lower()
    if not name or not set(name) <= USERNAME_CHARS or len(name) > 64:
        raise InputError(field="NAME", reason=(
            "1–64 characters: lower-case letters, digits, '.', '_' or '-'"))
    code = normalize_code(jurisdiction_code, field="--jurisdiction")
    if repo.get_jurisdiction(session, code) is None:
        raise InputError(field="--jurisdiction", reason=f"{code} is not in the jurisdiction registry")
    if session.scalar(select(IntakeSource).where(IntakeSource.name == name)) is not None:
        raise InputError(field="NAME", reason=f"source {name!r} already exists (revoked ones too)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    source = IntakeSource(name=name, jurisdiction_code=code, token_hash=token_hash(token),
                          created_at=now)
    session.add(source)
    session.flush()
    repo.add_audit(session, case_id=None, at=now, actor=actor, kind="source_added",
                   detail={"source": name, "jurisdiction": code})
    log.info("intake source %s added for %s", name, code)
    return source, token


def list_sources(session: Session) -> list[IntakeSource]:
    return list(session.scalars(select(IntakeSource).order_by(IntakeSource.jurisdiction_code,
                                                              IntakeSource.name)))


def revoke_source(session: Session, *, name: str, now: datetime, actor: str) -> IntakeSource:
    """Its token stops working at once; the source's name stays taken (its cases name it)."""
    source = session.scalar(select(IntakeSource).where(IntakeSource.name == name.strip().lower()))
    if source is None:
        raise NotFoundError(what="source", key=name, field="NAME")
    if source.revoked_at is None:
        source.revoked_at = now
        repo.add_audit(session, case_id=None, at=now, actor=actor, kind="source_revoked",
                       detail={"source": source.name})
        log.info("intake source %s revoked", source.name)
    return source


def source_for_token(session: Session, *, token: str) -> IntakeSource | None:
    """The active source holding this token, or None (unknown or revoked)."""
    if not token:
        return None
    source = session.scalar(select(IntakeSource).where(IntakeSource.token_hash == token_hash(token)))
    return source if source is not None and source.revoked_at is None else None


def may_file_in(source: IntakeSource, *, jurisdiction_code: str) -> bool:
    try:
        return is_within(jurisdiction_code, under=source.jurisdiction_code)
    except InputError:
        return False


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int


def count_request(session: Session, *, source_id: int, now: datetime,
                  per_minute: int) -> RateDecision:
    """Count one request in the source's current minute (a fixed window) and say whether it
    is within the allowance. The count is one atomic upsert, so several web workers (and
    processes) agree; windows before this one are deleted as they are passed."""
    start = now.replace(second=0, microsecond=0)
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ApiRateWindow).values(source_id=source_id, window_start=start, requests=1)
    statement = statement.on_conflict_do_update(
        index_elements=[ApiRateWindow.source_id, ApiRateWindow.window_start],
        set_={"requests": ApiRateWindow.requests + 1}).returning(ApiRateWindow.requests)
    requests = session.execute(statement).scalar_one()
    session.execute(delete(ApiRateWindow).where(ApiRateWindow.source_id == source_id,
                                                ApiRateWindow.window_start < start))
    if requests <= per_minute:
        return RateDecision(allowed=True, retry_after_seconds=0)
    left = start + RATE_WINDOW - now
    return RateDecision(allowed=False, retry_after_seconds=max(1, int(left.total_seconds() + 0.999)))


def intake_receipt(session: Session, case: Case) -> dict[str, object]:
    """What a source is told about the case it filed: its number, deadline and the notices
    queued — roles, places and states only. Nothing personal goes back: no names, phones,
    addresses or mail addresses (the source has them; a leaked response must not)."""
    # str(): a row stored in this transaction still holds the plain string it was given.
    notices = session.scalars(select(Notice).where(Notice.case_id == case.id)
                              .order_by(Notice.id)).all()
    return {
        "number": case.number,
        "status": str(case.status),
        "jurisdiction": case.jurisdiction_code,
        "deadline": {
            "response_due_at": local_iso(case.response_due_at),  # Beijing time, as the CLI
            "provisional": case.deadline_provisional,
            "tier": None if case.tier is None else str(case.tier),
            "tier_reason": case.tier_reason,
        },
        "notices": [{"kind": n.kind, "role": n.recipient_role,
                     "jurisdiction": n.recipient_jurisdiction, "status": str(n.status)}
                    for n in notices],
    }
