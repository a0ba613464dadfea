"""A family found without a complaint (排查, 走访中看/听/问): on 附表3 with 排查 and its reason,
a visit plan at its risk level's cadence whose reminders the sweep plans, and no response
deadline anywhere an unanswered complaint would show (board, `weiquan overdue`, digests'
read model, statistics)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.cli import main
from models.db.orm import AuditEvent, Case, Notice, Party, VisitPlan
from models.db.session import unit_of_work
from models.domain.digest import ItemKind
from models.domain.ledgers import ExportMode, LedgerForm, Period
from models.domain.notice_kinds import NoticeKind
from models.domain.reminders import ReminderPolicy
from models.domain.visits import DEFAULT_CADENCES
from models.intake_schema import parse_found_family
from models.service.board import overdue_board
from models.service.calendar import current_calendar
from models.service.due_items import due_items
from models.service.exports import export_ledger
from models.service.found_families import add_found_family
from models.service.overdue import overdue_report
from models.service.planning import plan_batch
from models.service.stats import statistics
from tests.conftest import point_the_command_at
from tests.integration.ledger_data import at, read_xlsx, rows_of
from tests.integration.test_ledger_forms import COUNTY, PASSWORD

NAME, PHONE, ADDRESS = "赵秀英", "139-0000-7777", "东湖村三组12号"
REASON = "留守妇女，丈夫外出务工，独自照顾两个孩子"
FOUND = at("2026-10-12T10:00")  # a Monday


def add(ctx, **values):
    ctx.clock.at = FOUND
    family = parse_found_family({"jurisdiction": "990102001001", "reason": REASON,
                                 "found_by": "visit", **values})
    with unit_of_work(ctx.sessions) as session:
        case = add_found_family(session, family=family, now=FOUND, actor="test",
                                scope="990102", operator_email="", cadences=DEFAULT_CADENCES)
        return case.number


@pytest.fixture
def focus(demo_ctx):
    demo_ctx.numbers = {"focus": add(demo_ctx, name=NAME, phone=PHONE, age=34, address=ADDRESS,
                                     risk_indicators=["left_behind_or_migrant"])}
    return demo_ctx


def test_the_family_is_on_form_3_found_by_screening_with_its_reason(focus, tmp_path):
    out = tmp_path / "f3.xlsx"
    export_ledger(focus.sessions, requester=COUNTY, form=LedgerForm.FOCUS_FAMILIES,
                  under="990102001", period=None, mode=ExportMode(password=PASSWORD), out=out,
                  now=at("2026-10-13T09:00"))
    rows = rows_of(read_xlsx(out, password=PASSWORD), "附表3")
    number, name, age, contact, reason, found = rows[1]
    assert (number, name, age, contact, found) == (1, NAME, 34, f"{PHONE}\n{ADDRESS}",
                                                   "排查（√） 求助（ ）")
    assert reason == f"重点关注家庭：{REASON}"
    flat = rows_of(read_xlsx(out, password=PASSWORD), "走访明细")
    assert [r[8] for r in flat[1:]] == ["排查"]


@pytest.mark.parametrize(("indicators", "ledger", "level", "first_within"), [
    (["left_behind_or_migrant"], "focus", "focus", 30),
    ([], "focus", "focus", 30),  # found without a marker: still watched, as a focus family
    (["addiction"], "high_risk", "high", 7),
    (["threat_to_kill"], "high_risk", "critical", 3),
])
def test_the_plan_follows_the_risk_indicators_cadence(demo_ctx, indicators, ledger, level,
                                                      first_within):
    number = add(demo_ctx, risk_indicators=indicators)
    with unit_of_work(demo_ctx.sessions) as session:
        case = session.scalar(select(Case).where(Case.number == number))
        plan = session.scalar(select(VisitPlan).where(VisitPlan.case_id == case.id))
        assert (str(plan.ledger), plan.level, plan.reason) == (ledger, level, REASON)
        assert plan.next_due_at == FOUND + DEFAULT_CADENCES[level].first_within
        assert plan.next_due_at == FOUND + timedelta(days=first_within)
        assert (case.channel, str(case.status), case.tier) == ("screening", "visiting", None)
        assert (case.response_due_at, case.response_due_date) == (None, None)
        at_once = session.scalar(select(func.count()).select_from(Notice).where(
            Notice.case_id == case.id, Notice.kind == NoticeKind.AT_ONCE))
        assert (at_once > 0) == (level == "critical")  # a life at risk is reported at once
        kinds = set(session.scalars(select(AuditEvent.kind).where(AuditEvent.case_id == case.id)))
        assert {"found_family", "visit_plan_opened"} <= kinds


def test_the_sweep_plans_the_first_visit_reminder_and_nothing_about_an_answer(focus):
    due_day = (FOUND + timedelta(days=30)).date()  # 2026-11-11, a Wednesday
    as_of = at(f"{due_day.isoformat()}T09:30")
    with unit_of_work(focus.sessions) as session:
        calendar = current_calendar(session)
        plan_batch(session, as_of=as_of, calendar=calendar, policy=ReminderPolicy())
        notices = session.execute(select(Notice.kind, Notice.visit_plan_id)
                                  .join(Case, Case.id == Notice.case_id)
                                  .where(Case.number == focus.numbers["focus"])).all()
        plan_id = session.scalar(select(VisitPlan.id))
    assert notices == [(NoticeKind.VISIT_DUE, plan_id)]


def test_only_its_visits_are_due_never_an_answer(focus):
    long_after = at("2027-03-01T10:00")  # months past any deadline it could have had
    with unit_of_work(focus.sessions) as session:
        calendar = current_calendar(session)
        items = due_items(session, as_of=long_after, calendar=calendar, under="990102")
        assert {item.kind for item in items} == {ItemKind.VISIT}
        board = overdue_board(session, as_of=long_after, under="990102", calendar=calendar)
        assert {item.kind for item in board.items} == {ItemKind.VISIT}
        assert board.totals.get(ItemKind.RESPONSE, 0) == 0
        report = overdue_report(session, as_of=long_after, under="990102", calendar=calendar)
        assert report["overdue"] == [] and len(report["overdue_visits"]) == 1
        stats = statistics(session, under="990102", now=long_after,
                           period=Period(first=date(2026, 10, 1), last=date(2027, 2, 28))).as_json()
    assert (stats["received"], stats["by_channel"]["screening"]) == (1, 1)
    assert (stats["answered"], stats["overdue"]) == (0, 0)
    assert sum(stats["by_tier"].values()) == 0
    assert stats["ledger_families"] == {"high_risk": 0, "focus": 1}


def test_bad_input_names_the_field_and_stores_nothing(demo_ctx):
    with pytest.raises(Exception) as refused:
        add(demo_ctx, reason="ok", age="abc", phone="zz", risk_indicators=["nope"])
    fields = {p.field for p in refused.value.problems}
    assert fields == {"reason", "age", "phone", "risk_indicators"}
    with pytest.raises(Exception) as outside:
        demo_ctx.clock.at = FOUND
        family = parse_found_family({"jurisdiction": "990102002001", "reason": REASON,
                                     "found_by": "screening"})
        with unit_of_work(demo_ctx.sessions) as session:
            add_found_family(session, family=family, now=FOUND, actor="t", scope="990102001",
                             operator_email="", cadences=DEFAULT_CADENCES)
    assert outside.value.field == "jurisdiction"
    with unit_of_work(demo_ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.scalar(select(func.count()).select_from(Party)) == 0


@pytest.fixture
def cli(monkeypatch, demo_ctx):
    point_the_command_at(monkeypatch, settings=demo_ctx.settings)
    return demo_ctx


def test_the_command_adds_the_family_in_words_and_codes(cli, capsys):
    assert main(["ledger", "add", "--jurisdiction", "990102001001", "--reason", REASON,
                 "--found-by", "inquiry", "--indicator", "addiction", "--name", NAME,
                 "--age", "41"]) == 0
    out = capsys.readouterr().out
    assert "已列入台账" in out and "高风险家庭" in out and "走访询问中发现（听、问）" in out
    assert "无需答复" in out and NAME not in out
    assert main(["ledger", "add", "--jurisdiction", "990102001001", "--reason", REASON,
                 "--found-by", "screening", "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["channel"], added["found_by"], added["ledger"], added["response_due_at"]) == (
        "screening", "screening", "focus", None)
    assert main(["ledger", "add", "--jurisdiction", "990102001001", "--reason", "ok",
                 "--found-by", "visit", "--age", "-3"]) == 2
    err = capsys.readouterr().err
    assert "--reason:" in err and "--age:" in err
    assert main(["overdue", "--json", "--as-of", "2027-03-01T10:00:00+08:00"]) == 0
    overdue = json.loads(capsys.readouterr().out)
    assert overdue["overdue"] == [] and len(overdue["overdue_visits"]) == 2
    with unit_of_work(cli.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
