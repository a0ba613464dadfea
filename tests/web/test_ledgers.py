"""台账 and 统计 on the board: allowed and refused by role and subtree, CSRF, audited."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from models.db.orm import AuditEvent
from models.db.session import unit_of_work
from tests.integration.ledger_data import read_xlsx, rows_of
from tests.web.conftest import VICTIM_NAME, csrf_of, store_case

PASSWORD = "download-pass-1"


@pytest.fixture
def cases(web_ctx):
    """A DV family in 东湖村 and one in 南山社区 (both on the high-risk ledger)."""
    store_case(web_ctx, jurisdiction="990102001001", received="2026-10-09T10:00",
               category="domestic_violence")
    store_case(web_ctx, jurisdiction="990102002001", received="2026-10-09T11:00",
               category="domestic_violence", name="南山某某")
    return web_ctx


def download(client, **fields):
    token = csrf_of(client.get("/ledgers").text)
    return client.post("/ledgers/export", data={"csrf_token": token, **fields})


def test_a_supervisor_downloads_her_subtree_encrypted(cases, client_for):
    response = download(client_for("dhz"), form="3", under="990102001", protect="password",
                        password=PASSWORD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = read_xlsx_bytes(response.content, password=PASSWORD)
    names = {r[1] for r in rows_of(book, "附表3") if isinstance(r[0], int)}
    assert names == {VICTIM_NAME}
    with unit_of_work(cases.sessions) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == "ledger_exported")).one()
    assert (event.actor, event.detail["under"], event.detail["rows"]) == ("web:dhz", "990102001", 1)


def read_xlsx_bytes(content: bytes, *, password: str | None = None):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "f.xlsx"
        path.write_bytes(content)
        return read_xlsx(path, password=password)


@pytest.mark.parametrize(("user", "fields", "says"), [
    ("dhz", {"form": "3", "under": "990102002", "protect": "password", "password": PASSWORD},
     "outside your jurisdiction"),
    ("donghu", {"form": "3", "under": "990102001", "protect": "password", "password": PASSWORD},
     "outside your jurisdiction"),
    ("county", {"form": "3", "under": "990102", "protect": "password", "password": "short"},
     "密码：needs at least 8 characters"),
    ("ops", {"form": "3", "under": "990102", "protect": "password", "password": PASSWORD},
     "去标识化：operators export de-identified ledgers only"),
    ("county", {"form": "4", "under": "990102", "protect": "deidentified"}, "表格：unknown form"),
    ("county", {"form": "3", "under": "990102", "protect": "deidentified", "from": "2026-10-31",
                "to": "2026-10-01"}, "开始日期：2026-10-31 is after --to 2026-10-01"),
])
def test_refused_downloads_say_why_and_write_no_audit(cases, client_for, user, fields, says):
    response = download(client_for(user), **fields)
    assert response.status_code == 400
    assert says in response.text
    with unit_of_work(cases.sessions) as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.kind == "ledger_exported")).all() == []


def test_a_cadre_downloads_her_village_and_an_operator_deidentified(cases, client_for):
    cadre = download(client_for("donghu"), form="3", under="990102001001", protect="password",
                     password=PASSWORD)
    assert cadre.status_code == 200
    ops = download(client_for("ops"), form="3", under="990102", protect="deidentified")
    assert ops.status_code == 200
    assert VICTIM_NAME.encode() not in b"".join(
        __import__("zipfile").ZipFile(io.BytesIO(ops.content)).read(n)
        for n in __import__("zipfile").ZipFile(io.BytesIO(ops.content)).namelist())


def test_a_download_without_the_csrf_token_is_refused(cases, client_for):
    client = client_for("county")
    response = client.post("/ledgers/export", data={"csrf_token": "forged", "form": "1",
                                                    "under": "990102"})
    assert response.status_code == 403
    assert client.post("/stats/export", data={"under": "990102"}).status_code == 403


def test_signed_out_is_sent_to_sign_in(cases, app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        response = client.get("/ledgers", follow_redirects=False)
    assert response.status_code == 303 and "/signin" in response.headers["location"]


def test_the_statistics_page_and_its_downloads(cases, client_for):
    client = client_for("dhz")
    page = client.get("/stats", params={"first": "2026-10-01", "last": "2026-10-31"})
    assert page.status_code == 200
    assert "收到投诉（件）" in page.text and "东湖村" in page.text and "南山" not in page.text
    assert client.get("/stats", params={"under": "990102"}).status_code == 400
    token = csrf_of(page.text)
    sheet = client.post("/stats/export", data={"csrf_token": token, "under": "990102001",
                                               "from": "2026-10-01", "to": "2026-10-31",
                                               "checklist": "1"})
    assert sheet.status_code == 200
    rows = rows_of(read_xlsx_bytes(sheet.content), "对照检查表")
    assert rows[0][0] == "服务内容"
    presets = client.get("/stats", params={"preset": "last_month"})
    assert presets.status_code == 200 and "2026-09-01 至 2026-09-30" in presets.text  # the clock stands at 2026-10-09
