"""Named leases in the database: which process leads the scheduler.

One row per lease. Taking and renewing are one compare-and-set UPDATE — it succeeds only for
the holder itself or once the lease has expired — so two processes can never both believe
they hold it, and nothing depends on a session staying open (advisory locks break behind a
pooler such as PgBouncer in transaction mode). Times come from the caller's clock: processes
on several machines need synchronised clocks (NTP), and the expiry leaves a margin for it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db.orm import Lease

SCHEDULER_LEASE = "scheduler"
# Each service process also holds a lease of its own, renewed with its try at the scheduler's:
# its heartbeat, so that `weiquan status` lists the standbys too.
PROCESS_LEASE_PREFIX = "process:"
# A process whose heartbeat stopped this long ago is forgotten (by the leader).
FORGET_AFTER = timedelta(hours=1)


def process_holder() -> str:
    """This process's name in a lease: host, pid and a nonce (a restarted pid is another)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def hold_lease(session: Session, *, name: str, holder: str, now: datetime,
               ttl: timedelta) -> bool:
    """Take or renew the lease until now + ttl; False when another holder's is still live."""
    renewed = session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder)
        .values(heartbeat_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)).rowcount
    if renewed:
        return True
    taken = session.execute(
        update(Lease).where(Lease.name == name, Lease.expires_at < now)
        .values(holder=holder, acquired_at=now, heartbeat_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)).rowcount
    if taken:
        return True
    if session.get(Lease, name) is not None:
        return False
    try:  # the first process ever: the row is made by whoever inserts it first
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, acquired_at=now, heartbeat_at=now,
                              expires_at=now + ttl))
    except IntegrityError:
        return False
    return True


def release_lease(session: Session, *, name: str, holder: str, now: datetime) -> None:
    """Let the lease go at once (a clean stop): a standby takes it at its next try."""
    session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder)
                    .values(expires_at=now).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class LeaseView:
    name: str
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    now: datetime

    @property
    def live(self) -> bool:
        return self.expires_at >= self.now

    @property
    def age(self) -> timedelta:
        return self.now - self.acquired_at

    @property
    def expires_in(self) -> timedelta:
        return self.expires_at - self.now


def lease_view(session: Session, *, name: str, now: datetime) -> LeaseView | None:
    row = session.scalar(select(Lease).where(Lease.name == name))
    if row is None:
        return None
    return LeaseView(name=row.name, holder=row.holder, acquired_at=row.acquired_at,
                     heartbeat_at=row.heartbeat_at, expires_at=row.expires_at, now=now)


def process_lease_name(holder: str) -> str:
    """The name of a process's own lease: the holder (host:pid:nonce) is longer than a
    lease's name may be, so a digest of it (the row's holder column names the process)."""
    return PROCESS_LEASE_PREFIX + hashlib.sha256(holder.encode()).hexdigest()[:24]


def beat(session: Session, *, holder: str, now: datetime, ttl: timedelta) -> None:
    """Renew this process's own lease (its heartbeat); nobody else ever holds it."""
    hold_lease(session, name=process_lease_name(holder), holder=holder, now=now, ttl=ttl)


def forget_silent_processes(session: Session, *, now: datetime) -> int:
    """Drop the heartbeats of processes silent for FORGET_AFTER (stopped or killed)."""
    return session.execute(
        delete(Lease).where(Lease.name.startswith(PROCESS_LEASE_PREFIX),
                            Lease.expires_at < now - FORGET_AFTER)
        .execution_options(synchronize_session=False)).rowcount or 0


def process_views(session: Session, *, now: datetime) -> list[LeaseView]:
    """Every service process heard from within FORGET_AFTER, longest running first."""
    rows = session.scalars(select(Lease).where(Lease.name.startswith(PROCESS_LEASE_PREFIX))
                           .order_by(Lease.acquired_at, Lease.holder)).all()
    return [LeaseView(name=row.name, holder=row.holder, acquired_at=row.acquired_at,
                      heartbeat_at=row.heartbeat_at, expires_at=row.expires_at, now=now)
            for row in rows]
