"""附表3 at scale: exporting a 100,000-visit ledger, its time and peak memory.

A fresh SQLite database (migrated to head, the demo registry loaded) gets --families
families on the high-risk ledger in 东湖村, each with --visits-per visits with notes of
typical length (100,000 visit rows by default). Each measurement runs in a child process of
its own, so its peak RSS (resource.getrusage ru_maxrss) is its own:

- baseline: the same rows streamed from the same query into a CSV file (csv.writer) — what
  the work costs without a workbook;
- xlsx (de-identified): `export_ledger`, both sheets, constant-memory XlsxWriter;
- xlsx (encrypted): the same with the personal columns, encrypted with a password.

    .venv/bin/python bench/export_bench.py [--quick] [--families 20000 --visits-per 5]

The last line is `RESULT …` with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from models.db.migrate import upgrade_to_head  # noqa: E402
from models.db.orm import Case, Party, Visit, VisitPlan  # noqa: E402
from models.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from models.service.registry import load_registry  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
NOTE = "家中经济困难，需要法律咨询和临时救助；孩子上学正常，当事人情绪较前稳定。"


def build(url: str, *, families: int, visits_per: int) -> None:
    upgrade_to_head(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with unit_of_work(sessions) as session:
        load_registry(session, jurisdictions=DEMO / "jurisdictions.csv",
                      contacts=DEMO / "contacts.csv", now=NOW, actor="bench")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for first in range(1, families + 1, 5000):
            ids = range(first, min(first + 5000, families + 1))
            conn.execute(insert(Case), [dict(
                id=i, number=f"WQ-2024-{i:06d}", channel="visit", category="domestic_violence",
                tier="ordinary", status="accepted", jurisdiction_code="990102001001",
                received_at=start, summary="测试", risk_indicators=[], risk_level="high",
                response_due_at=start + timedelta(days=10), response_due_date=start.date(),
                created_at=start) for i in ids])
            conn.execute(insert(Party), [dict(case_id=i, role="victim", name=f"测试{i}",
                                              phone=f"139{i:08d}", age=20 + i % 50,
                                              address=f"东湖村{i % 9}组{i}号") for i in ids])
            conn.execute(insert(VisitPlan), [dict(
                id=i, case_id=i, ledger="high_risk", level="high", reason="受理时评估：家庭暴力",
                started_at=start, next_due_at=start + timedelta(days=400), status="active",
                created_at=start) for i in ids])
            conn.execute(insert(Visit), [dict(
                plan_id=i, case_id=i, visited_at=start + timedelta(days=14 * k),
                visited_by="陈美华", mode="home", met_alone=True, needs=NOTE, condition=NOTE,
                help_given=NOTE, recorded_at=start, recorded_by="bench")
                for i in ids for k in range(visits_per)])
    engine.dispose()


def child(mode: str, url: str, out: Path) -> None:
    from models.domain.access import Role
    from models.domain.ledgers import ExportMode, LedgerForm, Requester
    from models.service.exports import _family_rows, export_ledger

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    began = time.perf_counter()
    if mode == "csv":
        rows = 0
        with unit_of_work(sessions) as session, out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for row in _family_rows(session, under="990102", period=None):
                writer.writerow(row)
                rows += 1
    else:
        result = export_ledger(
            sessions, requester=Requester(actor="bench", role=Role.ADMIN, scope=None),
            form=LedgerForm.FOCUS_FAMILIES, under="990102", period=None, out=out, now=NOW,
            mode=ExportMode(password="bench-password" if mode == "encrypted" else None,
                            deidentified=mode == "deidentified"))
        rows = result.rows
    seconds = time.perf_counter() - began
    print(json.dumps({"rows": rows, "seconds": round(seconds, 2),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "bytes": out.stat().st_size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--families", type=int, default=20_000)
    parser.add_argument("--visits-per", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2,000 families × 5 visits")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
        return
    families = 2_000 if args.quick else args.families
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        began = time.perf_counter()
        build(url, families=families, visits_per=args.visits_per)
        print(f"built {families} families × {args.visits_per} visits in "
              f"{time.perf_counter() - began:.1f} s")
        figures = {}
        for mode, name in (("csv", "rows.csv"), ("deidentified", "d.xlsx"), ("encrypted", "e.xlsx")):
            done = subprocess.run([sys.executable, __file__, "--child", mode, url,
                                   f"{directory}/{name}"], capture_output=True, text=True, check=True)
            figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            f = figures[mode]
            print(f"{mode:<13} {f['rows']:>8} rows  {f['seconds']:>7.2f} s  peak RSS "
                  f"{f['peak_rss_mib']:>7.1f} MiB  file {f['bytes'] / 1e6:.1f} MB")
    print("RESULT " + " ".join(f"{mode}_rows={f['rows']} {mode}_s={f['seconds']} "
                               f"{mode}_rss_mib={f['peak_rss_mib']}" for mode, f in figures.items()))


if __name__ == "__main__":
    main()
