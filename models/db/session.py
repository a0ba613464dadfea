"""Engine and unit of work. Repositories flush; whoever opened the unit of work commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


SQLITE_CACHE_KIB = 64 * 1024


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


# The execution option a `read_only` unit of work sets on its connection.
READ_ONLY = "weiquan_read_only"


def _sqlite_begin(conn) -> None:
    # pysqlite defers BEGIN until the first write, so two processes that read-then-write
    # (claiming due rows) can deadlock on the lock upgrade, which busy_timeout cannot
    # resolve. BEGIN IMMEDIATE takes the write lock up front; the other process waits.
    # A unit of work that only reads needs no lock: in WAL mode it reads a snapshot while
    # the writer works, so pages do not queue behind each other and behind the intakes.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Hand transaction control to SQLAlchemy (see make_engine), and make concurrent processes
    # wait for each other instead of failing with "database is locked".
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A 64 MiB page cache per connection (the default is 2 MiB). A sweep's batch dirties a
    # page of the cases table and of its next-check index per case, and notices' index pages
    # per notice, at random places in tables of a million rows: with 2 MiB those pages spill
    # to the WAL file in the middle of the transaction and are read back, which made the
    # writes of planning cost twice their CPU in wall time. Only memory: the cache holds
    # pages as read or written, filled on demand (a small database stays small), and what a
    # transaction sees, when it commits and what it makes durable are the same at any size.
    cursor.execute(f"PRAGMA cache_size={-SQLITE_CACHE_KIB}")
    cursor.close()


def single_statement_connection(engine: Engine) -> Connection:
    """A connection for writes of one statement each, run in `with connection.begin():`.
    On PostgreSQL it is in AUTOCOMMIT: the statement is its own transaction, one round trip
    instead of three (BEGIN, statement, COMMIT) — what recording each mail's outcome on the
    sending path costs. On SQLite `begin()` takes the write lock as everywhere (a round trip
    costs nothing there, and SQLAlchemy's AUTOCOMMIT would hand the connection back to the
    pool in pysqlite's own transaction mode)."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class ReadOnlyViolation(RuntimeError):
    """Something tried to store a change inside a `read_only` unit of work."""


def _refuse_flush(session: Session, _flush_context, _instances) -> None:
    raise ReadOnlyViolation("a read_only unit of work may not change rows: use unit_of_work")


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction that only reads (a page): on SQLite it takes no write lock (see
    `_sqlite_begin`); it is rolled back at the end, and a change made in it is refused."""
    session = factory()
    try:
        session.connection(execution_options={READ_ONLY: True})
        event.listen(session, "before_flush", _refuse_flush)
        yield session
    finally:
        session.rollback()
        session.close()
