"""The board as an ASGI app factory for an outside server, so it can run behind several
uvicorn worker processes (a county or a province, README):

    weiquan db upgrade
    uvicorn --factory web.asgi:app_from_environment --host 127.0.0.1 --port 8030 --workers 4

Each worker process builds its own runtime from the WEIQUAN_ environment. Workers do not
migrate: four processes racing Alembic on start-up is what `weiquan db upgrade`, run once
before them, avoids.
"""

from __future__ import annotations

from fastapi import FastAPI

from models.runtime.bootstrap import build_runtime
from web.app import create_app


def app_from_environment() -> FastAPI:
    return create_app(build_runtime(migrate=False))
