"""models/db/bulk.py on SQLite and PostgreSQL: rows written by `insert_rows` read back as the
same rows written by Core's own executemany (the column types' processing, the scalar
defaults), `update_rows` changes the rows it names and no other, and `one_of` finds exactly
the listed ids or keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from models.db.bulk import insert_rows, one_of, update_rows
from models.db.orm import AuditEvent, Notice
from models.db.session import unit_of_work

BEIJING = timezone(timedelta(hours=8))
AT = datetime(2026, 10, 14, 9, 30, 15, 123456, tzinfo=BEIJING)


def notice_row(key: str, *, due_at: datetime, status: str = "queued") -> dict[str, object]:
    return {"key": key, "case_id": None, "kind": "reminder_before", "escalation_level": 1,
            "recipient_role": "federation_chair", "recipient_jurisdiction": "990102001001",
            "contact_id": None, "to_address": "chair@example.org", "due_at": due_at,
            "status": status, "attempts": 0, "next_attempt_at": due_at, "created_at": AT,
            "priority": 3, "last_error": ""}


def columns_of(notice: Notice) -> dict[str, object]:
    return {column.name: getattr(notice, column.key) for column in Notice.__table__.columns
            if column.name not in ("id", "key")}


def test_insert_rows_stores_what_core_stores(ctx):
    rows = [notice_row(f"n{i}", due_at=AT + timedelta(hours=i), status=status)
            for i, status in enumerate(["queued", "failed", "queued", "sent"])]
    with unit_of_work(ctx.sessions) as session:
        insert_rows(session, Notice.__table__, rows)
        session.execute(insert(Notice.__table__),
                        [{**row, "key": f"core-{row['key']}"} for row in rows])
    with unit_of_work(ctx.sessions) as session:
        stored = {n.key: n for n in session.scalars(select(Notice))}
    assert len(stored) == 2 * len(rows)
    for row in rows:
        mine, core = stored[row["key"]], stored[f"core-{row['key']}"]
        assert columns_of(mine) == columns_of(core)
        # The instant kept, in UTC; the defaults of the columns left out filled in.
        assert mine.due_at == row["due_at"] and mine.due_at.tzinfo is UTC
        assert (mine.reason, mine.must_confirm, mine.acknowledged_by) == ("", False, "")
        assert mine.status == row["status"]


def test_insert_rows_json_and_missing_defaults(ctx):
    events = [{"case_id": None, "at": AT, "actor": "bench", "kind": "intake", "note": "受理",
               "detail": {"tier": "ordinary", "n": i}} for i in range(3)]
    with unit_of_work(ctx.sessions) as session:
        insert_rows(session, AuditEvent.__table__, events)
        # `detail` defaults to a callable (a new dict): it must be given, and the error says so.
        with pytest.raises(ValueError, match="detail"):
            insert_rows(session, AuditEvent.__table__,
                        [{k: v for k, v in events[0].items() if k != "detail"}])
    with unit_of_work(ctx.sessions) as session:
        stored = list(session.scalars(select(AuditEvent).where(AuditEvent.actor == "bench")
                                      .order_by(AuditEvent.id)))
    assert [(e.detail, e.at, e.note) for e in stored] == [
        ({"tier": "ordinary", "n": i}, AT, "受理") for i in range(3)]


def test_update_rows_changes_the_named_rows_only(ctx):
    with unit_of_work(ctx.sessions) as session:
        insert_rows(session, Notice.__table__, [notice_row(f"u{i}", due_at=AT) for i in range(5)])
    with unit_of_work(ctx.sessions) as session:
        ids = dict(session.execute(select(Notice.key, Notice.id)).all())
        moved = {ids["u1"]: AT + timedelta(days=1), ids["u3"]: AT + timedelta(days=3)}
        update_rows(session, Notice.__table__, key="id", columns=("next_attempt_at", "status"),
                    rows=[(notice_id, at, "failed") for notice_id, at in moved.items()])
    with unit_of_work(ctx.sessions) as session:
        after = {n.id: (n.next_attempt_at, n.status) for n in session.scalars(select(Notice))}
    assert after == {notice_id: (moved[notice_id], "failed") if notice_id in moved
                     else (AT, "queued") for notice_id in ids.values()}


def test_one_of_finds_exactly_the_listed_values(ctx):
    with unit_of_work(ctx.sessions) as session:
        insert_rows(session, Notice.__table__, [notice_row(f"k{i}", due_at=AT) for i in range(6)])
    by_key = select(Notice.key).where(one_of(Notice.key, "keys")).order_by(Notice.key)
    by_id = select(Notice.key).where(one_of(Notice.id, "ids"), Notice.status == "queued")
    with unit_of_work(ctx.sessions) as session:
        ids = dict(session.execute(select(Notice.key, Notice.id)).all())
        assert list(session.scalars(by_key, {"keys": ["k4", "k1", "nope", "k1"]})) == ["k1", "k4"]
        assert list(session.scalars(by_key, {"keys": []})) == []
        assert set(session.scalars(by_id, {"ids": [ids["k0"], ids["k5"]]})) == {"k0", "k5"}
        # Negated, it is the complement (a condition, not a value compared with true).
        assert set(session.scalars(select(Notice.key).where(
            ~one_of(Notice.key, "keys")), {"keys": ["k0"]})) == {f"k{i}" for i in range(1, 6)}
