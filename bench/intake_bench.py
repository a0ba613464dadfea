"""Intake speed, side by side in one run: the single intake's latency (what `weiquan intake`
does after start-up: validate, compute the deadline, store the case, parties, audit, at-once
notices, visit plan and owed flow run in one transaction) looped over N documents, and the
batch import (`weiquan intake --batch`) of the same N documents, each on a fresh database.

    .venv/bin/python bench/intake_bench.py [--count 2000] [--quick] [--database-url URL]

The documents mix a suspected-DV hotline call (crime lead: police and upper federation told
at once, high-risk visit plan), the contract's life-threatening DV case (six at-once notices)
and the contract's ordinary land-rights case (nothing at once). --database-url takes a
PostgreSQL server URL; each phase runs in its own new database there, dropped afterwards.
The last line is `RESULT key=value …` for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from models.runtime.clock import FixedClock  # noqa: E402
from models.runtime.bootstrap import Runtime, build_runtime  # noqa: E402
from models.runtime.settings import Settings  # noqa: E402
from models.db.session import unit_of_work  # noqa: E402
from models.intake_schema import parse_intake  # noqa: E402
from models.service.batch_intake import import_intakes  # noqa: E402
from models.service.calendar import current_calendar  # noqa: E402
from models.service.intake import take_in  # noqa: E402
from models.service.registry import load_registry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
CONTRACT = ROOT.parent / "shared" / "contract" / "intake"
NOW = datetime(2026, 11, 24, 2, tzinfo=UTC)
HOTLINE = {
    "channel": "hotline_12338",
    "jurisdiction": "990102001001",
    "category": "domestic_violence",
    "tier": "ordinary",
    "summary": "来电反映丈夫酒后殴打。",
    "parties": [{"role": "victim", "name": "某某", "phone": "139-0000-0001", "age": 34},
                {"role": "child", "age": 6}],
    "risk_indicators": ["suspected_dv"],
    "mediation_attempts": 0,
}


def templates() -> list[dict]:
    found = [HOTLINE]
    for name in ("dv_strangulation", "land_rights_ordinary"):
        path = CONTRACT / f"{name}.json"
        if path.exists():  # the shared contract sits next to the checkout
            found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def documents(count: int) -> list[bytes]:
    kinds = templates()
    return [json.dumps({**kinds[i % len(kinds)], "external_ref": f"bench-{i}",
                        "received_at": (NOW - timedelta(minutes=i)).isoformat()},
                       ensure_ascii=False).encode() for i in range(count)]


@contextmanager
def fresh_context(server_url: str | None) -> Iterator[Runtime]:
    """A migrated database with the demo registry: a SQLite file, or a new PostgreSQL
    database on the server, dropped afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        if server_url is None:
            settings = Settings(data_dir=Path(tmp))
            admin, name = None, None
        else:
            name = f"wq_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
            settings = Settings(data_dir=Path(tmp), database_url=url)
        ctx = build_runtime(settings=settings, clock=FixedClock(NOW), migrate=True)
        try:
            with unit_of_work(ctx.sessions) as session:
                load_registry(session, jurisdictions=DEMO / "jurisdictions.csv",
                              contacts=DEMO / "contacts.csv", now=NOW, actor="bench")
            yield ctx
        finally:
            ctx.close()
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def single_loop(ctx: Runtime, docs: list[bytes]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for raw in docs:
        t0 = time.perf_counter()
        intake = parse_intake(raw, limits=ctx.intake_limits, now=NOW)
        with unit_of_work(ctx.sessions) as session:
            take_in(session, intake=intake, calendar=current_calendar(session), now=NOW,
                    actor="bench", operator_email=ctx.settings.operator_email,
                    cadences=ctx.settings.visit_cadences)
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - started, latencies


def batch_import(ctx: Runtime, docs: list[bytes]) -> float:
    started = time.perf_counter()
    report = import_intakes(ctx.sessions, source="bench.jsonl",
                            lines=((n, raw) for n, raw in enumerate(docs, start=1)),
                            limits=ctx.intake_limits, now=NOW, actor="bench",
                            operator_email=ctx.settings.operator_email,
                            cadences=ctx.settings.visit_cadences)
    elapsed = time.perf_counter() - started
    if len(report.stored) != len(docs):
        raise SystemExit(f"batch import stored {len(report.stored)} of {len(docs)}: "
                         f"{report.refused[:3]}")
    return elapsed


def measure(server_url: str | None, phase: Callable[[Runtime], object]) -> object:
    with fresh_context(server_url) as ctx:
        return phase(ctx)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(int(fraction * len(sorted_values)) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="documents (default 3000)")
    parser.add_argument("--quick", action="store_true", help="600 documents")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgresql+psycopg://user:pw@host/db); "
                        "default: SQLite files in a temporary directory")
    args = parser.parse_args()
    count = args.count or (600 if args.quick else 3000)
    docs = documents(count)
    loop_s, latencies = measure(args.database_url, lambda ctx: single_loop(ctx, docs))
    import_s = measure(args.database_url, lambda ctx: batch_import(ctx, docs))
    latencies.sort()
    p50, p95 = statistics.median(latencies) * 1000, percentile(latencies, 0.95) * 1000
    loop_rate, import_rate = count / loop_s, count / import_s
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"database: {backend}; documents: {count} ({len(templates())} kinds, cycled)")
    print(f"single intake, looped:  {loop_s:6.2f} s  {loop_rate:8.0f} cases/s  "
          f"ack p50 {p50:.2f} ms  p95 {p95:.2f} ms  max {latencies[-1] * 1000:.2f} ms")
    print(f"batch import:           {import_s:6.2f} s  {import_rate:8.0f} cases/s  "
          f"({import_rate / loop_rate:.1f}x the loop)")
    print(f"RESULT ack_p50_ms={p50:.2f} ack_p95_ms={p95:.2f} "
          f"import_cases_per_s={import_rate:.0f} single_loop_cases_per_s={loop_rate:.0f}")


if __name__ == "__main__":
    main()
