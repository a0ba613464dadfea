"""The `weiquan` command as a user runs it: exit status, messages, nothing half-stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.context import build_context
from app.settings import Settings
from models.db.orm import AuditEvent, Case
from models.db.session import unit_of_work
from tests.conftest import DEMO, SHARED

INTAKE = SHARED / "contract" / "intake"
CALENDAR_2027 = """\
year: 2027
source: 测试用2027年放假安排（示例）
holidays:
  - 2027-01-01..2027-01-03
  - 2027-02-06..2027-02-13
makeup_workdays:
  - 2027-02-14
"""


@pytest.fixture
def cli_env(monkeypatch, settings):
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WEIQUAN_DATABASE_URL", settings.effective_database_url)
    assert main(["registry", "load", "--jurisdictions", str(DEMO / "jurisdictions.csv"),
                 "--contacts", str(DEMO / "contacts.csv")]) == 0
    return settings


def case_count(settings: Settings) -> int:
    ctx = build_context(settings)
    try:
        with unit_of_work(ctx.sessions) as session:
            return session.scalar(select(func.count()).select_from(Case))
    finally:
        ctx.close()


def test_intake_prints_the_stored_case_as_json(cli_env, capsys):
    assert main(["intake", "--json", str(INTAKE / "dv_strangulation.json")]) == 0
    view = json.loads(capsys.readouterr().out)
    assert {"id", "number", "tier", "tier_reason", "status", "received_at", "response_due_at",
            "deadline_provisional", "risk_level", "notices", "visits"} <= view.keys()
    assert view["response_due_at"] == "2026-10-15T23:59:59+08:00"


def test_bad_intake_exits_2_names_the_field_and_stores_nothing(cli_env, tmp_path, capsys):
    bad = json.loads((INTAKE / "land_rights_ordinary.json").read_text(encoding="utf-8"))
    bad["received_at"] = "2026-02-13 15:40"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")

    assert main(["intake", str(path)]) == 2
    assert "received_at" in capsys.readouterr().err
    assert case_count(cli_env) == 0


def test_unreadable_file_exits_2(cli_env, tmp_path, capsys):
    assert main(["intake", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_registry_row_exits_2_with_file_and_line(cli_env, tmp_path, capsys):
    contacts = tmp_path / "c.csv"
    contacts.write_text("jurisdiction_code,role,name,post,phone,email\n990102,wizard,某,某,1234,a@b.org\n",
                        encoding="utf-8")
    assert main(["registry", "load", "--contacts", str(contacts)]) == 2
    assert f"{contacts}:2: role" in capsys.readouterr().err


def test_calendar_load_recomputes_provisional_deadlines_and_records_it(cli_env, tmp_path, capsys,
                                                                       monkeypatch):
    late = json.loads((INTAKE / "land_rights_ordinary.json").read_text(encoding="utf-8"))
    late["received_at"] = "2027-02-05T10:00:00+08:00"
    path = tmp_path / "late.json"
    path.write_text(json.dumps(late, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr("app.clock.SystemClock.now",
                        lambda self: __import__("datetime").datetime.fromisoformat("2027-02-05T12:00:00+08:00"))
    assert main(["intake", "--json", str(path)]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["deadline_provisional"] is True

    notice = tmp_path / "2027.yaml"
    notice.write_text(CALENDAR_2027, encoding="utf-8")
    assert main(["calendar", "load", str(notice)]) == 0
    assert "1 provisional deadline(s) recomputed" in capsys.readouterr().out
    assert main(["case", "show", "--json", before["number"]]) == 0
    after = json.loads(capsys.readouterr().out)

    assert after["deadline_provisional"] is False
    assert after["response_due_date"] == "2027-02-22"  # break skipped, make-up Sunday 02-14 counts
    assert before["response_due_date"] != after["response_due_date"]
    ctx = build_context(cli_env)
    with unit_of_work(ctx.sessions) as session:
        kinds = session.scalars(select(AuditEvent.kind).where(AuditEvent.case_id == after["id"])).all()
    ctx.close()
    assert kinds == ["intake", "deadline_recomputed"]


def test_bad_calendar_file_exits_2(cli_env, tmp_path, capsys):
    notice = tmp_path / "2027.yaml"
    notice.write_text(CALENDAR_2027.replace("2027-02-14", "2027-02-15"), encoding="utf-8")
    assert main(["calendar", "load", str(notice)]) == 2
    assert "2027-02-15" in capsys.readouterr().err


def test_illegal_moves_are_refused_with_a_reason(cli_env, capsys):
    assert main(["intake", str(INTAKE / "dv_strangulation.json")]) == 0
    capsys.readouterr()
    assert main(["case", "close", "WQ-2026-000001"]) == 2
    assert "record the answer first" in capsys.readouterr().err
    assert main(["case", "respond", "WQ-2026-000001", "--note", "已答复", "--at",
                 "2026-10-14T10:00:00+08:00"]) == 0
    assert main(["case", "respond", "WQ-2026-000001", "--note", "again"]) == 2
    assert "already recorded" in capsys.readouterr().err
    assert main(["case", "pause", "WQ-2026-000001", "--reason", "victim_unreachable"]) == 2
    assert main(["case", "close", "WQ-2026-000001", "--note", "结案"]) == 0
    assert main(["case", "investigate", "WQ-2026-000001"]) == 2
    assert main(["case", "show", "WQ-2099-999999"]) == 2
