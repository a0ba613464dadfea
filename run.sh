#!/usr/bin/env bash
# One command: set up (first time) and run the main job — database, Prefect server and UI,
# the flow service and a local mail sink, with demo data. Ctrl-C stops all of it.
set -euo pipefail
cd "$(dirname "$0")"
# Cached bytecode matters: prefect alone is ~2x slower to import without it.
unset PYTHONDONTWRITEBYTECODE
bash scripts/bootstrap.sh
exec .venv/bin/weiquan up "$@"
