"""Opening a case page shows personal data: who opened which case and when is audited, once
per reader per case per 10 minutes (reloads while working on it add nothing)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models.db.orm import AuditEvent, Case
from models.db.session import unit_of_work
from models.service.case_page import CASE_OPENED
from tests.web.conftest import store_case


def opened(ctx) -> list[tuple[str, str, object]]:
    with unit_of_work(ctx.sessions) as session:
        rows = session.execute(select(Case.number, AuditEvent.actor, AuditEvent.at)
                               .join(Case, Case.id == AuditEvent.case_id)
                               .where(AuditEvent.kind == CASE_OPENED)
                               .order_by(AuditEvent.id)).all()
    return [tuple(row) for row in rows]


def test_opening_a_case_is_audited_once_per_reader_per_ten_minutes(client_for, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-20T09:00")
    donghu, dhz = client_for("donghu"), client_for("dhz")
    first_at = web_ctx.clock.now()
    for _ in range(3):
        assert donghu.get(f"/cases/{number}").status_code == 200
    assert dhz.get(f"/cases/{number}").status_code == 200
    assert opened(web_ctx) == [(number, "web:donghu", first_at), (number, "web:dhz", first_at)]
    web_ctx.clock.at += timedelta(minutes=9, seconds=59)
    donghu.get(f"/cases/{number}")
    assert len(opened(web_ctx)) == 2
    web_ctx.clock.at += timedelta(seconds=1)
    donghu.get(f"/cases/{number}")
    assert opened(web_ctx)[-1] == (number, "web:donghu", web_ctx.clock.now())


def test_a_case_out_of_reach_leaves_no_read_row(client_for, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-20T09:00")
    assert client_for("xiling").get(f"/cases/{number}").status_code == 404
    assert opened(web_ctx) == []


def test_reads_are_kept_off_the_cases_timeline(client_for, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-20T09:00")
    page = client_for("donghu").get(f"/cases/{number}").text
    assert CASE_OPENED not in page
