"""Shared fixtures: a real database (SQLite file; PostgreSQL too when WEIQUAN_TEST_POSTGRES_URL
is set), a fixed clock, and an application context built the way the CLI builds it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.clock import FixedClock
from app.context import AppContext, build_context
from app.settings import Settings
from models.db.migrate import upgrade_to_head
from models.db.session import unit_of_work
from models.service.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DEMO = REPO / "data" / "demo"
POSTGRES_URL = os.environ.get("WEIQUAN_TEST_POSTGRES_URL")

# Tests must never talk to a developer's Prefect server or write into the repo's var/.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgres", id="postgres", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(POSTGRES_URL is None, reason="WEIQUAN_TEST_POSTGRES_URL not set")]))
    return params


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A migrated template database; each test copies it (fast) instead of migrating."""
    if POSTGRES_URL is None:
        yield None
        return
    name = f"wq_template_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade_to_head(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=backends())
def database_url(request, tmp_path, postgres_template) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'weiquan.db'}"
        return
    name = f"wq_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def ctx(settings, clock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    context.close()


@pytest.fixture
def demo_ctx(ctx) -> AppContext:
    """A context whose registry holds the demo jurisdictions and contacts."""
    with unit_of_work(ctx.sessions) as session:
        load_registry(session, jurisdictions=DEMO / "jurisdictions.csv",
                      contacts=DEMO / "contacts.csv", now=ctx.clock.now(), actor="test")
    return ctx
