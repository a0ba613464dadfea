"""The planner's per-batch reads find a batch's rows by case first. Sent notices pile up for
as long as the office keeps its outbox; if SQLite searched `notices` by status (as it did
with an index on case_id alone), every batch of a few hundred cases read every sent notice
of the database. The plans are asked of SQLite itself, for the statements the planner runs."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from models.db.session import unit_of_work
from models.service import owed

# (statement, table): the batch reads whose other condition has an index of its own
BATCH_READS = [
    pytest.param(owed._SENT_AT_ONCE_OF_CASES_SQLITE, "notices", id="sent-at-once-reports"),
    pytest.param(owed._OPEN_REFERRALS, "referrals", id="referrals-awaiting-feedback"),
    pytest.param(owed._ACTIVE_PLANS, "visit_plans", id="active-visit-plans"),
]


@pytest.mark.parametrize(("statement", "table"), BATCH_READS)
def test_a_batch_read_searches_by_case_first(ctx, statement, table):
    if not ctx.settings.effective_database_url.startswith("sqlite"):
        pytest.skip("SQLite's plan (PostgreSQL plans by its statistics)")
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, sql, parameters, context, executemany):  # noqa: ARG001
        sent.append((sql, parameters))

    with unit_of_work(ctx.sessions) as session:
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", capture)
        try:
            connection.execute(statement, {"ids": list(range(1, 501))}).all()
        finally:
            event.remove(connection, "before_cursor_execute", capture)
        sql, parameters = sent[-1]  # the statement as the driver received it
        plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}",
                                                             parameters)]
    searches = [step for step in plan if step.startswith(f"SEARCH {table} ")]
    assert searches and "(case_id=?" in searches[0], plan
