"""Users of the board: adding them and checking their passwords.

Passwords are stored as Argon2id hashes with the OWASP Password Storage Cheat Sheet's
parameters (19 MiB, 2 passes, 1 lane: tens of milliseconds on a small server, where
argon2-cffi's default 64 MiB × 4 lanes took over a second on a busy 2-core machine); a hash
made with other parameters is replaced at the next successful sign-in.
Failed checks take the same time whether or not the user exists, and failed sign-ins are
throttled per user name and per client address (`sign_in`).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Contact, SigninFailure, SigninLock, User
from models.domain.access import Principal, parse_role
from models.domain.errors import InputError
from models.domain.jurisdiction import normalize_code

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # hashing cost grows with length; nobody types more
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


@lru_cache(maxsize=1)
def password_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that answer takes as long as a
    # wrong password does (no probing for usernames by timing).
    return password_hasher().hash("not-a-password-of-anyone")


def hash_password(password: str) -> str:
    _check_password(password)
    return password_hasher().hash(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(field="password", reason=f"needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(field="password", reason=f"longer than {MAX_PASSWORD_CHARS} characters")


def add_user(session: Session, *, username: str, password: str, role: str, jurisdiction_code: str,
             now: datetime, actor: str, display_name: str = "", email: str = "",
             contact_id: int | None = None) -> User:
    username = username.strip().lower()
    if not username or not set(username) <= USERNAME_CHARS or len(username) > 64:
        raise InputError(field="username", reason=(
            "1–64 characters: lower-case letters, digits, '.', '_' or '-'"))
    role = parse_role(role).value
    code = normalize_code(jurisdiction_code, field="jurisdiction")
    if repo.get_jurisdiction(session, code) is None:
        raise InputError(field="jurisdiction", reason=f"{code} is not in the jurisdiction registry")
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise InputError(field="email", reason=f"{email!r} is not an email address")
    if contact_id is not None and session.get(Contact, contact_id) is None:
        raise InputError(field="contact", reason=f"no registry contact with id {contact_id}")
    if user_by_username(session, username) is not None:
        raise InputError(field="username", reason=f"{username!r} already exists")
    user = User(username=username, display_name=display_name.strip() or username,
                password_hash=hash_password(password), role=role, jurisdiction_code=code,
                contact_id=contact_id, email=email.strip(), active=True, created_at=now)
    session.add(user)
    session.flush()
    repo.add_audit(session, case_id=None, at=now, actor=actor, kind="user_added",
                   detail={"username": username, "role": role, "jurisdiction": code})
    log.info("user %s added (%s, %s)", username, role, code)
    return user


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The active user with this password, or None. Upgrades an outdated hash in place."""
    user = user_by_username(session, username) if username else None
    hasher = password_hasher()
    if user is None or not user.active or len(password) > MAX_PASSWORD_CHARS:
        _spend_a_verification(password)
        return None
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        session.flush()
    return user


def _spend_a_verification(password: str) -> None:
    """As long as checking a real password takes, for an answer that needs none."""
    try:
        password_hasher().verify(_dummy_hash(), password[:MAX_PASSWORD_CHARS])
    except VerificationError:
        pass


# --- signing in, throttled -------------------------------------------------------------------
# 5 failures within 15 minutes, under one user name or from one address, refuse that name or
# address for 15 minutes: enough for a person to mistype, far too few to guess a password.
# Counted in the database, so a restart forgets nothing and several web workers agree.

SIGNIN_MAX_FAILURES = 5
SIGNIN_WINDOW = timedelta(minutes=15)
SIGNIN_LOCK = timedelta(minutes=15)
KEY_CHARS = 64


def sign_in(session: Session, *, username: str, password: str, address: str,
            now: datetime) -> User | None:
    """The user, signed in (audited), or None — and the caller says the same thing for an
    unknown name, a wrong password and a lock, after a comparable time, so an answer tells
    nobody which one it was. The audit names a user only when one exists by that name: what
    is typed into the name field may be a password."""
    keys = {"user": username.strip().lower()[:KEY_CHARS], "address": address[:KEY_CHARS]}
    known = user_by_username(session, username) if username else None
    actor = f"web:{known.username}" if known is not None else "web:(unknown user)"
    locked_until = _locked_until(session, keys=keys, now=now)
    if locked_until is not None:
        _spend_a_verification(password)
        # Not audited per attempt: a locked-out script would otherwise write a row per
        # request, the very flood the lock stops. The lock itself was audited when it began.
        log.warning("sign-in refused while locked (until %s) from %s", locked_until.isoformat(),
                    address)
        return None
    user = authenticate(session, username=username, password=password)
    if user is None:
        repo.add_audit(session, case_id=None, at=now, actor=actor, kind="signin_failed",
                       detail={"address": address})
        for scope, key in keys.items():
            _record_failure(session, scope=scope, key=key, now=now, actor=actor, address=address)
        return None
    session.execute(delete(SigninFailure).where(SigninFailure.scope == "user",
                                                SigninFailure.key == keys["user"]))
    repo.add_audit(session, case_id=None, at=now, actor=f"web:{user.username}", kind="signed_in",
                   detail={"address": address})
    return user


def _locked_until(session: Session, *, keys: dict[str, str], now: datetime) -> datetime | None:
    return session.scalar(select(func.max(SigninLock.until)).where(
        or_(*(and_(SigninLock.scope == scope, SigninLock.key == key)
              for scope, key in keys.items())),
        SigninLock.until > now))


def _record_failure(session: Session, *, scope: str, key: str, now: datetime, actor: str,
                    address: str) -> None:
    window = (SigninFailure.scope == scope, SigninFailure.key == key)
    session.execute(delete(SigninFailure).where(*window, SigninFailure.at <= now - SIGNIN_WINDOW))
    session.add(SigninFailure(scope=scope, key=key, at=now))
    session.flush()
    failures = session.scalar(select(func.count()).select_from(SigninFailure).where(
        *window, SigninFailure.at > now - SIGNIN_WINDOW))
    if failures >= SIGNIN_MAX_FAILURES:
        # The failures that set the lock all lie before it ends, so once it ends they have
        # left the window too: the count starts afresh.
        until = now + SIGNIN_LOCK
        session.add(SigninLock(scope=scope, key=key, until=until))
        repo.add_audit(session, case_id=None, at=now, actor=actor, kind="signin_locked",
                       detail={"scope": scope, "address": address, "until": until.isoformat(),
                               "failures": failures})
        log.warning("sign-in locked for a %s until %s after %s failures (from %s)", scope,
                    until.isoformat(), failures, address)


def principal_of(user: User) -> Principal:
    return Principal.of(username=user.username, role=user.role,
                        jurisdiction_code=user.jurisdiction_code)


def _contact_with_email(session: Session, email: str) -> int | None:
    """The registry contact a demo user is (the same address): her digest's items are hers."""
    if not email:
        return None
    return session.scalar(select(Contact.id).where(Contact.email == email).order_by(Contact.id)
                          .limit(1))


@dataclass(frozen=True)
class DemoUsersResult:
    added: int
    kept: int


def load_demo_users(session: Session, *, path: Path, now: datetime, actor: str) -> DemoUsersResult:
    """The demo's users (one per role; CSV: username,display_name,role,jurisdiction_code,email,
    password). Users that exist are kept as they are — their passwords may have changed."""
    added = kept = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if user_by_username(session, row["username"]) is not None:
                kept += 1
                continue
            try:
                add_user(session, username=row["username"], password=row["password"],
                         role=row["role"], jurisdiction_code=row["jurisdiction_code"],
                         display_name=row.get("display_name") or "", email=row.get("email") or "",
                         contact_id=_contact_with_email(session, row.get("email") or ""),
                         now=now, actor=actor)
            except InputError as exc:
                raise InputError(field=f"{path.name} line {line}: {exc.field}",
                                reason=exc.reason) from None
            added += 1
    return DemoUsersResult(added=added, kept=kept)
