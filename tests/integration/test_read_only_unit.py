"""`read_only`: the unit of work pages read in. On SQLite it must not take the write lock
(pages would queue behind each other and behind every intake); a change made in it is
refused and nothing of it is stored."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from models.db.orm import Contact
from models.db.session import ReadOnlyViolation, read_only, unit_of_work


def _contacts(ctx) -> int:
    with read_only(ctx.sessions) as session:
        return session.scalar(select(func.count()).select_from(Contact)) or 0


def test_a_writer_is_not_held_up_by_an_open_read(demo_ctx) -> None:
    before = _contacts(demo_ctx)
    wrote = threading.Event()

    def write() -> None:
        with unit_of_work(demo_ctx.sessions) as session:
            session.add(Contact(jurisdiction_code="990102", role="police", name="李警官",
                                post="派出所", phone=None, email="li@example.org"))
        wrote.set()

    with read_only(demo_ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == before
        writer = threading.Thread(target=write)
        writer.start()
        # With BEGIN IMMEDIATE here the writer would wait (busy_timeout) until this block ends.
        assert wrote.wait(timeout=10), "the writer waited for a read-only unit of work"
    writer.join()
    assert _contacts(demo_ctx) == before + 1


def test_a_change_inside_is_refused_and_not_stored(demo_ctx) -> None:
    before = _contacts(demo_ctx)
    with pytest.raises(ReadOnlyViolation):
        with read_only(demo_ctx.sessions) as session:
            session.add(Contact(jurisdiction_code="990102", role="police", name="王警官",
                                post="派出所", phone=None, email="wang@example.org"))
            session.flush()
    assert _contacts(demo_ctx) == before
