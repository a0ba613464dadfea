"""Alembic environment: the URL comes from the caller (models.db.migrate) or WEIQUAN settings."""

from __future__ import annotations

from alembic import context

from models.db.orm import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from models.runtime.settings import load_settings

    return load_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from models.db.session import make_engine

    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a SQLite table (create, copy, drop, rename); dropping a table that
        # others point at (cases, jurisdictions) would trip the foreign keys. SQLite's own recipe
        # for such changes: foreign keys off around them (the pragma is ignored inside a
        # transaction: it goes to the driver's connection between transactions), then checked.
        _pragma(connection, "foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if sqlite:
            _pragma(connection, "foreign_keys=ON")
    if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
        raise RuntimeError(f"rows point at rows that do not exist after migrating: {broken[:10]}")


def _pragma(connection, setting: str) -> None:
    if connection.in_transaction():
        connection.commit()
    connection.connection.dbapi_connection.execute(f"PRAGMA {setting}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
