"""Status columns hold their domain enums: the ORM refuses another value before it reaches the
database, the database refuses it too (CHECK constraints, migration 0004, SQLite and
PostgreSQL), and the migration goes up, down and up again over a database with data."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from models.db.migrate import alembic_config
from models.db.orm import Case, Incident, Jurisdiction, Notice, Referral, User, VisitPlan
from models.db.session import unit_of_work
from models.domain.procedure import Status
from models.domain.statuses import NoticeStatus
from tests.integration.test_casework import DV, LAND, refer, take_in_doc

TABLES = (Jurisdiction, Case, Notice, Referral, VisitPlan, Incident, User)


@pytest.fixture
def stored(demo_ctx):
    """A DV case (at-once notices, a visit plan) and a land-rights case with a referral."""
    take_in_doc(demo_ctx, "dv_strangulation", **DV)
    refer(demo_ctx, take_in_doc(demo_ctx, "land_rights_ordinary", **LAND),
          when="2026-10-12T11:00:00")
    return demo_ctx


def raw(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.mark.parametrize("sql", [
    pytest.param("UPDATE cases SET status = 'opened'", id="case-status"),
    pytest.param("UPDATE cases SET tier = 'urgent'", id="case-tier"),
    pytest.param("UPDATE cases SET pause_reason = 'holiday'", id="case-pause-reason"),
    pytest.param("UPDATE notices SET status = 'lost'", id="notice-status"),
    pytest.param("UPDATE referrals SET status = 'closed'", id="referral-status"),
    pytest.param("UPDATE visit_plans SET status = 'paused'", id="plan-status"),
    pytest.param("UPDATE jurisdictions SET level = 'district'", id="jurisdiction-level"),
])
def test_the_database_refuses_a_value_outside_the_enum(stored, sql):
    stored.engine.dispose()
    with pytest.raises(IntegrityError, match=r"(?i)check constraint"):
        raw(stored.settings.database_url, sql)


def test_the_orm_refuses_it_before_the_database(stored):
    with pytest.raises(StatementError, match="opened"), unit_of_work(stored.sessions) as session:
        session.scalars(select(Case)).first().status = "opened"
    with unit_of_work(stored.sessions) as session:  # nothing half-stored; values read as enums
        case = session.scalars(select(Case)).first()
        assert case.status is Status.ACCEPTED and case.status == "accepted"
        assert {n.status for n in session.scalars(select(Notice))} == {NoticeStatus.QUEUED}


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.__tablename__: conn.scalar(select(func.count()).select_from(t))
                    for t in TABLES}
    finally:
        engine.dispose()


def test_migration_up_down_up_keeps_the_rows(stored):
    url = stored.settings.database_url
    stored.engine.dispose()
    before = counts(url)
    assert before["notices"] and before["referrals"] and before["visit_plans"]
    config = alembic_config(url)
    command.downgrade(config, "0003")
    raw(url, "UPDATE referrals SET status = 'closed'")  # no constraint at 0003
    raw(url, "UPDATE referrals SET status = 'open'")
    command.upgrade(config, "head")
    command.downgrade(config, "0003")
    command.upgrade(config, "head")
    assert counts(url) == before
    with pytest.raises(IntegrityError):
        raw(url, "UPDATE referrals SET status = 'closed'")


def test_migration_names_the_rows_it_cannot_constrain_and_changes_nothing(stored):
    url = stored.settings.database_url
    stored.engine.dispose()
    config = alembic_config(url)
    command.downgrade(config, "0003")
    raw(url, "UPDATE cases SET status = 'opened'")
    with pytest.raises(RuntimeError, match=r"cases\.status = 'opened': 2 row\(s\)"):
        command.upgrade(config, "head")
    raw(url, "UPDATE jurisdictions SET level = 'district' WHERE code = '990102'")  # still free
    raw(url, "UPDATE jurisdictions SET level = 'county' WHERE code = '990102'")
    raw(url, "UPDATE cases SET status = 'accepted'")
    command.upgrade(config, "head")
