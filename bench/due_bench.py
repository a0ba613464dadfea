"""The due sweep at scale: finding and claiming due work, and mail throughput through the outbox.

1. Finding and claiming due work. For each N in --sizes a fresh database (migrated to head)
   gets N open cases whose `next_check_at` is spread over the next year and N queued notices
   whose `next_attempt_at` is spread likewise, so that only ~1,000 of each are due at `as_of`.
   Timed (median of --reps, each in a transaction that is rolled back, so the state is the
   same every repetition), next to the raw indexed query each should cost about as much as:
   `claim_notices` (and its SELECT alone), `plan_batch`'s SELECT, the whole `plan_batch`
   (policy and queueing included), and the two SELECTs again with as_of a year later, when
   every row is due (a backlog after downtime). The query plans are printed once.
2. Mail throughput. An aiosmtpd sink (a separate process that accepts, counts and discards)
   on a free loopback port. M due notices (M cases taken in with take_in, planned with
   plan_batch) are delivered by `run_due` (the outbox: claim, re-check, render, send over
   SmtpSender, record); then the same number of equivalent mails go out through
   SmtpSender.send_batch alone, through a bare aiosmtplib send_message loop over one
   connection, and as pre-flattened bytes over one connection. --rounds rounds (the notices
   are put back in the outbox between rounds); medians, best rounds and the split of
   run_due's time over its steps are printed.

SQLite by default; `--database-url postgresql+psycopg://user:pw@host:5432/postgres` runs it on
PostgreSQL in scratch databases created (and dropped) on that server.

    .venv/bin/python bench/due_bench.py [--quick] [--sizes 100000,1000000] [--mails 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib  # noqa: E402
from sqlalchemy import create_engine, event, func, select, text, update  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlalchemy.sql import Select  # noqa: E402

from models.runtime.clock import FixedClock  # noqa: E402
from models.runtime.bootstrap import build_runtime  # noqa: E402
from models.runtime.settings import Settings  # noqa: E402
from models.db.migrate import upgrade_to_head  # noqa: E402
from models.db.orm import Case, Notice  # noqa: E402
from models.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from models.domain.calendar import SHANGHAI  # noqa: E402
from models.domain.notice_kinds import NoticeKind, template_of  # noqa: E402
from models.domain.reminders import ReminderPolicy, next_check, owed_notices  # noqa: E402
from models.intake_schema import parse_intake  # noqa: E402
from models.service.calendar import current_calendar  # noqa: E402
import models.service.due as due_module  # noqa: E402
import models.service.outbox as outbox_module  # noqa: E402
from models.service.due import run_due  # noqa: E402
from models.service.mail_content import mail_context  # noqa: E402
from models.service.outbox import DELIVER_BATCH, claim_notices  # noqa: E402
from models.service.owed import case_clock  # noqa: E402
from models.service.planning import PLAN_BATCH, plan_batch  # noqa: E402
from models.service.intake import take_in  # noqa: E402
from models.service.registry import load_registry  # noqa: E402
from notifications.message import render_mail, to_email_message  # noqa: E402
from notifications.sender import SmtpConfig, SmtpSender  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
VILLAGE = "990102001001"  # 东湖村: has a federation chair with an email in the demo registry
VILLAGE_CHAIR = "fulian.donghu@example.org"
AS_OF = datetime(2026, 11, 24, 2, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
BACKLOG_AS_OF = AS_OF + timedelta(days=400)  # every row is due
DUE = 1_000  # rows of each table due at AS_OF
CHUNK = 50_000

RAW_CLAIM = ("SELECT id FROM notices WHERE status = 'queued' AND next_attempt_at <= :as_of "
             "ORDER BY next_attempt_at LIMIT 100")
RAW_PLAN = "SELECT id FROM cases WHERE next_check_at <= :as_of ORDER BY next_check_at LIMIT 500"

# Two failed mediations: the upper federation is told at once, and then only the deadline
# speaks — one reminder per case at the measured instant. (A DV case would also owe return
# visits, which would muddle "one notice per case".)
INTAKE = {
    "channel": "hotline_12338",
    "jurisdiction": VILLAGE,
    "category": "marriage_family",
    "tier": "ordinary",
    "summary": "来电反映婚姻家庭纠纷，两次调解未果。",
    "parties": [{"role": "victim", "name": "某某", "phone": "139-0000-0001", "age": 34},
                {"role": "child", "age": 6}],
    "risk_indicators": [],
    "mediation_attempts": 2,
}


def say(message: str) -> None:
    print(message, flush=True)


def naive_utc(at: datetime) -> datetime:
    """How UTCDateTime stores an instant: what raw SQL must bind."""
    return at.astimezone(UTC).replace(tzinfo=None)


# --- scratch databases ------------------------------------------------------------------------

@contextlib.contextmanager
def scratch_database(base_url: str | None, tag: str, tmp: Path) -> Iterator[str]:
    """A URL for an empty database: a SQLite file under `tmp`, or a PostgreSQL database
    created on the server of `base_url` and dropped afterwards."""
    if base_url is None:
        path = tmp / f"{tag}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    url = make_url(base_url)
    name = f"weiquan_bench_{os.getpid()}_{tag}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def load_demo_registry(sessions) -> None:
    with unit_of_work(sessions) as session:
        load_registry(session, jurisdictions=DEMO / "jurisdictions.csv",
                      contacts=DEMO / "contacts.csv", now=AS_OF - timedelta(days=400), actor="bench")


# --- part 1: finding and claiming due work ------------------------------------------------------

def spread(rng: random.Random, n: int) -> list[datetime]:
    """n instants (naive UTC, as stored): DUE of them in the 3 days before AS_OF, the rest
    over the next year."""
    due = set(rng.sample(range(n), min(DUE, n)))
    as_of, year = naive_utc(AS_OF), 365 * 86400
    return [as_of - timedelta(seconds=rng.uniform(0, 3 * 86400)) if i in due
            else as_of + timedelta(seconds=rng.uniform(60, year)) for i in range(n)]


# Rows are built as the driver receives them: what UTCDateTime (naive UTC; on SQLite
# SQLAlchemy's text form), Boolean and JSON would bind. Done directly because SQLAlchemy's
# per-value bind processing costs more than the database's own work at a million rows. The
# build checks through the ORM that the loaded rows read back as expected.

CASE_COLUMNS = (
    "number", "channel", "category", "tier", "tier_proposed", "tier_reason", "status",
    "jurisdiction_code", "received_at", "summary", "risk_indicators", "risk_level",
    "risk_reason", "mediation_attempts", "response_due_at", "response_due_date",
    "deadline_provisional", "deadline_rule", "created_at", "paused_working_days",
    "next_check_at",
)
NOTICE_COLUMNS = (
    "key", "case_id", "kind", "escalation_level", "recipient_role", "recipient_jurisdiction",
    "contact_id", "to_address", "due_at", "status", "attempts", "next_attempt_at",
    "claimed_until", "last_error", "message_id", "sent_at", "created_at",
)


def driver_datetime(postgres: bool) -> Callable[[datetime], object]:
    if postgres:
        return lambda at: at
    return lambda at: at.isoformat(sep=" ", timespec="microseconds")


def case_rows(rng: random.Random, start: int, checks: list[datetime], *,
              postgres: bool) -> list[tuple]:
    dt = driver_datetime(postgres)
    false = False if postgres else 0
    rows = []
    for offset, check in enumerate(checks):
        received = check - timedelta(seconds=rng.uniform(86400, 20 * 86400))
        due_at = received + timedelta(days=15)
        due_date = (due_at + timedelta(hours=8)).date()  # Asia/Shanghai: UTC+8, no DST
        rows.append((
            f"WQ-2026-{start + offset + 1:07d}", "hotline_12338", "domestic_violence",
            "ordinary", false, "", "accepted", VILLAGE, dt(received), "来电反映丈夫酒后殴打。",
            "[]", "none", "", 0, dt(due_at), due_date if postgres else due_date.isoformat(),
            false, "", dt(received), 0, dt(check),
        ))
    return rows


def notice_rows(rng: random.Random, start: int, attempts_at: list[datetime],
                case_ids: tuple[int, int], *, postgres: bool) -> list[tuple]:
    dt = driver_datetime(postgres)
    low, high = case_ids
    rows = []
    for offset, at in enumerate(attempts_at):
        stamp = dt(at)
        rows.append((
            f"bench:{start + offset}", rng.randint(low, high), NoticeKind.REMINDER_BEFORE.value, 0,
            "federation_chair", VILLAGE, None, VILLAGE_CHAIR, stamp, "queued", 0, stamp,
            None, "", "", None, dt(at - timedelta(days=1)),
        ))
    return rows


def bulk_insert(engine: Engine, table, columns: tuple[str, ...], n: int,
                make_rows: Callable[[int, int], list[tuple]], label: str) -> float:
    """One INSERT of `table`'s columns, run as one DBAPI executemany per CHUNK rows (what a
    Core insert() executemany sends, minus the per-value bind processing); on PostgreSQL the
    same rows go through COPY. Columns the rows leave out get their scalar Python default
    (the schema may grow)."""
    postgres = engine.dialect.name == "postgresql"
    extra = {c.name: c.default.arg for c in table.columns
             if c.name not in columns and c.default is not None and c.default.is_scalar}
    extra = {k: (int(v) if isinstance(v, bool) and not postgres else v) for k, v in extra.items()}
    required = {c.name for c in table.columns if not c.nullable and not c.primary_key}
    assert required <= set(columns) | set(extra), required - set(columns) - set(extra)
    columns = (*columns, *extra)
    tail = tuple(extra.values())
    quote = engine.dialect.identifier_preparer.quote
    mark = "%s" if postgres else "?"  # psycopg and sqlite3 both take positional parameters
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                 f"VALUES ({', '.join(mark for _ in columns)})")
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        rows = make_rows(start, min(start + CHUNK, n))
        if tail:
            rows = [row + tail for row in rows]
        with engine.begin() as conn:
            if postgres:  # COPY: executemany costs a round trip a row on psycopg
                with conn.connection.dbapi_connection.cursor() as cursor, cursor.copy(
                        f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                        "FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                conn.exec_driver_sql(statement, rows)
        done = min(start + CHUNK, n)
        if n > CHUNK and (done // CHUNK) % 4 == 0 or done == n:
            say(f"    {label}: {done:,}/{n:,} ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started


def build_scale_database(url: str, n: int, *, postgres: bool) -> Engine:
    say(f"  building N={n:,} ...")
    upgrade_to_head(url)
    engine = make_engine(url)
    if not postgres:
        # A bigger page cache for the load only (the engine is replaced before timing).
        event.listen(engine, "connect",
                     lambda dbapi_conn, _: dbapi_conn.execute("PRAGMA cache_size=-262144"))
    sessions = make_session_factory(engine)
    load_demo_registry(sessions)
    rng = random.Random(n)
    checks = spread(rng, n)
    bulk_insert(engine, Case.__table__, CASE_COLUMNS, n,
                lambda a, b: case_rows(rng, a, checks[a:b], postgres=postgres), "cases")
    with engine.connect() as conn:
        case_ids = tuple(conn.execute(select(func.min(Case.id), func.max(Case.id))).one())
        assert conn.execute(select(func.count()).select_from(Case)).scalar() == n
    attempts_at = spread(rng, n)
    bulk_insert(engine, Notice.__table__, NOTICE_COLUMNS, n,
                lambda a, b: notice_rows(rng, a, attempts_at[a:b], case_ids, postgres=postgres),
                "notices")
    with unit_of_work(sessions) as session:  # the ORM sees what was loaded raw, as loaded
        due_cases = session.scalar(select(func.count()).where(Case.next_check_at <= AS_OF))
        due_notices = session.scalar(select(func.count()).where(
            Notice.status == "queued", Notice.next_attempt_at <= AS_OF))
        assert due_cases == due_notices == min(DUE, n), (due_cases, due_notices)
        sample = session.scalars(select(Case).limit(1)).one()
        assert sample.next_check_at.tzinfo is UTC and sample.risk_indicators == []
        assert sample.response_due_date == sample.response_due_at.astimezone(SHANGHAI).date()
        assert sample.tier_proposed is False
    if postgres:
        # autovacuum would get there within a minute of such a load; don't time its absence.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE cases")
            conn.exec_driver_sql("VACUUM ANALYZE notices")
    engine.dispose()
    return make_engine(url)


def claim_statement(as_of: datetime, limit: int = DELIVER_BATCH) -> Select:
    """The main SELECT of models.service.outbox.claim_notices (queued notices; the other one,
    abandoned 'sending' leases, touches only the few rows a crashed sender left)."""
    return (select(Notice).where(Notice.status == "queued", Notice.next_attempt_at <= as_of)
            .order_by(Notice.priority, Notice.next_attempt_at, Notice.id).limit(limit)
            .with_for_update(skip_locked=True))


def plan_statement(as_of: datetime, limit: int = PLAN_BATCH) -> Select:
    """Exactly the SELECT of models.service.planning.plan_batch."""
    return (select(Case).where(Case.next_check_at <= as_of)
            .order_by(Case.next_check_at, Case.id).limit(limit)
            .with_for_update(skip_locked=True))


def median_ms(operation: Callable[[], float], reps: int, warmup: int = 2) -> float:
    """Median of `reps` runs after `warmup`; an operation slower than 2 s a run (the
    all-due claims at a million rows) gets 5 runs, and says so."""
    slowest = max(operation() for _ in range(warmup))
    if slowest > 2.0 and reps > 5:
        say(f"    (a run takes {slowest:.1f} s: 5 repetitions instead of {reps})")
        reps = 5
    return statistics.median(operation() for _ in range(reps)) * 1000


def in_rolled_back_session(sessions, work: Callable) -> Callable[[], float]:
    def run() -> float:
        session = sessions()
        try:
            started = time.perf_counter()
            work(session)
            return time.perf_counter() - started
        finally:
            session.rollback()
            session.close()
    return run


def in_rolled_back_connection(engine: Engine, sql: str, expect: int, *,
                              as_of: datetime = AS_OF) -> Callable[[], float]:
    def run() -> float:
        with engine.connect() as conn:
            started = time.perf_counter()
            rows = conn.execute(text(sql), {"as_of": naive_utc(as_of)}).all()
            elapsed = time.perf_counter() - started
            assert len(rows) == expect, (len(rows), expect)
            conn.rollback()
        return elapsed
    return run


def expect_rows(statement: Select, expect: int) -> Callable:
    def work(session) -> None:
        rows = session.scalars(statement).all()
        assert len(rows) == expect, (len(rows), expect)
    return work


def claim_work(as_of: datetime) -> Callable:
    def work(session) -> None:
        claimed = claim_notices(session, as_of=as_of, holder="bench", lease_from=as_of,
                                limit=DELIVER_BATCH)
        assert len(claimed) == DELIVER_BATCH, len(claimed)
    return work


def plan_work(calendar, policy) -> Callable:
    def work(session) -> None:
        checked, _ = plan_batch(session, as_of=AS_OF, calendar=calendar, policy=policy)
        assert checked == PLAN_BATCH, checked
    return work


def explain(engine: Engine, *, postgres: bool, as_of: datetime) -> list[str]:
    prefix = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
    lines = []
    statements = [
        ("raw claim", RAW_CLAIM, {"as_of": naive_utc(as_of)}),
        ("claim_notices SELECT", literal_sql(engine, claim_statement(as_of)), {}),
        ("raw plan", RAW_PLAN, {"as_of": naive_utc(as_of)}),
        ("plan_batch SELECT", literal_sql(engine, plan_statement(as_of)), {}),
    ]
    with engine.connect() as conn:
        for label, sql, params in statements:
            shown = re.sub(r"^SELECT (\w+)\.id, .*? FROM", r"SELECT \1.<all columns> FROM",
                           " ".join(sql.split()))
            lines.append(f"  -- {label}: {shown}")
            for row in conn.execute(text(f"{prefix} {sql}"), params):
                lines.append("     " + (row[0] if postgres else f"{row[1]:>3} {row[3]}"))
        conn.rollback()
    return lines


def literal_sql(engine: Engine, statement: Select) -> str:
    return str(statement.compile(engine, compile_kwargs={"literal_binds": True}))


def scale_part(args, tmp: Path, postgres: bool) -> None:
    say(f"\n== 1. finding and claiming due work ({DUE:,} of N due; median of {args.reps}, "
        "each rolled back) ==")
    results = []
    plans: list[str] = []
    for n in args.sizes:
        with scratch_database(args.database_url, f"scale_{n}", tmp) as url:
            build_started = time.perf_counter()
            engine = build_scale_database(url, n, postgres=postgres)
            say(f"  built in {time.perf_counter() - build_started:.0f} s; timing ...")
            sessions = make_session_factory(engine)
            with unit_of_work(sessions) as session:
                calendar = current_calendar(session)
            policy = ReminderPolicy()
            reps = args.reps
            raw_claim = median_ms(in_rolled_back_connection(engine, RAW_CLAIM, DELIVER_BATCH), reps)
            raw_plan = median_ms(in_rolled_back_connection(engine, RAW_PLAN, PLAN_BATCH), reps)
            # The same queries when everything is due (a backlog after downtime, or a relay
            # that was down): as_of a year ahead.
            raw_claim_all = median_ms(in_rolled_back_connection(
                engine, RAW_CLAIM, DELIVER_BATCH, as_of=BACKLOG_AS_OF), reps)
            raw_plan_all = median_ms(in_rolled_back_connection(
                engine, RAW_PLAN, PLAN_BATCH, as_of=BACKLOG_AS_OF), reps)
            rows = [
                ("claim_notices(limit=100)",
                 median_ms(in_rolled_back_session(sessions, claim_work(AS_OF)), reps), raw_claim),
                ("  its SELECT only (ORM)",
                 median_ms(in_rolled_back_session(
                     sessions, expect_rows(claim_statement(AS_OF), DELIVER_BATCH)), reps), raw_claim),
                ("plan_batch SELECT (ORM, 500)",
                 median_ms(in_rolled_back_session(
                     sessions, expect_rows(plan_statement(AS_OF), PLAN_BATCH)), reps), raw_plan),
                ("plan_batch whole (+policy,queue)",
                 median_ms(in_rolled_back_session(sessions, plan_work(calendar, policy)),
                           max(5, reps // 3), warmup=1), raw_plan),
                ("claim_notices, all N due",
                 median_ms(in_rolled_back_session(sessions, claim_work(BACKLOG_AS_OF)), reps),
                 raw_claim_all),
                ("plan_batch SELECT, all N due",
                 median_ms(in_rolled_back_session(
                     sessions, expect_rows(plan_statement(BACKLOG_AS_OF), PLAN_BATCH)), reps),
                 raw_plan_all),
            ]
            results.extend((n, label, ms, raw) for label, ms, raw in rows)
            if not plans:
                plans = [f"  as_of {AS_OF:%Y-%m-%d} (~{DUE:,} due):",
                         *explain(engine, postgres=postgres, as_of=AS_OF),
                         f"  as_of {BACKLOG_AS_OF:%Y-%m-%d} (all N due):",
                         *explain(engine, postgres=postgres, as_of=BACKLOG_AS_OF)]
            for label, ms, raw in rows:
                say(f"    {label:<34} {ms:9.2f} ms   raw {raw:7.2f} ms")
            engine.dispose()
    say("")
    say(f"{'N':>10}  {'operation':<34} {'ms':>9} {'raw ms':>8} {'ratio':>7}")
    for n, label, ms, raw in results:
        say(f"{n:>10,}  {label:<34} {ms:9.2f} {raw:8.2f} {ms / raw:7.1f}")
    say("(ratio = ms / raw ms; 'all N due' rows use as_of a year later, so every row is due)")
    say(f"\nquery plans (N={args.sizes[0]:,}):")
    for line in plans:
        say(line)


# --- part 2: mail throughput ---------------------------------------------------------------------

SINK = textwrap.dedent("""
    import sys
    from aiosmtpd.controller import Controller

    class Counting:
        count = 0
        nbytes = 0
        async def handle_DATA(self, server, session, envelope):
            Counting.count += 1
            Counting.nbytes += len(envelope.content)
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=int(sys.argv[1]),
                            server_hostname="sink.bench")
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        print(Counting.count, Counting.nbytes, flush=True)
    controller.stop()
""")


class Sink:
    """aiosmtpd in its own process, so the sink does not share the client's GIL."""

    def __init__(self) -> None:
        import socket
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-c", SINK, str(self.port)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"sink did not start: {ready!r}")

    def received(self) -> tuple[int, int]:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        count, nbytes = self.process.stdout.readline().split()
        return int(count), int(nbytes)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def take_in_cases(ctx, m: int, received: datetime) -> None:
    now = received + timedelta(minutes=1)
    with unit_of_work(ctx.sessions) as session:
        calendar = current_calendar(session)
    for i in range(m):
        raw = json_intake(i, received)
        intake = parse_intake(raw, limits=ctx.intake_limits, now=now)
        with unit_of_work(ctx.sessions) as session:
            take_in(session, intake=intake, calendar=calendar, now=now, actor="bench")


def json_intake(i: int, received: datetime) -> bytes:
    return json.dumps({**INTAKE, "external_ref": f"bench-mail-{i}",
                       "received_at": received.isoformat()}, ensure_ascii=False).encode()


async def bare_loop(host: str, port: int, message, m: int, *, flattened: bool = False) -> float:
    """M sends over one connection; `flattened`: the bytes are serialised once, up front."""
    client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, use_tls=False)
    started = time.perf_counter()
    await client.connect()
    if flattened:
        data = message.as_bytes()
        for _ in range(m):
            errors, _ = await client.sendmail(message["From"], [message["To"]], data)
            assert not errors, errors
    else:
        for _ in range(m):
            errors, _ = await client.send_message(message)
            assert not errors, errors
    await client.quit()
    return time.perf_counter() - started


async def sender_only(sender: SmtpSender, mails: list, batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(mails), batch):
        outcomes = await sender.send_batch(mails[start:start + batch])
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:1]
    return time.perf_counter() - started


@contextlib.contextmanager
def phase_timers(phases: dict[str, float]) -> Iterator[None]:
    """Wrap the steps run_due calls (module globals of models.service.due, and the sender's
    send_batch) to split its time; restored afterwards. Nothing in the code under test changes."""
    patched = [(outbox_module, "claim_notices"), (due_module, "prepare_mails"),
               (outbox_module, "record_outcome"), (SmtpSender, "send_batch")]
    originals = [(owner, name, getattr(owner, name)) for owner, name in patched]

    def timed(name, function):
        if asyncio.iscoroutinefunction(function):
            async def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
        else:
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
        return wrapper

    for owner, name, function in originals:
        setattr(owner, name, timed(name, function))
    try:
        yield
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)


def requeue(sessions, notice_ids: list[int]) -> None:
    """Put the sent reminders back in the outbox, as they were before the first delivery."""
    with unit_of_work(sessions) as session:
        session.execute(update(Notice).where(Notice.id.in_(notice_ids)).values(
            status="queued", attempts=0, claimed_until=None, message_id="", sent_at=None,
            last_error=""))


def mail_part(args, tmp: Path) -> None:
    m = args.mails
    say(f"\n== 2. mail throughput, M={m:,} (aiosmtpd sink in another process; "
        f"{args.rounds} rounds, median) ==")
    sink = Sink()
    timings: dict[str, list[float]] = {}
    phase_rounds: list[dict[str, float]] = []

    def record(path: str, seconds: float, before: int) -> None:
        after, _ = sink.received()
        assert after - before == m, (path, after - before, m)
        timings.setdefault(path, []).append(seconds)

    try:
        with scratch_database(args.database_url, "mail", tmp) as url:
            settings = Settings(data_dir=tmp / "mail", database_url=url, smtp_host=None,
                                sink_host="127.0.0.1", sink_port=sink.port)
            received = datetime(2026, 9, 30, 2, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai
            ctx = build_runtime(settings=settings, clock=FixedClock(received), migrate=True)
            load_demo_registry(ctx.sessions)
            started = time.perf_counter()
            take_in_cases(ctx, m, received)
            say(f"  took in {m:,} cases in {time.perf_counter() - started:.1f} s")
            with unit_of_work(ctx.sessions) as session:
                calendar = current_calendar(session)
                first = session.scalars(select(Case).order_by(Case.id).limit(1)).one()
                clock = case_clock(first)
            policy = ctx.reminder_policy
            # The first instant anything falls due after intake: the reminder one working day
            # before the deadline. Every case owes exactly that one notice then.
            as_of = next_check(clock, after=received + timedelta(minutes=1), calendar=calendar,
                               policy=policy)
            owed = owed_notices(clock, as_of=as_of, calendar=calendar, policy=policy)
            assert [o.kind for o in owed] == [NoticeKind.REMINDER_BEFORE], owed
            say(f"  as_of {as_of.astimezone(SHANGHAI).isoformat()} (deadline "
                f"{clock.response_due_at.astimezone(SHANGHAI).isoformat()})")

            # The notices the intake put in the outbox for at once (two failed mediations)
            # go out within seconds of intake, long before as_of: deliver them now, untimed.
            before, _ = sink.received()
            at_once = asyncio.run(run_due(ctx.sessions, as_of=received + timedelta(minutes=2),
                                          calendar=calendar, policy=policy,
                                          sender=ctx.sender,
                                          max_attempts=settings.notice_max_attempts))
            assert sink.received()[0] - before == at_once.sent
            say(f"  at-once notices from intake delivered first (untimed): {at_once.sent:,} sent, "
                f"{at_once.failed:,} failed")

            # Plan (not in the ratio, printed for information): M notices queued.
            started = time.perf_counter()
            queued = 0
            while True:
                with unit_of_work(ctx.sessions) as session:
                    checked, q = plan_batch(session, as_of=as_of, calendar=calendar, policy=policy)
                queued += q
                if checked < PLAN_BATCH:
                    break
            plan_s = time.perf_counter() - started
            assert queued == m, (queued, m)
            with unit_of_work(ctx.sessions) as session:
                reminder_ids = list(session.scalars(select(Notice.id).where(
                    Notice.status == "queued", Notice.next_attempt_at <= as_of)))
            assert len(reminder_ids) == m, (len(reminder_ids), m)

            # One equivalent mail, rendered the way prepare_mails does, for the other loops.
            with unit_of_work(ctx.sessions) as session:
                notice = session.get(Notice, reminder_ids[0])
                case = session.get(Case, notice.case_id)
                context = mail_context(session, notice=notice, case=case, calendar=calendar,
                                       as_of=as_of, public_url=settings.public_url)
            mail = render_mail(template=template_of(notice.kind), context=context, to=[notice.to_address],
                               notice_key=notice.key)
            message = to_email_message(mail, mail_from=settings.mail_from)
            message["Date"] = formatdate(localtime=False)
            size = len(message.as_bytes())
            sender = ctx.sender

            for round_ in range(args.rounds):
                # The outbox: run_due finds nothing more to plan and delivers batch by batch.
                if round_:
                    requeue(ctx.sessions, reminder_ids)
                before, _ = sink.received()
                phases: dict[str, float] = {}
                with phase_timers(phases):
                    started = time.perf_counter()
                    report = asyncio.run(run_due(ctx.sessions, as_of=as_of, calendar=calendar,
                                                 policy=policy, sender=sender,
                                                 max_attempts=settings.notice_max_attempts))
                    elapsed = time.perf_counter() - started
                assert report.sent == m and report.cancelled == 0, report
                record("outbox", elapsed, before)
                phase_rounds.append(phases)

                # SmtpSender alone: pre-rendered mails, batches of 100, one connection each.
                before, _ = sink.received()
                record("sender", asyncio.run(sender_only(sender, [mail] * m, DELIVER_BATCH)),
                       before)

                # The bare loop: one connection, the same message M times.
                before, _ = sink.received()
                record("bare", asyncio.run(bare_loop("127.0.0.1", sink.port, message, m)), before)
                before, _ = sink.received()
                record("bare_bytes", asyncio.run(bare_loop("127.0.0.1", sink.port, message, m,
                                                           flattened=True)), before)
                say(f"  round {round_ + 1}: " + ", ".join(
                    f"{path} {m / seconds[-1]:,.0f}/s" for path, seconds in timings.items()))
            ctx.close()
        _, nbytes = sink.received()
    finally:
        sink.stop()
    config = smtp_config(settings)
    say(f"  message {size:,} bytes (multipart/alternative, zh-CN text + HTML); "
        f"SmtpConfig.local_hostname={config.local_hostname!r} (EHLO name: socket.getfqdn() "
        "per connection)")
    say(f"  plan (not in the ratio): {m:,} cases → {queued:,} notices in {plan_s:.2f} s "
        f"({m / plan_s:,.0f} cases/s)")
    say("")
    rate = {path: m / statistics.median(seconds) for path, seconds in timings.items()}
    labels = {
        "outbox": "outbox: run_due (claim, re-check, render, send, record)",
        "sender": "SmtpSender.send_batch only (pre-rendered, 100/conn)",
        "bare": "bare aiosmtplib send_message loop, one connection",
        "bare_bytes": "bare aiosmtplib sendmail of pre-flattened bytes",
    }
    say(f"{'path':<58} {'median s':>8} {'mails/s':>8} {'best/s':>7}")
    for path, label in labels.items():
        seconds = timings[path]
        say(f"{label:<58} {statistics.median(seconds):8.2f} {rate[path]:8,.0f} "
            f"{m / min(seconds):7,.0f}")
    say(f"ratio outbox / bare: {rate['outbox'] / rate['bare']:.2f}   "
        f"(SmtpSender-only / bare: {rate['sender'] / rate['bare']:.2f})")
    total = statistics.median(sum(p.values()) for p in phase_rounds)
    say("run_due split (median over rounds, ms per mail): " + ", ".join(
        f"{name} {statistics.median(p.get(name, 0.0) for p in phase_rounds) * 1000 / m:.2f}"
        for name in ("claim_notices", "prepare_mails", "send_batch", "record_outcome"))
        + f"  (sum {total * 1000 / m:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated N for part 1 (default 100000,1000000)")
    parser.add_argument("--mails", type=int, default=1000, help="M for part 2 (default 1000)")
    parser.add_argument("--reps", type=int, default=15, help="repetitions per timing (>=15)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the mail comparison")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL URL; scratch databases are created on its server")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=10000, M=200")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-mail", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.quick:
        args.sizes, args.mails = [10_000], 200
    postgres = args.database_url is not None
    if postgres and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql URL (SQLite is the default)")
    say(f"database: {'postgresql' if postgres else 'sqlite'}; sizes {args.sizes}; "
        f"mails {args.mails}; as_of {AS_OF.isoformat()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_scale:
            scale_part(args, Path(tmp), postgres)
        if not args.skip_mail:
            mail_part(args, Path(tmp))


if __name__ == "__main__":
    main()
