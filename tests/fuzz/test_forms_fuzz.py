"""The board's forms under generated input (sign-in, the intake form, the visit form): never
a 5xx, a refusal is a 4xx naming the field, and nothing is stored on a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from hypothesis import event, given, settings
from hypothesis import strategies as st

from models.db.session import unit_of_work
from models.service import users
from tests.fuzz.conftest import EXAMPLES
from tests.fuzz.strategies import table_counts
from tests.web.conftest import PASSWORD, at, csrf_of, sign_in, store_case
from web.app import create_app

FORM_EXAMPLES = max(100, EXAMPLES // 5)  # a few hundred in CI: each is two requests

# What a browser can send: any text that encodes as UTF-8 (no lone surrogates), controls
# included, and the huge.
form_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x9F), max_size=8),
    st.sampled_from(["", " ", "\x00", "下周二", "2026-02-30T09:00", "0001-01-01T00:00",
                     "1900-01-01T08:00", "2026-11-23T09:00+14:01", "1764000000", "-1", "131",
                     "²", "٣", "9" * 5000, "2026-11-23T25:61", "990102001001\x00"]),
    st.builds(lambda piece, times: piece * times, st.sampled_from(["x", "某", "\x00"]),
              st.integers(100, 20_000)),
)


def mutate(base: dict[str, str], *, fields: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(fields), form_text, max_size=4).map(
        lambda changes: {**base, **changes})


def refused_naming_a_field(response) -> bool:
    return 400 <= response.status_code < 500 and (
        'id="error-' in response.text or 'role="alert"' in response.text)


@pytest.fixture(scope="module")
def board(fuzz_ctx) -> Iterator[tuple]:
    """The app over the fuzz database with a cadre of 东湖村 and a case with a visit plan."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "password_hasher", lambda: cheap)
        users._dummy_hash.cache_clear()
        with unit_of_work(fuzz_ctx.sessions) as session:
            users.add_user(session, username="donghu", password=PASSWORD, role="cadre",
                           jurisdiction_code="990102001001", now=fuzz_ctx.clock.now(), actor="test")
        number = store_case(fuzz_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                            category="domestic_violence", tier=None, risk=["threat_to_kill"])
        fuzz_ctx.clock.at = at("2026-11-24T10:00:00")
        app = create_app(fuzz_ctx)
        cadre = TestClient(app)
        assert sign_in(cadre, "donghu").status_code == 303
        yield app, cadre, number
        cadre.close()
        users._dummy_hash.cache_clear()


@settings(max_examples=FORM_EXAMPLES)
@given(username=form_text, password=form_text)
def test_sign_in_answers_4xx_or_signs_in(board, fuzz_ctx, username, password):
    app, _, _ = board
    before = table_counts(fuzz_ctx.sessions)
    client = TestClient(app)
    try:
        token = csrf_of(client.get("/signin").text)
        response = client.post("/signin", data={"username": username, "password": password,
                                                "csrf_token": token}, follow_redirects=False)
    finally:
        client.close()
    event(f"HTTP {response.status_code}")
    assert response.status_code in (303, 401, 422), response.status_code
    if response.status_code == 422:
        assert "用户名（username）" in response.text or "密码（password）" in response.text
    after = table_counts(fuzz_ctx.sessions)
    if response.status_code == 422:  # refused before any look-up: nothing written
        assert after == before
    if response.status_code == 401:
        # A failed sign-in is counted (throttling) and audited, and nothing else is written.
        grown = {table for table in after if after[table] != before[table]}
        assert grown <= {"signin_failures", "signin_locks", "audit_events"}, grown


INTAKE_FORM = {"channel": "online", "received_at": "2026-11-23T15:40",
               "jurisdiction": "990102001001", "category": "domestic_violence",
               "summary": "来访反映家暴（模糊测试）", "party-0-role": "victim",
               "party-0-name": "林某", "party-0-phone": "139-0000-0003", "party-0-age": "36"}
INTAKE_FIELDS = [*INTAKE_FORM, "tier", "external_ref", "assigned_by", "due_at",
                 "mediation_attempts", "party-0-address", "party-1-role", "party-1-age",
                 "reporter_name", "reporter_phone", "risk_indicators"]


@settings(max_examples=FORM_EXAMPLES)
@given(form=mutate(INTAKE_FORM, fields=INTAKE_FIELDS))
def test_the_intake_form_stores_one_case_or_names_the_field(board, fuzz_ctx, form):
    _, cadre, _ = board
    before = table_counts(fuzz_ctx.sessions)
    token = csrf_of(cadre.get("/intake").text)
    response = cadre.post("/intake", data={**form, "csrf_token": token}, follow_redirects=False)
    event(f"HTTP {response.status_code}")
    after = table_counts(fuzz_ctx.sessions)
    if response.status_code == 303:
        assert after["cases"] == before["cases"] + 1 or (
            form.get("external_ref") and after == before)
    else:
        assert refused_naming_a_field(response), response.status_code
        assert after == before


VISIT_FORM = {"visited_at": "2026-11-24T09:00", "visited_by": "陈美华", "mode": "home",
              "met_alone": "on", "needs": "", "condition": "", "help_given": "",
              "next_visit_on": ""}


@settings(max_examples=FORM_EXAMPLES)
@given(form=mutate(VISIT_FORM, fields=list(VISIT_FORM)))
def test_the_visit_form_records_one_visit_or_names_the_field(board, fuzz_ctx, form):
    _, cadre, number = board
    before = table_counts(fuzz_ctx.sessions)
    token = csrf_of(cadre.get(f"/cases/{number}/visit").text)
    response = cadre.post(f"/cases/{number}/visit", data={**form, "csrf_token": token},
                          follow_redirects=False)
    event(f"HTTP {response.status_code}")
    after = table_counts(fuzz_ctx.sessions)
    if response.status_code == 303:
        assert after["visits"] == before["visits"] + 1
    else:
        assert refused_naming_a_field(response), response.status_code
        assert after == before
