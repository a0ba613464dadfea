"""POST /api/intake: a source's token, its subtree, the size and rate limits, and the same
validation, deadline, routing and idempotency as `weiquan intake` — every status it answers,
and nothing stored on any refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.cli import main
from models.db.orm import AuditEvent, Case, Notice
from models.db.session import unit_of_work
from models.service.sources import add_source, revoke_source
from tests.conftest import SHARED, point_the_command_at
from tests.integration.test_cli_bad_arguments import row_counts
from web.app import create_app

DV = SHARED / "contract" / "intake" / "dv_strangulation.json"
LAND = SHARED / "contract" / "intake" / "land_rights_ordinary.json"
PERSONAL = ("刘某某", "张某某", "139-0000-0001", "东湖村3组")  # in the DV document


def document(path: Path = DV, **changes) -> dict:
    return {**json.loads(path.read_text(encoding="utf-8")), **changes}


def add(ctx, name: str, code: str) -> str:
    with unit_of_work(ctx.sessions) as session:
        return add_source(session, name=name, jurisdiction_code=code, now=ctx.clock.now(),
                          actor="test")[1]


@pytest.fixture
def token(demo_ctx) -> str:
    return add(demo_ctx, "hotline-12338", "99")


@pytest.fixture
def client(demo_ctx) -> Iterator[TestClient]:
    with TestClient(create_app(demo_ctx)) as test_client:
        yield test_client


def post(client: TestClient, body, token: str | None, **headers) -> object:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post("/api/intake", content=content,
                       headers={"Content-Type": "application/json", **headers})


def stored(ctx) -> dict[str, int]:
    """Row counts of every table but the request counter (a refused request is counted)."""
    counts = row_counts(ctx.settings.effective_database_url)
    counts.pop("api_rate_windows")
    return counts


def test_a_new_case_is_201_with_its_deadline_and_notices_and_no_personal_data(
        client, token, demo_ctx) -> None:
    response = post(client, document(), token)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"].startswith("WQ-2026-") and body["created"] is True
    with unit_of_work(demo_ctx.sessions) as session:
        case = session.scalar(select(Case))
        notices = session.scalars(select(Notice).order_by(Notice.id)).all()
        actors = set(session.scalars(select(AuditEvent.actor).where(AuditEvent.case_id == case.id)))
        due = body["deadline"].pop("response_due_at")
        assert datetime.fromisoformat(due) == case.response_due_at and due.endswith("+08:00")
        assert body["deadline"] == {"provisional": case.deadline_provisional, "tier": "ordinary",
                                    "tier_reason": case.tier_reason}
        assert body["notices"] == [{"kind": n.kind, "role": n.recipient_role,
                                    "jurisdiction": n.recipient_jurisdiction,
                                    "status": n.status.value} for n in notices]
    assert body["notices"], "a strangulation report goes up at once"
    assert actors == {"source:hotline-12338"}
    for personal in PERSONAL:
        assert personal not in response.text
    assert "@" not in response.text  # no mail addresses of the people told
    assert "set-cookie" not in response.headers  # no session on the API


def test_the_same_external_ref_again_is_200_with_the_stored_case(client, token, demo_ctx) -> None:
    first = post(client, document(), token).json()
    before = stored(demo_ctx)
    again = post(client, document(summary="再次来电，内容相同。"), token)
    assert again.status_code == 200
    assert {**again.json(), "created": True} == first
    assert stored(demo_ctx) == before


def test_a_bad_document_is_400_naming_every_field_and_stores_nothing(client, token, demo_ctx) -> None:
    before = stored(demo_ctx)
    response = post(client, document(channel="pigeon", summary=" ", parties=[{"role": "x"}]),
                    token)
    assert response.status_code == 400
    fields = {p["field"] for p in response.json()["problems"]}
    assert {"channel", "summary", "parties.0.role"} <= fields
    assert all(p["reason"] for p in response.json()["problems"])
    malformed = post(client, b'{"channel": [unclosed', token)
    assert malformed.status_code == 400
    assert malformed.json()["problems"][0]["field"] == "(document)"
    unknown = post(client, document(jurisdiction="990102009"), token)
    assert unknown.status_code == 400
    assert unknown.json()["problems"][0]["field"] == "jurisdiction"
    assert stored(demo_ctx) == before


def test_no_unknown_or_revoked_token_is_401_with_a_bearer_challenge(client, token, demo_ctx) -> None:
    with unit_of_work(demo_ctx.sessions) as session:
        revoke_source(session, name="hotline-12338", now=demo_ctx.clock.now(), actor="test")
    before = stored(demo_ctx)
    for bad in (None, "wqs_not-a-token-anyone-holds", token):
        response = post(client, document(), bad)
        assert response.status_code == 401, bad
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["problems"][0]["field"] == "Authorization"
    basic = post(client, document(), None, Authorization=f"Basic {token}")
    assert basic.status_code == 401
    assert stored(demo_ctx) == before


def test_outside_the_sources_subtree_is_403(client, token, demo_ctx) -> None:
    nanshan = add(demo_ctx, "petition-nanshan", "990102002")
    before = stored(demo_ctx)
    response = post(client, document(), nanshan)  # 东湖村 is not under 南山街道
    assert response.status_code == 403
    assert response.json()["problems"][0]["field"] == "jurisdiction"
    assert stored(demo_ctx) == before
    # Its external_ref taken by a case elsewhere: refused, and the case is not shown.
    assert post(client, document(), token).status_code == 201
    before = stored(demo_ctx)
    reused = post(client, document(jurisdiction="990102002001"), nanshan)
    assert reused.status_code == 403
    assert reused.json()["problems"][0]["field"] == "external_ref"
    assert "WQ-" not in reused.text
    assert stored(demo_ctx) == before


def test_over_the_size_limit_is_413_by_header_before_anything_else(client, demo_ctx) -> None:
    limit = demo_ctx.settings.max_intake_bytes
    before = stored(demo_ctx)
    # No token at all: the announced size is refused before the caller is even looked at.
    response = post(client, b" " * (limit + 1), None)
    assert response.status_code == 413
    assert response.json()["problems"][0]["field"] == "(document)"
    assert stored(demo_ctx) == before


def test_over_the_size_limit_is_413_by_counting_a_body_sent_without_its_length(
        client, token, demo_ctx) -> None:
    limit = demo_ctx.settings.max_intake_bytes
    def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to go by
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    before = stored(demo_ctx)
    response = client.post("/api/intake", content=chunks(),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413
    assert stored(demo_ctx) == before
    small = client.post("/api/intake", content=iter([json.dumps(document()).encode()]),
                        headers={"Authorization": f"Bearer {token}"})
    assert small.status_code == 201  # a chunked body within the limit is taken


def test_past_the_rate_limit_is_429_until_the_next_minute(demo_ctx, token) -> None:
    demo_ctx.settings = demo_ctx.settings.model_copy(update={"api_rate_per_minute": 2})
    demo_ctx.clock.at = demo_ctx.clock.at.replace(second=15)
    with TestClient(create_app(demo_ctx)) as client:
        assert post(client, document(), token).status_code == 201
        assert post(client, document(), token).status_code == 200
        before = stored(demo_ctx)
        refused = post(client, document(path=LAND), token)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "45"
        assert stored(demo_ctx) == before
        demo_ctx.clock.at += timedelta(seconds=45)
        assert post(client, document(path=LAND), token).status_code == 201


def test_another_source_has_its_own_allowance(demo_ctx, token) -> None:
    demo_ctx.settings = demo_ctx.settings.model_copy(update={"api_rate_per_minute": 1})
    other = add(demo_ctx, "petition-county", "990102")
    with TestClient(create_app(demo_ctx)) as client:
        assert post(client, document(), token).status_code == 201
        assert post(client, document(), token).status_code == 429
        assert post(client, document(), other).status_code == 200


def test_the_at_once_notices_are_the_ones_weiquan_intake_queues(
        client, token, demo_ctx, tmp_path, monkeypatch, capsys) -> None:
    api_number = post(client, document(), token).json()["number"]
    cli_copy = tmp_path / "dv.json"
    cli_copy.write_text(json.dumps(document(external_ref="cli-copy"), ensure_ascii=False),
                        encoding="utf-8")
    point_the_command_at(monkeypatch, settings=demo_ctx.settings)
    assert main(["intake", "--json", str(cli_copy)]) == 0
    cli_number = json.loads(capsys.readouterr().out)["number"]

    def queued(number: str) -> list[tuple]:
        with unit_of_work(demo_ctx.sessions) as session:
            case = session.scalar(select(Case).where(Case.number == number))
            return [(n.kind, n.recipient_role, n.recipient_jurisdiction, n.contact_id,
                     n.to_address, n.status, n.must_confirm, n.priority)
                    for n in session.scalars(select(Notice).where(Notice.case_id == case.id)
                                             .order_by(Notice.id))]

    assert queued(api_number) and queued(api_number) == queued(cli_number)


def test_other_paths_and_methods_under_api_answer_json(client, token) -> None:
    wrong_method = client.get("/api/intake")
    assert wrong_method.status_code == 405 and wrong_method.json()["problems"]
    missing = client.post("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["problems"]
