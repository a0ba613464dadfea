"""Bad input on the web: a form error beside the field it names (422), or, where no form
shows it, a page naming the field and the reason (422); a refusal by role is a 403 page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select

from models.db.orm import AuditEvent, Visit
from models.db.session import unit_of_work
from models.domain.errors import InputError
from models.domain.procedure import IllegalMoveError
from tests.web.conftest import at, csrf_of, store_case

NOW = "2026-11-24T10:00:00"


def stored(ctx) -> tuple[int, int]:
    with unit_of_work(ctx.sessions) as session:
        return (session.scalar(select(func.count()).select_from(Visit)),
                session.scalar(select(func.count()).select_from(AuditEvent)))


@pytest.mark.parametrize(("field", "value"), [
    pytest.param("visited_at", "下周二", id="malformed-time"),
    pytest.param("visited_at", "2026-02-30T09:00", id="impossible-time"),
    pytest.param("next_visit_on", "2026-02-30", id="impossible-date"),
    pytest.param("next_visit_on", "20261220", id="compact-date"),
    pytest.param("mode", "by_pigeon", id="unknown-mode"),
])
def test_a_bad_visit_field_is_shown_beside_it_and_nothing_is_stored(client_for, web_ctx, field,
                                                                     value) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    web_ctx.clock.at = at(NOW)
    client = client_for("donghu")
    form = {"csrf_token": csrf_of(client.get(f"/cases/{number}/visit").text),
            "visited_at": "2026-11-24T09:00", "visited_by": "陈美华", "mode": "home",
            "met_alone": "on", field: value}
    before = stored(web_ctx)
    refused = client.post(f"/cases/{number}/visit", data=form)
    assert refused.status_code == 422 and f'id="error-{field}"' in refused.text
    assert "Traceback" not in refused.text
    assert stored(web_ctx) == before


@pytest.mark.parametrize("error", [
    pytest.param(InputError(field="under", reason="'12x' must be digits only"), id="one-field"),
    pytest.param(IllegalMoveError(case_number="WQ-2026-000001", move="close",
                                  reason="the answer has not been recorded"), id="subclass"),
])
def test_input_no_form_shows_is_a_page_naming_the_field(app, error) -> None:
    def refuse() -> None:
        raise error

    app.add_api_route("/refuse", refuse)
    with TestClient(app) as client:
        page = client.get("/refuse")
    assert page.status_code == 422
    assert escape(f"{error.field}：{error.reason}") in page.text and "输入有误" in page.text
