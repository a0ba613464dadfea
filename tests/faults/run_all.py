"""The fault suite in one command, with its table:

    .venv/bin/python -m tests.faults.run_all [--full] [--postgres URL]

--full: 20 kills, 1,000 cases, a Prefect server of its own (scenario 3: the owed flow runs
caught up; its first start may take minutes), and PostgreSQL restarted mid-run
(`pg_ctlcluster 15 main restart`, as root: every user of that cluster sees it). --postgres (default
WEIQUAN_TEST_POSTGRES_URL) runs the PostgreSQL scenarios; without one they are skipped.
Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("scenario", "db", "expected", "delivered", "lost", "duplicated", "note")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the full sizes and the PostgreSQL restart")
    parser.add_argument("--postgres", default=os.environ.get("WEIQUAN_TEST_POSTGRES_URL"),
                        help="postgresql+psycopg://… of a server the tests may create databases on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rows_file = Path(scratch) / "rows.jsonl"
        env = {**os.environ, "WEIQUAN_FAULTS_REPORT": str(rows_file),
               "WEIQUAN_FAULTS_FULL": "1" if args.full else "0"}
        if args.postgres:
            env["WEIQUAN_TEST_POSTGRES_URL"] = args.postgres
        status = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-q", "-m", "faults",
                                 "tests/faults", "-rs"], cwd=REPO, env=env).returncode
        rows = [json.loads(line) for line in rows_file.read_text(encoding="utf-8").splitlines()] \
            if rows_file.exists() else []
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in COLUMNS))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
