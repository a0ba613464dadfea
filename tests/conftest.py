"""Shared fixtures: a real database (SQLite file; PostgreSQL too when WEIQUAN_TEST_POSTGRES_URL
is set), a fixed clock, and an application context built the way the CLI builds it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from models.runtime.clock import FixedClock
from models.runtime.bootstrap import Runtime, build_runtime
from models.runtime.settings import Settings
from models.db.migrate import upgrade_to_head
from models.db.orm import Jurisdiction
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


FIXED_NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the tests' clock


def _load_demo(session, *, now: datetime) -> None:
    load_registry(session, jurisdictions=DEMO / "jurisdictions.csv",
                  contacts=DEMO / "contacts.csv", now=now, actor="test")


def _load_demo_registry(url: str) -> None:
    from models.db.session import make_engine, make_session_factory

    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            _load_demo(session, now=FIXED_NOW)
    finally:
        engine.dispose()  # SQLite: folds the WAL into the file before it is copied


def _postgres_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[dict[str, str] | None]:
    """Migrated template databases, empty and with the demo registry; each test copies one
    (fast) instead of migrating and loading."""
    if POSTGRES_URL is None:
        yield None
        return
    suffix = uuid.uuid4().hex[:8]
    names = {"empty": f"wq_template_{suffix}", "demo": f"wq_template_demo_{suffix}"}
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{names["empty"]}"'))
    upgrade_to_head(_postgres_url(names["empty"]))
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{names["demo"]}" TEMPLATE "{names["empty"]}"'))
    _load_demo_registry(_postgres_url(names["demo"]))
    yield names
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Migrate once; each test starts from a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "weiquan.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def sqlite_demo_template(sqlite_template, tmp_path_factory) -> Path:
    """The migrated template with the demo registry loaded (as demo_ctx would load it)."""
    path = tmp_path_factory.mktemp("demo-template") / "weiquan.db"
    shutil.copyfile(sqlite_template, path)
    _load_demo_registry(f"sqlite:///{path}")
    return path


@contextmanager
def database_copy(backend: str, *, directory: Path, sqlite_template: Path,
                  postgres_template: str | None) -> Iterator[str]:
    """A fresh database copied from a template (the file, or the PostgreSQL database);
    dropped afterwards on PostgreSQL."""
    if backend == "sqlite":
        path = directory / "weiquan.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"wq_test_{uuid.uuid4().hex[:10]}"
    # Pre-ping: a fault test restarts the server between the CREATE and the DROP.
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _postgres_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=backends())
def database_url(request, tmp_path, sqlite_template, postgres_templates) -> Iterator[str]:
    # A test that asks for the demo registry starts from a copy that already holds it.
    demo = "demo_ctx" in request.fixturenames
    with database_copy(
            request.param, directory=tmp_path,
            sqlite_template=request.getfixturevalue("sqlite_demo_template") if demo else sqlite_template,
            postgres_template=postgres_templates["demo" if demo else "empty"]
            if postgres_templates else None) as url:
        yield url


def point_the_command_at(monkeypatch, *, settings: Settings) -> None:
    """`weiquan` run in-process (`app.cli.main`) reads its settings from the environment, as
    it does on a machine: point it at this test's database and data directory."""
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.effective_database_url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(FIXED_NOW)


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    # Digests (a mail per cadre on every working day from 08:30) would join every sweep's
    # mailbox; their own tests switch them on (tests/integration/test_digests.py).
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    digests_enabled=False)


@pytest.fixture
def ctx(settings, clock) -> Iterator[Runtime]:
    context = build_runtime(settings=settings, clock=clock, migrate=True)
    yield context
    context.close()


@pytest.fixture
def demo_ctx(ctx) -> Runtime:
    """A context whose registry holds the demo jurisdictions and contacts: database_url
    copied it from a template, or (a module with its own database_url) it is loaded here."""
    with unit_of_work(ctx.sessions) as session:
        if session.scalar(select(func.count()).select_from(Jurisdiction)) == 0:
            _load_demo(session, now=ctx.clock.now())
    return ctx


@pytest.fixture
def sink(tmp_path):
    """The product's local mail sink on a free loopback port: a real SMTP exchange."""
    from notifications.sink import MailSink

    mail_sink = MailSink(directory=tmp_path / "mail", host="127.0.0.1", port=0)
    mail_sink.start()
    yield mail_sink
    mail_sink.stop()


@pytest.fixture
def mail_ctx(demo_ctx, sink) -> Runtime:
    """The demo context with its mail going to the test's sink."""
    demo_ctx.settings = demo_ctx.settings.model_copy(
        update={"sink_host": "127.0.0.1", "sink_port": sink.port, "smtp_host": None})
    return demo_ctx


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server per test process (per xdist worker) rather than per module: it
    migrates a fresh database when it starts, which took minutes on a loaded 2-core machine."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=600):
        yield


@pytest.fixture(autouse=True)
def _no_runtime_left_registered() -> Iterator[None]:
    """A test that registers its runtime for flows and tasks must not leave it to the next."""
    from models.runtime.process import register_runtime_factory

    yield
    register_runtime_factory(None)
