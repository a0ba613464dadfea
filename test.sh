#!/usr/bin/env bash
# One command: set up (first time) and run the tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
# Cached bytecode matters: prefect alone is ~2x slower to import without it.
unset PYTHONDONTWRITEBYTECODE
bash scripts/bootstrap.sh
# One worker per core (pass -n 0 for a single process, e.g. with --pdb). A module stays on one
# worker, so a module-scoped fixture (the browser, a Prefect test server) starts once.
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
