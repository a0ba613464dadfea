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
    ("county", {"form": "6", "under": "990102", "protect": "deidentified"}, "表格：unknown form"),
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


# --- 附表2/4, the helpers' work log and the situation report ------------------------------------

def test_form_4_downloads_encrypted_with_the_at_once_report(web_ctx, client_for):
    store_case(web_ctx, jurisdiction="990102001001", received="2026-10-09T10:00",
               category="domestic_violence", risk=["suspected_dv"])
    response = download(client_for("dhz"), form="4", under="990102001", protect="password",
                        password=PASSWORD)
    assert response.status_code == 200
    rows = rows_of(read_xlsx_bytes(response.content, password=PASSWORD), "附表4")
    assert [r[1] for r in rows[1:]] == [VICTIM_NAME]


def test_a_cadre_logs_a_helpers_work_and_it_is_on_form_2(web_ctx, client_for):
    client = client_for("dhz")
    page = client.get("/ledgers")
    assert "许调解（人民调解员）" in page.text
    with unit_of_work(web_ctx.sessions) as session:
        from models.db import repositories as repo
        mediator = repo.contact_by_key(session, "tiaojie.dhz@example.org").id
    response = client.post("/ledgers/helper-work", data={
        "csrf_token": csrf_of(page.text), "contact": str(mediator), "on": "2026-10-08",
        "work": "参加普法宣传"})
    assert response.status_code == 200 and "已登记（2026-10-08）" in response.text
    refused = client.post("/ledgers/helper-work", data={
        "csrf_token": csrf_of(page.text), "contact": str(mediator), "on": "", "work": "x"})
    assert refused.status_code == 400 and "日期：" in refused.text
    form2 = download(client, form="2", under="990102001")
    rows = rows_of(read_xlsx_bytes(form2.content), "附表2")
    assert [r[4:] for r in rows if r[1] == "许调解"] == [("其他 1 次", "2026-10-08", "参加普法宣传")]


def test_the_case_page_downloads_the_situation_report_audited(web_ctx, client_for):
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-10-09T10:00")
    client = client_for("donghu")
    page = client.get(f"/cases/{number}")
    assert 'id="situation-report"' in page.text
    response = client.post(f"/cases/{number}/situation-report",
                           data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    import docx
    text = [p.text for p in docx.Document(io.BytesIO(response.content)).paragraphs]
    assert "一、交办事项基本情况" in text
    with unit_of_work(web_ctx.sessions) as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.kind == "situation_report_written")).one()
    assert event.actor == "web:donghu"
    # another village's cadre: the case is not hers (404, as the case page)
    other = client_for("xiling")
    token = csrf_of(other.get("/ledgers").text)
    assert other.post(f"/cases/{number}/situation-report", data={"csrf_token": token}).status_code == 404


def _register(client, **fields):
    token = csrf_of(client.get("/ledgers").text)
    return client.post("/ledgers/families", data={"csrf_token": token, **fields})


def test_the_form_registers_a_family_found_without_a_complaint(web_ctx, client_for):
    from models.db.orm import Case, VisitPlan

    client = client_for("dhz")
    page = client.get("/ledgers").text
    assert "登记重点关注家庭" in page and "重点关注原因" in page and "提交" in page
    response = _register(client, jurisdiction="990102001001", found_by="visit",
                         reason="独居老人照顾留守孙女", indicator=["left_behind_or_migrant"],
                         name="钱某", age="70")
    assert response.status_code == 200 and "已列入台账" in response.text
    with unit_of_work(web_ctx.sessions) as session:
        case = session.scalars(select(Case)).one()
        plan = session.scalars(select(VisitPlan)).one()
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == "found_family")).one()
    assert (case.channel, case.response_due_at, str(plan.ledger)) == ("screening", None, "focus")
    assert event.actor == "web:dhz"


@pytest.mark.parametrize(("user", "fields", "says"), [
    ("dhz", {"jurisdiction": "990102001001", "found_by": "visit", "reason": "ok"}, "重点关注原因"),
    ("dhz", {"jurisdiction": "990102001001", "found_by": "visit", "reason": "留守儿童无人照看",
             "age": "abc"}, "年龄"),
    ("dhz", {"jurisdiction": "990102002001", "found_by": "visit", "reason": "留守儿童无人照看"},
     "outside your jurisdiction"),
    ("ops", {"jurisdiction": "990102001001", "found_by": "visit", "reason": "留守儿童无人照看"},
     "keep no casework records"),
])
def test_the_form_refuses_bad_input_and_stores_nothing(web_ctx, client_for, user, fields, says):
    from models.db.orm import Case

    response = _register(client_for(user), **fields)
    assert response.status_code == 422 and says in response.text and "未登记" in response.text
    with unit_of_work(web_ctx.sessions) as session:
        assert session.scalars(select(Case)).all() == []


def test_the_form_needs_the_csrf_token(web_ctx, client_for):
    response = client_for("dhz").post("/ledgers/families", data={
        "jurisdiction": "990102001001", "found_by": "visit", "reason": "留守儿童无人照看"})
    assert response.status_code == 403


def test_the_case_page_of_a_found_family_says_no_answer_is_owed(web_ctx, client_for):
    client = client_for("dhz")
    response = _register(client, jurisdiction="990102001001", found_by="screening",
                         reason="适龄女孩在家不上学", indicator=["girl_out_of_school"])
    number = response.text.split("/cases/")[1].split('"')[0]
    page = client.get(f"/cases/{number}").text
    assert "无需答复" in page and "尚未答复" not in page and "排查发现" in page
