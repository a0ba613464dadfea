"""The `weiquan` command as a user runs it: exit status, messages, nothing half-stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from app.cli import main
from models.runtime.bootstrap import build_runtime
from models.runtime.clock import FixedClock
from models.runtime.settings import Settings
from models.db.orm import AuditEvent, Case
from models.db.session import unit_of_work
from tests.conftest import DEMO, SHARED, point_the_command_at

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
    point_the_command_at(monkeypatch, settings=settings)
    assert main(["registry", "load", "--jurisdictions", str(DEMO / "jurisdictions.csv"),
                 "--contacts", str(DEMO / "contacts.csv")]) == 0
    return settings


def at_fixed_time(settings: Settings, when: str) -> Callable[[list[str]], int]:
    """The CLI with its clock standing at `when`: the runtime it is given, no patching."""
    clock = FixedClock(datetime.fromisoformat(when))
    return partial(main, runtime_factory=lambda: build_runtime(settings=settings, clock=clock,
                                                                  migrate=True))


def case_count(settings: Settings) -> int:
    ctx = build_runtime(settings=settings, migrate=True)
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
    main = at_fixed_time(cli_env, "2027-02-05T12:00:00+08:00")
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
    ctx = build_runtime(settings=cli_env, migrate=True)
    with unit_of_work(ctx.sessions) as session:
        kinds = session.scalars(select(AuditEvent.kind).where(AuditEvent.case_id == after["id"])).all()
    ctx.close()
    assert kinds == ["intake", "deadline_recomputed"]


def test_calendar_load_recomputes_an_open_referrals_feedback_deadline(cli_env, tmp_path, capsys,
                                                                     monkeypatch):
    received = json.loads((INTAKE / "land_rights_ordinary.json").read_text(encoding="utf-8"))
    received["received_at"] = "2027-02-03T09:00:00+08:00"
    path = tmp_path / "case.json"
    path.write_text(json.dumps(received, ensure_ascii=False), encoding="utf-8")
    main = at_fixed_time(cli_env, "2027-02-03T10:00:00+08:00")
    assert main(["intake", "--json", str(path)]) == 0
    number = json.loads(capsys.readouterr().out)["number"]
    assert main(["referral", "send", number, "--role", "civil_affairs", "--days", "3"]) == 0
    capsys.readouterr()
    estimated = _show(number, capsys)["referrals"][0]["feedback_due_at"]

    notice = tmp_path / "2027.yaml"
    notice.write_text(CALENDAR_2027, encoding="utf-8")
    assert main(["calendar", "load", str(notice)]) == 0
    printed = capsys.readouterr().out
    referral = _show(number, capsys)["referrals"][0]

    # Sent Wednesday 02-03 for 3 working days: Thu 02-04, Fri 02-05, then the notice's break
    # 02-06..13 and its make-up Sunday 02-14 (the estimate had 02-05 off and 02-11/12 on).
    assert referral["feedback_due_at"].startswith("2027-02-14")
    assert referral["feedback_due_at"] != estimated
    assert f"{number} referral:{referral['id']} feedback:" in printed


def test_bad_calendar_file_exits_2(cli_env, tmp_path, capsys):
    notice = tmp_path / "2027.yaml"
    notice.write_text(CALENDAR_2027.replace("2027-02-14", "2027-02-15"), encoding="utf-8")
    assert main(["calendar", "load", str(notice)]) == 2
    assert "2027-02-15" in capsys.readouterr().err


def test_illegal_moves_are_refused_with_a_reason(cli_env, capsys):
    assert main(["intake", str(INTAKE / "dv_strangulation.json")]) == 0
    capsys.readouterr()
    assert main(["case", "close", "WQ-2026-000001"]) == 2
    assert "不能结案：请先登记答复" in capsys.readouterr().err
    # a 12338 referral is verified before it is answered
    assert main(["case", "respond", "WQ-2026-000001", "--note", "已答复", "--at",
                 "2026-10-14T10:00:00+08:00"]) == 2
    assert "verification: " in capsys.readouterr().err
    assert main(["case", "verify", "WQ-2026-000001", "--at", "2026-10-14T09:00:00+08:00",
                 "--method", "phone", "--with", "当事人", "--found", "情况属实",
                 "--veracity", "true", "--reasonableness", "reasonable"]) == 0
    assert main(["case", "respond", "WQ-2026-000001", "--note", "已答复", "--at",
                 "2026-10-14T10:00:00+08:00"]) == 0
    assert main(["case", "respond", "WQ-2026-000001", "--note", "again"]) == 2
    assert "答复已登记" in capsys.readouterr().err
    assert main(["case", "pause", "WQ-2026-000001", "--reason", "victim_unreachable"]) == 2
    assert main(["case", "close", "WQ-2026-000001", "--note", "结案"]) == 0
    assert main(["case", "investigate", "WQ-2026-000001"]) == 2
    assert main(["case", "show", "WQ-2099-999999"]) == 2


# --- referrals, visits, incidents, safe contact -------------------------------------------------

def _intake_dv(capsys) -> dict:
    assert main(["intake", "--json", str(INTAKE / "dv_strangulation.json")]) == 0
    return json.loads(capsys.readouterr().out)


def _show(number: str, capsys) -> dict:
    assert main(["case", "show", number, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_dv_intake_json_carries_the_visit_plan(cli_env, capsys):
    view = _intake_dv(capsys)
    assert view["visit_plan"]["ledger"] == "high_risk"
    assert view["visit_plan"]["level"] == "critical"
    assert view["visit_plan"]["next_due_at"] is not None


def test_referral_send_ack_result_from_the_command_line(cli_env, capsys):
    number = _intake_dv(capsys)["number"]
    assert main(["referral", "send", number, "--role", "civil_affairs", "--purpose", "临时救助",
                 "--days", "5"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("referral 1: open")
    assert main(["referral", "ack", "1", "--by", "林民政"]) == 0
    assert main(["referral", "result", "1", "--note", "已发放临时救助", "--by", "林民政"]) == 0
    capsys.readouterr()
    referral = _show(number, capsys)["referrals"][0]
    assert (referral["status"], referral["acknowledged_by"], referral["result_note"]) == (
        "resulted", "林民政", "已发放临时救助")


def test_referral_bad_input_exits_2_naming_the_field(cli_env, capsys):
    number = _intake_dv(capsys)["number"]
    assert main(["referral", "send", number, "--role", "trade_union"]) == 2
    assert "role" in capsys.readouterr().err
    assert main(["referral", "result", "99", "--note", "x"]) == 2
    assert "referral '99' not found" in capsys.readouterr().err
    assert main(["referral", "send", number, "--role", "civil_affairs", "--days", "0"]) == 2
    assert "working_days" in capsys.readouterr().err
    assert _show(number, capsys)["referrals"] == []


def test_visit_record_and_end_from_the_command_line(cli_env, capsys):
    view = _intake_dv(capsys)
    number = view["number"]
    visited = view["visit_plan"]["started_at"]
    assert main(["visit", "record", number, "--at", visited, "--by", "陈美华", "--mode", "home",
                 "--alone", "--needs", "法律咨询", "--condition", "情绪稳定"]) == 0
    capsys.readouterr()
    shown = _show(number, capsys)
    assert [(v["visited_by"], v["met_alone"]) for v in shown["visits"]] == [("陈美华", True)]
    assert main(["visit", "end", number, "--reason", "ok"]) == 2
    assert "reason" in capsys.readouterr().err
    assert main(["visit", "end", number, "--reason", "当事人已迁居外省"]) == 0
    capsys.readouterr()
    assert _show(number, capsys)["visit_plan"]["status"] == "ended"


def test_visit_record_refuses_a_future_visit_and_stores_nothing(cli_env, capsys):
    number = _intake_dv(capsys)["number"]
    assert main(["visit", "record", number, "--at", "2099-01-01T10:00:00+08:00", "--by", "陈美华",
                 "--mode", "home", "--alone"]) == 2
    assert "--at" in capsys.readouterr().err
    assert _show(number, capsys)["visits"] == []


def test_risk_lowering_needs_a_reason_and_safe_contact_is_validated(cli_env, capsys):
    number = _intake_dv(capsys)["number"]
    assert main(["case", "risk", number, "--level", "none"]) == 2
    assert "reason" in capsys.readouterr().err
    assert main(["case", "safe-contact", number, "--quiet-hours", "late"]) == 2
    assert "quiet_hours" in capsys.readouterr().err
    assert main(["case", "safe-contact", number, "--do-not-contact", "--quiet-hours", "20:00-08:00"]) == 0
    capsys.readouterr()
    victim = _show(number, capsys)["parties"][0]
    assert (victim["do_not_contact"], victim["quiet_hours"]) == (True, "20:00-08:00")
    assert _show(number, capsys)["risk_level"] == "critical"


def test_visit_cadences_come_from_the_configured_file(cli_env, tmp_path, monkeypatch, capsys):
    cadences = tmp_path / "cadences.yaml"
    cadences.write_text((DEMO.parent / "visit_cadences.yaml").read_text(
        encoding="utf-8").replace("first_within_days: 3", "first_within_days: 1"), encoding="utf-8")
    monkeypatch.setenv("WEIQUAN_VISIT_CADENCES_FILE", str(cadences))
    plan = _intake_dv(capsys)["visit_plan"]
    started = datetime.fromisoformat(plan["started_at"])
    due = datetime.fromisoformat(plan["next_due_at"])
    assert plan["level"] == "critical"
    assert due - started == timedelta(days=1)


def test_a_bad_setting_exits_2_naming_the_variable(cli_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WEIQUAN_VISIT_CADENCES_FILE", str(tmp_path / "missing.yaml"))
    assert main(["overdue"]) == 2
    assert "WEIQUAN_VISIT_CADENCES_FILE" in capsys.readouterr().err
    monkeypatch.delenv("WEIQUAN_VISIT_CADENCES_FILE")
    monkeypatch.setenv("WEIQUAN_DIGEST_AT", "25:00")
    assert main(["overdue"]) == 2
    assert "WEIQUAN_DIGEST_AT" in capsys.readouterr().err
