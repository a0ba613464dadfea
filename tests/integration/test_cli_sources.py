"""`weiquan source add|list|revoke`: the token is printed once and only its hash is stored;
the printed token files a case through the API; a revoked one no longer does."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.cli import main
from models.db.orm import AuditEvent, IntakeSource
from models.db.session import unit_of_work
from tests.conftest import SHARED, point_the_command_at
from web.app import create_app

DV = SHARED / "contract" / "intake" / "dv_strangulation.json"


@pytest.fixture
def cli(demo_ctx, monkeypatch, capsys):
    point_the_command_at(monkeypatch, settings=demo_ctx.settings)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_add_prints_the_token_once_and_stores_its_hash_only(cli, demo_ctx) -> None:
    code, out, _ = cli("source", "add", "hotline-12338", "--jurisdiction", "990102")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("wqs_") and len(token) > 40
    with unit_of_work(demo_ctx.sessions) as session:
        source = session.scalar(select(IntakeSource))
        assert source.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert source.jurisdiction_code == "990102"
        assert session.scalar(select(AuditEvent.kind).where(AuditEvent.actor == "cli")) \
            == "source_added"
    code, listing, _ = cli("source", "list")
    assert code == 0 and "hotline-12338" in listing and "990102" in listing
    assert token not in listing and token[4:12] not in listing
    code, _, err = cli("source", "add", "hotline-12338", "--jurisdiction", "99")
    assert code == 2 and "NAME" in err and "already exists" in err


def test_the_printed_token_files_a_case_until_revoked(cli, demo_ctx) -> None:
    token = cli("source", "add", "hotline-12338", "--jurisdiction", "99")[1].strip().splitlines()[-1]
    body = DV.read_bytes()
    with TestClient(create_app(demo_ctx)) as client:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        assert client.post("/api/intake", content=body, headers=headers).status_code == 201
        code, out, _ = cli("source", "revoke", "hotline-12338")
        assert code == 0 and "已撤销" in out
        assert client.post("/api/intake", content=body, headers=headers).status_code == 401
    assert "已撤销" in cli("source", "list")[1]
    code, _, err = cli("source", "revoke", "no-such-source")
    assert code == 2 and "NAME: source 'no-such-source' not found" in err
