#!/usr/bin/env bash
# Creates .venv and installs weiquan with its test tools; a no-op when pyproject.toml has not
# changed since the last install. Needs only python3 (3.11+) and the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.weiquan-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
  .venv/bin/uv pip install --quiet --python .venv/bin/python -e ".[dev]"
  # Compile once: a machine with PYTHONDONTWRITEBYTECODE set would otherwise recompile
  # prefect on every start.
  .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null 2>&1 || true
  echo "$want" > "$stamp"
fi
