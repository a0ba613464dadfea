"""Statistics against counts worked out by hand on a known October 2026.

The calendar matters: 2026-10-01…07 are National Day holidays and Saturday 10-10 is a make-up
working day, so a case received Friday 10-09 is due Monday 10-19 (7 working days: 10, 12, 13,
14, 15, 16, 19) — without the make-up Saturday it would be 10-20.

| case | where   | channel  | category         | tier      | received    | what happens                                   |
|------|---------|----------|------------------|-----------|-------------|------------------------------------------------|
| A    | 东湖村  | visit    | land_rights      | ordinary  | 10-09 10:00 | answered 10-19 20:00: on time thanks to 10-10  |
| B    | 东湖村  | assigned | land_rights      | ordinary  | 10-12 09:00 | due 10-21; paused 10-14, resumed 10-16 (+2 wd → 10-23); answered 10-22: on time |
| C    | 西岭村  | online   | land_rights      | ordinary  | 10-12 09:00 | due 10-21; answered 10-26: late                |
| D    | 东湖村  | visit    | hardship         | ordinary  | 10-20 09:00 | left-behind → focus ledger; due 10-29, never answered: overdue |
| E    | 南山社区| 12338    | land_rights      | difficult | 10-20 09:00 | transferred up: never "overdue"               |
| H    | 东湖村  | visit    | marriage_family  | ordinary  | 10-15 09:00 | one mediation reported at intake; answered 10-16 |
| I    | 南山社区| phone    | legal_aid        | simple    | 10-21 09:00 | answered 10-21 12:00 (due 24:00 that day)       |
| J    | 东湖村  | visit    | domestic_violence| ordinary  | 10-09 11:00 | strangulation: 5 at-once reports (1 confirmed); high-risk ledger; visits 10-12 (first due 10-12) and 10-22 (due 10-19: missed), next due 10-29 not made: missed; never answered: overdue |
| F    | 东湖村  | visit    | other            | ordinary  | 09-28 09:00 | answered 10-09: counts as answered in October, not received |
| G    | 东湖村  | visit    | other            | ordinary  | 11-02 09:00 | after the period: nowhere                      |

Referrals: A → civil affairs 10-12 (7 wd: due 10-21), result 10-20; B → judicial assistant
10-13 (3 wd: due 10-16), acknowledged 10-14, no result: late. Legal aid: I (category) and B
(referred to a legal-aid role).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.cli import main
from models.db import repositories as repo
from models.db.orm import Notice
from models.db.session import unit_of_work
from models.domain.ledgers import Period
from models.domain.procedure import PauseReason
from models.domain.statistics import PlanHistory, missed_visits, preset_period
from models.service import procedure, referrals, visits
from models.service import casework_records
from models.service.ack import acknowledge_notice
from models.service.calendar import current_calendar
from models.service.stats import statistics
from tests.conftest import point_the_command_at
from tests.integration.ledger_data import act, at, read_xlsx, rows_of, store

OCTOBER = Period(first=date(2026, 10, 1), last=date(2026, 10, 31))
DONGHU, XILING, NANSHAN = "990102001001", "990102001002", "990102002001"


def answer(ctx, number, when):
    # Matters assigned from above, 12338 referrals and public opinion are verified first (000).
    act(ctx, number, when, casework_records.record_verification, verified_at=at(when),
        method="phone", with_whom="当事人", findings="属实", veracity="true",
        reasonableness="reasonable", now=at(when), actor="test")
    act(ctx, number, when, procedure.respond, at=at(when), actor="test", note="已答复")


def visit(ctx, number, when):
    act(ctx, number, when, visits.record_visit, visited_at=at(when), visited_by="陈美华",
        mode="home", met_alone=True, needs="", condition="", help_given="", now=at(when), actor="test")


@pytest.fixture
def october(demo_ctx):
    ctx = demo_ctx
    f = store(ctx, jurisdiction=DONGHU, received="2026-09-28T09:00", category="other")
    answer(ctx, f, "2026-10-09T09:00")
    a = store(ctx, jurisdiction=DONGHU, received="2026-10-09T10:00")
    j = store(ctx, jurisdiction=DONGHU, received="2026-10-09T11:00", category="domestic_violence",
              risk=["strangulation_or_weapon"])
    b = store(ctx, jurisdiction=DONGHU, received="2026-10-12T09:00", channel="assigned",
              assigned_by="示范县妇联")
    c = store(ctx, jurisdiction=XILING, received="2026-10-12T09:00", channel="online")
    with unit_of_work(ctx.sessions) as session:
        calendar = current_calendar(session)
    ctx.clock.at = at("2026-10-12T10:00")
    with unit_of_work(ctx.sessions) as session:
        ref_a = referrals.refer(session, case=repo.case_by_key(session, a), role="civil_affairs",
                                working_days=7, now=ctx.clock.now(), actor="test", calendar=calendar).id
    visit(ctx, j, "2026-10-12T15:00")
    ctx.clock.at = at("2026-10-13T10:00")
    with unit_of_work(ctx.sessions) as session:
        ref_b = referrals.refer(session, case=repo.case_by_key(session, b), role="judicial_assistant",
                                working_days=3, now=ctx.clock.now(), actor="test", calendar=calendar).id
    ctx.clock.at = at("2026-10-14T09:00")
    with unit_of_work(ctx.sessions) as session:
        referrals.acknowledge_referral(session, referral=referrals.referral_by_key(session, str(ref_b)),
                                       by="马司法", at=ctx.clock.now(), actor="test")
        notice = session.scalars(select(Notice).where(Notice.kind == "at_once",
                                                      Notice.contact_id.is_not(None))
                                 .order_by(Notice.id)).first()
        acknowledge_notice(session, notice=notice, case=repo.case_by_key(session, j),
                           action="receipt", by="东湖派出所", note="", now=ctx.clock.now())
    act(ctx, b, "2026-10-14T09:00", procedure.pause, reason=PauseReason.AWAITING_DEPARTMENT,
        at=at("2026-10-14T09:00"), actor="test", note="")
    h = store(ctx, jurisdiction=DONGHU, received="2026-10-15T09:00", category="marriage_family",
              mediation_attempts=1)
    act(ctx, b, "2026-10-16T09:00", procedure.resume, at=at("2026-10-16T09:00"), actor="test",
        note="", calendar=calendar)
    answer(ctx, h, "2026-10-16T10:00")
    answer(ctx, a, "2026-10-19T20:00")
    d = store(ctx, jurisdiction=DONGHU, received="2026-10-20T09:00", category="hardship",
              risk=["left_behind_or_migrant"])
    store(ctx, jurisdiction=NANSHAN, received="2026-10-20T09:00", channel="hotline_12338",
          tier="difficult")
    ctx.clock.at = at("2026-10-20T11:00")
    with unit_of_work(ctx.sessions) as session:
        referrals.record_referral_result(session, referral=referrals.referral_by_key(session, str(ref_a)),
                                         note="已救助", by="林民政", at=ctx.clock.now(), actor="test")
    i = store(ctx, jurisdiction=NANSHAN, received="2026-10-21T09:00", channel="phone",
              category="legal_aid", tier="simple")
    answer(ctx, i, "2026-10-21T12:00")
    answer(ctx, b, "2026-10-22T10:00")
    visit(ctx, j, "2026-10-22T15:00")
    answer(ctx, c, "2026-10-26T10:00")
    store(ctx, jurisdiction=DONGHU, received="2026-11-02T09:00", category="other")
    ctx.clock.at = at("2026-11-05T10:00")
    ctx.numbers = {"a": a, "b": b, "d": d}
    return ctx


def report_json(ctx, under="990102"):
    with unit_of_work(ctx.sessions) as session:
        return statistics(session, under=under, period=OCTOBER, now=ctx.clock.now()).as_json()


def test_the_deadlines_the_table_relies_on(october):
    with unit_of_work(october.sessions) as session:
        due = {key: repo.case_by_key(session, number).response_due_date.isoformat()
               for key, number in october.numbers.items()}
    assert due == {"a": "2026-10-19", "b": "2026-10-23", "d": "2026-10-29"}


COUNTY = {
    "received": 8, "answered": 6, "answered_on_time": 5, "on_time_rate": 0.8333, "overdue": 2,
    "legal_aid": 2, "assigned_answered": 1, "assigned_on_time": 1, "online_answered": 1,
    "online_on_time": 0,
    "at_once_reports": {"made": 5, "confirmed": 1},
    "referrals": {"sent": 2, "acknowledged": 2, "answered": 1, "late": 1},
    "mediations": {"held": 1, "failed": 1},
    "ledger_families": {"high_risk": 1, "focus": 1},
    "visits": {"done": 2, "missed": 2},
}


@pytest.mark.parametrize(("key", "expected"), list(COUNTY.items()))
def test_county_counts(october, key, expected):
    assert report_json(october)[key] == expected


@pytest.mark.parametrize(("group", "expected"), [
    ("by_channel", {"visit": 4, "assigned": 1, "online": 1, "hotline_12338": 1, "phone": 1}),
    ("by_category", {"land_rights": 4, "hardship": 1, "marriage_family": 1, "legal_aid": 1,
                     "domestic_violence": 1}),
    ("by_tier", {"ordinary": 6, "difficult": 1, "simple": 1}),
])
def test_received_by_code(october, group, expected):
    counts = report_json(october)[group]
    assert {code: n for code, n in counts.items() if n} == expected
    assert set(counts) >= set(expected)  # every code present, zeros too


@pytest.mark.parametrize(("code", "received", "answered", "on_time", "overdue", "legal_aid"), [
    ("990102", 8, 6, 5, 2, 2),
    ("990102001", 6, 5, 4, 2, 1),
    ("990102001001", 5, 4, 4, 2, 1),
    ("990102001002", 1, 1, 0, 0, 0),
    ("990102002", 2, 1, 1, 0, 1),
    ("990102002001", 2, 1, 1, 0, 1),
])
def test_rolled_up_the_tree(october, code, received, answered, on_time, overdue, legal_aid):
    nodes = {n["code"]: n for n in report_json(october)["jurisdictions"]}
    node = nodes[code]
    assert (node["received"], node["answered"], node["answered_on_time"], node["overdue"],
            node["legal_aid"]) == (received, answered, on_time, overdue, legal_aid)


def test_a_subtree_counts_only_itself(october):
    township = report_json(october, under="990102002")
    assert (township["received"], township["at_once_reports"]["made"]) == (2, 0)
    assert [n["code"] for n in township["jurisdictions"]] == ["990102002", "990102002001"]


def test_missed_visits_follow_the_dues_in_force():
    day = lambda text: at(text)  # noqa: E731
    plan = PlanHistory(first_due=day("2026-10-12T10:00"),
                       visits=[(day("2026-10-12T15:00"), day("2026-10-19T15:00")),
                               (day("2026-10-22T15:00"), day("2026-10-29T15:00"))],
                       outstanding_due=day("2026-10-29T15:00"))
    assert missed_visits(plan, start=OCTOBER.start, until=OCTOBER.end) == 2
    assert missed_visits(plan, start=OCTOBER.start, until=day("2026-10-25T00:00")) == 1


@pytest.mark.parametrize(("preset", "first", "last"), [
    ("this_month", "2026-11-01", "2026-11-30"), ("last_month", "2026-10-01", "2026-10-31"),
    ("this_quarter", "2026-10-01", "2026-12-31"), ("this_year", "2026-01-01", "2026-12-31"),
])
def test_presets(preset, first, last):
    period = preset_period(preset, today=date(2026, 11, 5))
    assert (period.first.isoformat(), period.last.isoformat()) == (first, last)


@pytest.fixture
def cli_october(monkeypatch, october):
    point_the_command_at(monkeypatch, settings=october.settings)
    return october


def test_the_command_json_and_human_output(cli_october, capsys):
    import json

    assert main(["stats", "--under", "990102", "--from", "2026-10-01", "--to", "2026-10-31",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {k: data[k] for k in COUNTY} | {"on_time_rate": data["on_time_rate"]} == COUNTY
    assert main(["stats", "--under", "990102", "--from", "2026-10-01", "--to", "2026-10-31"]) == 0
    text = capsys.readouterr().out
    assert "收到投诉（件）：8" in text and "按时答复率：83.3%" in text and "转介·反馈逾期：1" in text
    assert "domestic_violence" not in text


def test_the_command_refuses_from_after_to(cli_october, capsys):
    assert main(["stats", "--under", "990102", "--from", "2026-10-31", "--to", "2026-10-01"]) == 2
    assert "--from: 2026-10-31 is after --to 2026-10-01" in capsys.readouterr().err


def test_the_checklist_fills_what_the_data_can_and_marks_the_rest(cli_october, tmp_path, capsys):
    out = tmp_path / "checklist.xlsx"
    assert main(["stats", "--under", "990102", "--from", "2026-10-01", "--to", "2026-10-31",
                 "--checklist", "--out", str(out)]) == 0
    rows = rows_of(read_xlsx(out), "对照检查表")
    by_standard = {r[1]: r for r in rows[1:]}
    legal = by_standard["为困难妇女儿童提供法律援助服务"]
    assert (legal[2], legal[3]) == ("有(√) 无( )", 2)
    online = by_standard["网上投诉能够得到及时回复或处理（按时答复件数）"]
    assert (online[2], online[3]) == ("是( ) 否(√)", 0)
    assert by_standard["符合安全要求"][4] == "（请填写：数量）"
    filled = [r for r in rows[1:] if r[3] != ""]
    assert len(filled) == 11  # the rows with a metric in models.domain.statistics.CHECKLIST


def test_the_statistics_xlsx_has_a_row_per_jurisdiction(cli_october, tmp_path):
    out = tmp_path / "stats.xlsx"
    assert main(["stats", "--under", "990102", "--from", "2026-10-01", "--to", "2026-10-31",
                 "--out", str(out)]) == 0
    rows = rows_of(read_xlsx(out), "统计")
    assert rows[0][:4] == ("辖区", "层级", "收到投诉（件）", "已答复")
    assert rows[1][:4] == ("示范县（990102）", "县（区）", 8, 6)
    assert len(rows) == 7
