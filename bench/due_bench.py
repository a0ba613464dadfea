"""The due sweep at scale, each figure beside its baseline measured in the same run.

1. Claiming and planning at N open cases and N notices (--sizes; a fresh database each,
   migrated to head; DUE_CASES cases and DUE_NOTICES notices due at AS_OF, the rest over the
   next year). The timings run in a child process per N, so its peak RSS is the product
   code's memory at that N, not the build's:
   - `claim_notices` (100 rows) against a raw SQL claim of the same rows: one
     `UPDATE … WHERE id IN (SELECT … ORDER BY … LIMIT 100 [FOR UPDATE SKIP LOCKED]) RETURNING
     id` (median of --reps, each rolled back) → `claim_vs_raw`, `raw_claim_ms`;
   - planning: `plan_batch` until no due case is left (every due case planned: its notices
     stored, its next check moved), rolled back, median of 3 → `plan_cases_per_s`, and the
     peak RSS at each N (`plan_rss_mb_<N>`).
2. Mail (aiosmtpd sink in its own process, recording each mail's notice key). M cases are
   taken in and planned: M reminders due. Then per --rounds round (medians):
   - outbox: `run_due` (claim → re-check → render → send → record) over ONE connection;
   - pooled: the same over WEIQUAN_SMTP_CONNECTIONS' default (4) connections;
   - bare message: one aiosmtplib connection, `send_message` of the same M mails built up
     front as EmailMessage objects; bare bytes: `sendmail` of the same mails flattened up
     front (the stricter baseline: no per-mail Python but the SMTP client's).
   Each outbox round asserts every notice was recorded sent exactly once and the sink got
   each notice key exactly once. `outbox_vs_bare` = outbox / bare message loop and
   `pooled_vs_bare` = pooled / bare message loop: the bare aiosmtplib `send_message` loop over
   one connection is the baseline this bench has always called "bare" (the figures of issue 10
   were measured against it). The stricter pre-flattened-bytes loop, which skips the
   message's serialisation, is printed beside them as `outbox_vs_bare_bytes` and
   `pooled_vs_bare_bytes`.
3. Lateness: the flow service (`app.service.run_service`, as `weiquan up` wires it, without
   Prefect — `prefect_ready` false, no deployments served — and without the web app) runs
   on the real clock; K notices (at-once reports from K intakes) are due at known instants
   spread over --window seconds. The sink stamps each mail's arrival; lateness = arrival −
   due instant → `lateness_p99_s` (and p50, max).

SQLite by default; `--database-url postgresql+psycopg://user:pw@host:5432/postgres` runs it
on PostgreSQL in scratch databases created (and dropped) on that server. The last line is
`RESULT key=value …`.

    .venv/bin/python bench/due_bench.py [--quick] [--sizes 100000,1000000] [--mails 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib  # noqa: E402
from sqlalchemy import create_engine, event, func, select, text, update  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from app.service import run_service  # noqa: E402
from models.runtime.bootstrap import build_runtime  # noqa: E402
from models.runtime.clock import FixedClock, SystemClock  # noqa: E402
from models.runtime.settings import Settings  # noqa: E402
from models.db.migrate import upgrade_to_head  # noqa: E402
from models.db.orm import Case, Notice  # noqa: E402
from models.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from models.domain.calendar import SHANGHAI  # noqa: E402
from models.domain.notice_kinds import NoticeKind  # noqa: E402
from models.domain.reminders import ReminderPolicy, next_check, owed_notices  # noqa: E402
from models.intake_schema import parse_intake  # noqa: E402
from models.service.calendar import current_calendar  # noqa: E402
from models.service.due import run_due  # noqa: E402
from models.service.intake import take_in  # noqa: E402
from models.service.mail_content import build_mail  # noqa: E402
from models.service.outbox import DELIVER_BATCH, claim_notices  # noqa: E402
from models.service.owed import case_clock  # noqa: E402
from models.service.planning import PLAN_BATCH, plan_batch  # noqa: E402
from models.service.registry import load_registry  # noqa: E402
from notifications.message import Mail, to_email_message, to_wire_bytes  # noqa: E402
from notifications.sender import SmtpConfig, SmtpSender  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
VILLAGE = "990102001001"  # 东湖村: has a federation chair with an email in the demo registry
VILLAGE_CHAIR = "fulian.donghu@example.org"
AS_OF = datetime(2026, 11, 24, 2, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
DUE_CASES = 5_000  # cases due at AS_OF: ten plan batches
DUE_NOTICES = 1_000  # notices due at AS_OF: ten claims
CHUNK = 50_000
MAIL_FROM = "weiquan@fulian.example.cn"
EHLO_NAME = "bench.local"  # the same for every path: no DNS lookup in any timing

# Two failed mediations: the upper federation is told at once, and then only the deadline
# speaks — one reminder per case at the measured instant.
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

def spread(rng: random.Random, n: int, *, due_count: int) -> list[datetime]:
    """n instants (naive UTC, as stored): `due_count` of them in the 3 days before AS_OF,
    the rest over the next year."""
    due = set(rng.sample(range(n), min(due_count, n)))
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
    checks = spread(rng, n, due_count=DUE_CASES)
    bulk_insert(engine, Case.__table__, CASE_COLUMNS, n,
                lambda a, b: case_rows(rng, a, checks[a:b], postgres=postgres), "cases")
    with engine.connect() as conn:
        case_ids = tuple(conn.execute(select(func.min(Case.id), func.max(Case.id))).one())
        assert conn.execute(select(func.count()).select_from(Case)).scalar() == n
    attempts_at = spread(rng, n, due_count=DUE_NOTICES)
    bulk_insert(engine, Notice.__table__, NOTICE_COLUMNS, n,
                lambda a, b: notice_rows(rng, a, attempts_at[a:b], case_ids, postgres=postgres),
                "notices")
    with unit_of_work(sessions) as session:  # the ORM sees what was loaded raw, as loaded
        due_cases = session.scalar(select(func.count()).where(Case.next_check_at <= AS_OF))
        due_notices = session.scalar(select(func.count()).where(
            Notice.status == "queued", Notice.next_attempt_at <= AS_OF))
        assert (due_cases, due_notices) == (min(DUE_CASES, n), min(DUE_NOTICES, n)), (
            due_cases, due_notices)
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



# --- part 1: claiming and planning (timed in a child process per N) --------------------------

def raw_claim_sql(*, postgres: bool) -> str:
    """The claim written by hand: the same rows in the same order as claim_notices' queued
    claim, leased in one statement."""
    lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
    return ("UPDATE notices SET status = 'sending', attempts = attempts + 1, "
            "claimed_until = :lease, claimed_by = 'raw' WHERE id IN (SELECT id FROM notices "
            "WHERE status = 'queued' AND next_attempt_at <= :as_of "
            f"ORDER BY priority, next_attempt_at, id LIMIT 100{lock}) RETURNING id")


def median_ms(operation: Callable[[], float], reps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        operation()
    return statistics.median(operation() for _ in range(reps)) * 1000


def timings_at(*, url: str, n: int, reps: int) -> dict[str, float]:
    """Run in the child: claim against raw claim, and planning every due case; peak RSS."""
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    sessions = make_session_factory(engine)
    with unit_of_work(sessions) as session:
        calendar = current_calendar(session)
    policy = ReminderPolicy()
    bind = (lambda at: naive_utc(at)) if postgres else (
        lambda at: naive_utc(at).isoformat(sep=" ", timespec="microseconds"))
    raw_sql = text(raw_claim_sql(postgres=postgres))

    def raw_claim() -> float:
        with engine.connect() as conn:
            started = time.perf_counter()
            rows = conn.execute(raw_sql, {"as_of": bind(AS_OF),
                                          "lease": bind(AS_OF + timedelta(seconds=60))}).all()
            elapsed = time.perf_counter() - started
            conn.rollback()
        assert len(rows) == DELIVER_BATCH, len(rows)
        return elapsed

    def claim() -> float:
        session = sessions()
        try:
            started = time.perf_counter()
            claimed = claim_notices(session, as_of=AS_OF, holder="bench", lease_from=AS_OF)
            elapsed = time.perf_counter() - started
            assert len(claimed) == DELIVER_BATCH, len(claimed)
            return elapsed
        finally:
            session.rollback()
            session.close()

    planned: list[int] = []

    def plan_all() -> float:
        session = sessions()
        try:
            started = time.perf_counter()
            checked_total = queued_total = 0
            while True:
                checked, queued = plan_batch(session, as_of=AS_OF, calendar=calendar,
                                             policy=policy)
                checked_total += checked
                queued_total += queued
                if checked < PLAN_BATCH:
                    break
            elapsed = time.perf_counter() - started
            assert checked_total == min(DUE_CASES, n), checked_total
            planned.append(queued_total)
            return elapsed
        finally:
            session.rollback()
            session.close()

    raw_ms = median_ms(raw_claim, reps)
    claim_ms = median_ms(claim, reps)
    # Alternate, so drift in the machine's load hits both alike.
    raw_ms = statistics.median([raw_ms, median_ms(raw_claim, reps)])
    claim_ms = statistics.median([claim_ms, median_ms(claim, reps)])
    plan_s = median_ms(plan_all, 3, warmup=1) / 1000
    engine.dispose()
    return {"raw_claim_ms": raw_ms, "claim_ms": claim_ms, "plan_s": plan_s,
            "plan_cases": min(DUE_CASES, n), "plan_notices": planned[-1],
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, not ru_maxrss: on Linux a child's ru_maxrss
    starts from its parent's at fork (here: the parent that built N rows), exec or not."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_part(args, tmp: Path, postgres: bool) -> dict[int, dict[str, float]]:
    say(f"\n== 1. claiming and planning ({DUE_NOTICES:,} notices and {DUE_CASES:,} cases "
        f"due of N; child process per N) ==")
    results: dict[int, dict[str, float]] = {}
    for n in args.sizes:
        with scratch_database(args.database_url, f"scale_{n}", tmp) as url:
            started = time.perf_counter()
            build_scale_database(url, n, postgres=postgres).dispose()
            say(f"  built in {time.perf_counter() - started:.0f} s; timing in a child process ...")
            child = subprocess.run(
                [sys.executable, __file__, "--child-timings", url, "--child-n", str(n),
                 "--reps", str(args.reps)], capture_output=True, text=True, check=True)
            results[n] = json.loads(child.stdout.strip().splitlines()[-1])
            r = results[n]
            say(f"    N={n:,}: claim_notices {r['claim_ms']:.2f} ms, raw claim "
                f"{r['raw_claim_ms']:.2f} ms (x{r['claim_ms'] / r['raw_claim_ms']:.2f}); "
                f"plan {r['plan_cases']:,} due cases → {r['plan_notices']:,} notices in "
                f"{r['plan_s']:.3f} s ({r['plan_cases'] / r['plan_s']:,.0f} cases/s); "
                f"peak RSS {r['peak_rss_mb']:.0f} MB")
    say("")
    say(f"{'N':>10}  {'claim ms':>9} {'raw ms':>8} {'ratio':>6}  {'plan cases/s':>12} "
        f"{'peak RSS MB':>11}")
    for n, r in results.items():
        say(f"{n:>10,}  {r['claim_ms']:9.2f} {r['raw_claim_ms']:8.2f} "
            f"{r['claim_ms'] / r['raw_claim_ms']:6.2f}  {r['plan_cases'] / r['plan_s']:12,.0f} "
            f"{r['peak_rss_mb']:11.0f}")
    return results


# --- the sink --------------------------------------------------------------------------------

SINK = textwrap.dedent("""
    import json, re, sys, time
    from aiosmtpd.controller import Controller

    KEY = re.compile(rb"^X-Weiquan-Notice:[ \\t]*(.*?)\\r?$", re.IGNORECASE | re.MULTILINE)

    class Recording:
        count = 0
        nbytes = 0
        arrivals = {}  # notice key -> [time.time() of each copy]
        async def handle_DATA(self, server, session, envelope):
            Recording.count += 1
            Recording.nbytes += len(envelope.content)
            found = KEY.search(envelope.content)
            key = found.group(1).decode() if found else ""
            Recording.arrivals.setdefault(key, []).append(time.time())
            return "250 OK"

    controller = Controller(Recording(), hostname="127.0.0.1", port=int(sys.argv[1]),
                            server_hostname="sink.bench")
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "arrivals":  # and forget them
            print(json.dumps(Recording.arrivals), flush=True)
            Recording.arrivals = {}
        else:
            print(Recording.count, Recording.nbytes, flush=True)
    controller.stop()
""")


class Sink:
    """aiosmtpd in its own process (not sharing the client's GIL), stamping each arrival."""

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

    def _ask(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline()

    def received(self) -> int:
        return int(self._ask("count").split()[0])

    def arrivals(self) -> dict[str, list[float]]:
        """Each notice key's arrival times since the last call."""
        return json.loads(self._ask("arrivals"))

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


# --- part 2: mail ----------------------------------------------------------------------------

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



async def bare_loop(*, port: int, messages: list[EmailMessage] | list[bytes]) -> float:
    """One connection: `send_message` of prebuilt EmailMessages, or `sendmail` of bytes."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False,
                             local_hostname=EHLO_NAME)
    started = time.perf_counter()
    await client.connect()
    for message in messages:
        if isinstance(message, bytes):
            errors, _ = await client.sendmail(MAIL_FROM, [VILLAGE_CHAIR], message)
        else:
            errors, _ = await client.send_message(message)
        assert not errors, errors
    await client.quit()
    return time.perf_counter() - started


def requeue(sessions, notice_ids: list[int]) -> None:
    """Put the sent reminders back in the outbox, as they were before the first delivery."""
    with unit_of_work(sessions) as session:
        session.execute(update(Notice).where(Notice.id.in_(notice_ids)).values(
            status="queued", attempts=0, claimed_until=None, claimed_by="", message_id="",
            sent_at=None, last_error=""))


def the_same_mails(ctx, notice_ids: list[int], *, as_of: datetime, calendar) -> list[Mail]:
    """The mails the outbox sends for these notices, built once for the bare loops."""
    with unit_of_work(ctx.sessions) as session:
        mails = []
        for notice_id in notice_ids:
            notice = session.get(Notice, notice_id)
            mails.append(build_mail(session, notice=notice, case=session.get(Case, notice.case_id),
                                    as_of=as_of, calendar=calendar, policy=ctx.reminder_policy,
                                    public_url=ctx.settings.public_url))
    return mails


def dated_message(mail: Mail, *, date: str) -> EmailMessage:
    """The EmailMessage the bare send_message loop sends: what the sender puts on the wire."""
    message = to_email_message(mail, mail_from=MAIL_FROM)
    message.add_header("Date", date)
    return message


def mail_part(args, tmp: Path) -> dict[str, float]:
    m = args.mails
    say(f"\n== 2. mail, M={m:,} (aiosmtpd sink in another process; {args.rounds} rounds, "
        "median) ==")
    sink = Sink()
    timings: dict[str, list[float]] = {}
    try:
        with scratch_database(args.database_url, "mail", tmp) as url:
            settings = Settings(data_dir=tmp / "mail", database_url=url, smtp_host=None,
                                sink_host="127.0.0.1", sink_port=sink.port, mail_from=MAIL_FROM,
                                digests_enabled=False)
            received = datetime(2026, 9, 30, 2, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai
            ctx = build_runtime(settings=settings, clock=FixedClock(received), migrate=True)
            load_demo_registry(ctx.sessions)
            started = time.perf_counter()
            take_in_cases(ctx, m, received)
            say(f"  took in {m:,} cases in {time.perf_counter() - started:.1f} s")
            with unit_of_work(ctx.sessions) as session:
                calendar = current_calendar(session)
                clock = case_clock(session.scalars(select(Case).order_by(Case.id).limit(1)).one())
            policy = ctx.reminder_policy
            # The first instant anything falls due after intake: the reminder one working day
            # before the deadline. Every case owes exactly that one notice then.
            as_of = next_check(clock, after=received + timedelta(minutes=1), calendar=calendar,
                               policy=policy)
            owed = owed_notices(clock, as_of=as_of, calendar=calendar, policy=policy)
            assert [o.kind for o in owed] == [NoticeKind.REMINDER_BEFORE], owed

            def one_connection() -> SmtpSender:
                return SmtpSender(SmtpConfig(host="127.0.0.1", port=sink.port, connections=1,
                                             local_hostname=EHLO_NAME), mail_from=MAIL_FROM)

            pooled_connections = Settings.model_fields["smtp_connections"].default
            pooled = SmtpSender(SmtpConfig(host="127.0.0.1", port=sink.port,
                                           connections=pooled_connections,
                                           local_hostname=EHLO_NAME), mail_from=MAIL_FROM)
            # The intake's at-once notices go out first, untimed.
            asyncio.run(run_due(ctx.sessions, as_of=received + timedelta(minutes=2),
                                calendar=calendar, policy=policy, sender=pooled,
                                max_attempts=settings.notice_max_attempts))
            sink.arrivals()
            started = time.perf_counter()
            report = asyncio.run(run_due(ctx.sessions, as_of=as_of, calendar=calendar,
                                         policy=policy, sender=pooled,
                                         max_attempts=settings.notice_max_attempts))
            plan_and_send_s = time.perf_counter() - started
            assert report.notices_queued == m and report.sent == m, report
            say(f"  first sweep at {as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (untimed for the "
                f"ratios): planned {m:,} cases and sent {m:,} reminders in {plan_and_send_s:.2f} s")
            sink.arrivals()
            with unit_of_work(ctx.sessions) as session:
                reminder_ids = list(session.scalars(select(Notice.id).where(
                    Notice.kind == NoticeKind.REMINDER_BEFORE).order_by(Notice.id)))
            assert len(reminder_ids) == m, len(reminder_ids)
            mails = the_same_mails(ctx, reminder_ids, as_of=as_of, calendar=calendar)
            date = formatdate(localtime=False)
            messages = [dated_message(mail, date=date) for mail in mails]
            flattened = [to_wire_bytes(mail, mail_from=MAIL_FROM, date=date) for mail in mails]
            size = statistics.mean(len(b) for b in flattened)

            def outbox_round(path: str, sender: SmtpSender) -> None:
                requeue(ctx.sessions, reminder_ids)
                before = sink.received()
                started = time.perf_counter()
                report = asyncio.run(run_due(ctx.sessions, as_of=as_of, calendar=calendar,
                                             policy=policy, sender=sender,
                                             max_attempts=settings.notice_max_attempts))
                timings.setdefault(path, []).append(time.perf_counter() - started)
                # Every mail recorded exactly once, and in the sink exactly once.
                assert report.sent == m and report.cancelled == report.failed == 0, report
                with unit_of_work(ctx.sessions) as session:
                    sent = session.scalar(select(func.count()).where(
                        Notice.id.in_(reminder_ids), Notice.status == "sent"))
                assert sent == m, (path, sent, m)
                arrivals = sink.arrivals()
                assert sink.received() - before == m and len(arrivals) == m, (path, len(arrivals))
                assert all(len(times) == 1 for times in arrivals.values()), path

            def bare_round(path: str, payload: list) -> None:
                before = sink.received()
                timings.setdefault(path, []).append(asyncio.run(bare_loop(port=sink.port, messages=payload)))
                assert sink.received() - before == m, path
                sink.arrivals()

            for round_ in range(args.rounds):
                outbox_round("outbox", one_connection())
                bare_round("bare_bytes", flattened)
                outbox_round("pooled", pooled)
                bare_round("bare_message", messages)
                say(f"  round {round_ + 1}: " + ", ".join(
                    f"{path} {m / seconds[-1]:,.0f}/s" for path, seconds in timings.items()))
            ctx.close()
    finally:
        sink.stop()
    rate = {path: m / statistics.median(seconds) for path, seconds in timings.items()}
    say(f"  mails of {size:,.0f} bytes on average (multipart/alternative, zh-CN text + HTML)")
    labels = {
        "outbox": "outbox: run_due (claim, re-check, render, send, record), 1 connection",
        "pooled": f"outbox: run_due, {pooled_connections} connections (the default)",
        "bare_message": "bare aiosmtplib send_message(EmailMessage) loop, 1 connection",
        "bare_bytes": "bare aiosmtplib sendmail(pre-flattened bytes) loop, 1 connection",
    }
    say(f"{'path':<72} {'median s':>8} {'mails/s':>8} {'best/s':>7}")
    for path, label in labels.items():
        seconds = timings[path]
        say(f"{label:<72} {statistics.median(seconds):8.2f} {rate[path]:8,.0f} "
            f"{m / min(seconds):7,.0f}")
    result = {"outbox_vs_bare": rate["outbox"] / rate["bare_message"],
              "outbox_vs_bare_bytes": rate["outbox"] / rate["bare_bytes"],
              "pooled_vs_bare": rate["pooled"] / rate["bare_message"],
              "pooled_vs_bare_bytes": rate["pooled"] / rate["bare_bytes"],
              "outbox_mails_per_s": rate["outbox"], "pooled_mails_per_s": rate["pooled"],
              "bare_bytes_mails_per_s": rate["bare_bytes"],
              "bare_message_mails_per_s": rate["bare_message"]}
    say(f"outbox / bare message {result['outbox_vs_bare']:.2f} (bytes {result['outbox_vs_bare_bytes']:.2f}), "
        f"pooled / bare message {result['pooled_vs_bare']:.2f} (bytes "
        f"{result['pooled_vs_bare_bytes']:.2f}); every mail recorded sent once and received once")
    return result


# --- part 3: lateness with the service running ------------------------------------------------

def lateness_part(args, tmp: Path) -> dict[str, float]:
    k, window = args.lateness_notices, args.window
    say(f"\n== 3. lateness: the flow service running (app.service.run_service without Prefect "
        f"or the web app), {k} notices due over {window:.0f} s ==")
    sink = Sink()
    try:
        with scratch_database(args.database_url, "lateness", tmp) as url:
            settings = Settings(data_dir=tmp / "lateness", database_url=url, smtp_host=None,
                                sink_host="127.0.0.1", sink_port=sink.port, mail_from=MAIL_FROM,
                                digests_enabled=False)
            ctx = build_runtime(settings=settings, clock=SystemClock(), migrate=True)
            load_demo_registry(ctx.sessions)
            take_in_cases(ctx, k, datetime.now(UTC) - timedelta(minutes=5))
            # The intakes' at-once reports are the notices: each is made due at its own
            # instant, spread evenly over the window from a few seconds ahead.
            start = datetime.now(UTC) + timedelta(seconds=5)
            with unit_of_work(ctx.sessions) as session:
                notices = list(session.scalars(select(Notice).where(Notice.status == "queued")
                                               .order_by(Notice.id)))
                assert len(notices) >= k, len(notices)
                due_at = {}
                for index, notice in enumerate(notices):
                    at = start + timedelta(seconds=window * index / len(notices))
                    notice.due_at = notice.next_attempt_at = at
                    due_at[notice.key] = at.timestamp()
            say(f"  {len(notices)} at-once notices due from {start:%H:%M:%S} UTC; service starts")

            async def serve() -> None:
                stop = asyncio.Event()
                service = asyncio.create_task(run_service(
                    ctx, stop=stop, prefect_ready=lambda: False, serve_deployments=False))
                await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + window + 5)
                stop.set()
                await service

            asyncio.run(serve())
            arrivals = sink.arrivals()
            ctx.close()
    finally:
        sink.stop()
    missing = sorted(set(due_at) - set(arrivals))
    assert not missing, f"{len(missing)} notices never arrived"
    assert all(len(times) == 1 for times in arrivals.values()), "a notice arrived twice"
    late = sorted(arrivals[key][0] - due for key, due in due_at.items())
    p50, p99 = statistics.median(late), late[min(len(late) - 1, int(0.99 * len(late)))]
    say(f"  lateness (arrival in the sink − due instant): p50 {p50:.3f} s, p99 {p99:.3f} s, "
        f"max {late[-1]:.3f} s, min {late[0]:.3f} s")
    return {"lateness_p50_s": p50, "lateness_p99_s": p99, "lateness_max_s": late[-1],
            "lateness_notices": len(late)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated N for part 1 (default 100000,1000000)")
    parser.add_argument("--mails", type=int, default=1000, help="M for part 2 (default 1000)")
    parser.add_argument("--reps", type=int, default=15, help="repetitions per claim timing")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the mail comparison")
    parser.add_argument("--lateness-notices", type=int, default=200)
    parser.add_argument("--window", type=float, default=120.0,
                        help="seconds over which the lateness notices fall due")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL URL; scratch databases are created on its server")
    parser.add_argument("--quick", action="store_true",
                        help="N=10000,100000, M=300, 50 notices over 30 s (under 5 minutes)")
    parser.add_argument("--only", choices=("scale", "mail", "lateness"),
                        help="run one part (no RESULT line)")
    parser.add_argument("--child-timings", help=argparse.SUPPRESS)
    parser.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_timings:
        print(json.dumps(timings_at(url=args.child_timings, n=args.child_n, reps=args.reps)))
        return
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.quick:
        args.sizes, args.mails, args.reps = [10_000, 100_000], 300, 9
        args.lateness_notices, args.window = 50, 30.0
    postgres = args.database_url is not None
    if postgres and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql URL (SQLite is the default)")
    say(f"database: {'postgresql' if postgres else 'sqlite'}; sizes {args.sizes}; "
        f"mails {args.mails}; lateness {args.lateness_notices} over {args.window:.0f} s; "
        f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only:
            {"scale": lambda: scale_part(args, Path(tmp), postgres),
             "mail": lambda: mail_part(args, Path(tmp)),
             "lateness": lambda: lateness_part(args, Path(tmp))}[args.only]()
            return
        scale = scale_part(args, Path(tmp), postgres)
        mail = mail_part(args, Path(tmp))
        lateness = lateness_part(args, Path(tmp))
    largest, smallest = max(scale), min(scale)
    big = scale[largest]
    result = {
        "db": "postgresql" if postgres else "sqlite",
        "outbox_vs_bare": f"{mail['outbox_vs_bare']:.2f}",
        "outbox_vs_bare_bytes": f"{mail['outbox_vs_bare_bytes']:.2f}",
        "pooled_vs_bare": f"{mail['pooled_vs_bare']:.2f}",
        "pooled_vs_bare_bytes": f"{mail['pooled_vs_bare_bytes']:.2f}",
        "recorded_once": "yes",
        "outbox_mails_per_s": f"{mail['outbox_mails_per_s']:.0f}",
        "pooled_mails_per_s": f"{mail['pooled_mails_per_s']:.0f}",
        "bare_bytes_mails_per_s": f"{mail['bare_bytes_mails_per_s']:.0f}",
        "claim_vs_raw": f"{big['claim_ms'] / big['raw_claim_ms']:.2f}",
        "claim_ms": f"{big['claim_ms']:.2f}",
        "raw_claim_ms": f"{big['raw_claim_ms']:.2f}",
        "plan_cases_per_s": f"{big['plan_cases'] / big['plan_s']:.0f}",
        f"plan_rss_mb_{smallest}": f"{scale[smallest]['peak_rss_mb']:.0f}",
        f"plan_rss_mb_{largest}": f"{big['peak_rss_mb']:.0f}",
        "n": str(largest),
        "mails": str(args.mails),
        "lateness_p99_s": f"{lateness['lateness_p99_s']:.3f}",
        "lateness_p50_s": f"{lateness['lateness_p50_s']:.3f}",
        "lateness_notices": str(lateness["lateness_notices"]),
        "load_avg": f"{os.getloadavg()[0]:.2f}",
    }
    say("\nRESULT " + " ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
