"""Intake acknowledgements per second and latency, on SQLite (or WEIQUAN_DATABASE_URL).

Each intake is what `weiquan intake` does after start-up: validate the JSON, compute the
deadline, store the case, parties, audit event and owed flow run in one transaction.

    .venv/bin/python bench/intake_bench.py [--count 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.clock import FixedClock  # noqa: E402
from app.context import build_context  # noqa: E402
from app.settings import Settings  # noqa: E402
from models.db.session import unit_of_work  # noqa: E402
from models.intake_schema import parse_intake  # noqa: E402
from models.service.calendar import current_calendar  # noqa: E402
from models.service.intake import take_in  # noqa: E402
from models.service.registry import load_registry  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
TEMPLATE = {
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        now = datetime(2026, 11, 24, 2, tzinfo=UTC)
        ctx = build_context(settings, clock=FixedClock(now))
        with unit_of_work(ctx.sessions) as session:
            load_registry(session, jurisdictions=DEMO / "jurisdictions.csv",
                          contacts=DEMO / "contacts.csv", now=now, actor="bench")
        documents = [
            json.dumps({**TEMPLATE, "external_ref": f"bench-{i}",
                        "received_at": (now - timedelta(minutes=i)).isoformat()},
                       ensure_ascii=False).encode()
            for i in range(args.count)
        ]
        latencies = []
        started = time.perf_counter()
        for raw in documents:
            t0 = time.perf_counter()
            intake = parse_intake(raw, limits=ctx.intake_limits, now=now)
            with unit_of_work(ctx.sessions) as session:
                take_in(session, intake=intake, calendar=current_calendar(session), now=now,
                        actor="bench")
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        ctx.close()
    latencies.sort()
    print(f"database: {settings.effective_database_url.split(':')[0]}")
    print(f"intakes: {args.count} in {elapsed:.2f} s")
    print(f"acknowledgements per second: {args.count / elapsed:.0f}")
    print(f"latency p50: {statistics.median(latencies) * 1000:.2f} ms  "
          f"p95: {latencies[int(0.95 * len(latencies)) - 1] * 1000:.2f} ms  "
          f"max: {latencies[-1] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
