"""The casework records (domain.md §11) through the real database, the due sweep and the
local mail sink: mediations, verifications, not accepting a case, the return visit after
closing and DV protective measures. Time is injected; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from app.cli import main
from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, FollowUp, Notice
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.digest import ItemKind
from models.domain.errors import InputError
from models.domain.notice_kinds import NoticeKind
from models.domain.procedure import Status
from models.service import casework_records as records
from models.service import procedure
from models.service.calendar import current_calendar
from models.service.due_items import due_items
from tests.integration.test_casework import (
    DV,
    LAND,
    POLICE,
    TOWNSHIP_CHAIR,
    VILLAGE_CHAIR,
    at,
    mails,
    run,
    take_in_doc,
)
from tests.conftest import point_the_command_at

ORDER_KINDS = {NoticeKind.PROTECTION_ORDER_EXPIRING, NoticeKind.PROTECTION_ORDER_EXPIRES}


def act(ctx, case_id: int, when: str, action, **kwargs):
    ctx.clock.at = at(when)
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        return action(session, case=case, now=at(when), actor="test", **kwargs)


def mediate(ctx, case_id: int, when: str, outcome: str = "failed") -> None:
    act(ctx, case_id, when, records.record_mediation, held_on=at(when).date(),
        mediator="许调解", outcome=outcome, operator_email=ctx.settings.operator_email)


def notice_keys(ctx, case_id: int, prefix: str) -> list[tuple[str, str]]:
    with unit_of_work(ctx.sessions) as session:
        return [(n.key, n.to_address) for n in session.scalars(
            select(Notice).where(Notice.case_id == case_id, Notice.key.startswith(prefix))
            .order_by(Notice.id))]


def items(ctx, when: str, case_id: int) -> list:
    with unit_of_work(ctx.sessions) as session:
        found = due_items(session, as_of=at(when), calendar=current_calendar(session),
                          until=at("2027-12-31T00:00"))
    return [item for item in found if item.case_id == case_id]


def answer_and_close(ctx, case_id: int, when: str, **move) -> None:
    ctx.clock.at = at(when)
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        procedure.respond(session, case, at=at(when), actor="test", note="已答复")
        procedure.move(session, case, to=Status.CLOSED, at=at(when), actor="test", note="",
                       calendar=current_calendar(session), **move)


# --- mediation ---------------------------------------------------------------------------------

async def test_the_second_failed_mediation_reports_at_once_once(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **LAND)
    mediate(mail_ctx, case_id, "2026-10-13T10:00", outcome="partial")
    mediate(mail_ctx, case_id, "2026-10-14T10:00")
    assert notice_keys(mail_ctx, case_id, "mediation:") == []
    mediate(mail_ctx, case_id, "2026-10-15T10:00")
    reported = notice_keys(mail_ctx, case_id, "mediation:")
    # 东湖村's upper federation is 东湖镇's chair (the routing table's UNRESOLVED row).
    assert [to for _, to in reported] == [TOWNSHIP_CHAIR]
    mediate(mail_ctx, case_id, "2026-10-16T10:00")  # a third failure: nothing again
    assert notice_keys(mail_ctx, case_id, "mediation:") == reported
    await run(mail_ctx, "2026-10-16T10:01")
    assert (TOWNSHIP_CHAIR, NoticeKind.AT_ONCE, 0) in mails(mail_ctx, sink, kinds={NoticeKind.AT_ONCE})


@pytest.mark.parametrize(("typed", "failures", "reported"), [(1, 1, True), (2, 1, False),
                                                             (0, 1, False)])
def test_the_intake_count_and_the_records_add_up(demo_ctx, typed, failures, reported):
    """Mediations typed at intake were held before the complaint: they add to the records.
    A count that had already reached two was reported at intake, not again."""
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND, mediation_attempts=typed)
    for day in range(failures):
        mediate(demo_ctx, case_id, f"2026-10-{13 + day}T10:00")
    assert bool(notice_keys(demo_ctx, case_id, "mediation:")) is reported


def test_a_mediation_names_its_bad_field(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    with pytest.raises(InputError) as error:
        act(demo_ctx, case_id, "2026-10-13T10:00", records.record_mediation,
            held_on=date(2026, 10, 13), mediator="nobody@example.invalid", outcome="failed",
            operator_email="op@example.org")
    assert error.value.field == "mediator"
    with pytest.raises(InputError) as error:
        act(demo_ctx, case_id, "2026-10-13T10:00", records.record_mediation,
            held_on=date(2026, 10, 14), mediator="许调解", outcome="failed",
            operator_email="op@example.org")
    assert error.value.field == "held_on"
    mediation = act(demo_ctx, case_id, "2026-10-13T10:00", records.record_mediation,
                    held_on=date(2026, 10, 13), mediator="tiaojie.dhz@example.org",
                    outcome="success", operator_email="op@example.org")
    assert mediation.mediator_name == "许调解" and mediation.mediator_contact_id is not None


# --- verification ------------------------------------------------------------------------------

def verify(ctx, case_id: int, when: str) -> None:
    act(ctx, case_id, when, records.record_verification, verified_at=at(when), method="visit",
        with_whom="村委会、邻居", findings="反映情况基本属实", veracity="partly_true",
        reasonableness="reasonable")


@pytest.mark.parametrize("changes", [{"channel": "hotline_12338"}, {"channel": "media"},
                                     {"risk_indicators": ["online_exposure_threat"]}])
def test_answering_such_a_matter_before_verification_is_refused(demo_ctx, changes):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND, **changes)
    with pytest.raises(InputError) as error:
        act(demo_ctx, case_id, "2026-10-13T10:00", lambda session, case, now, actor:
            procedure.respond(session, case, at=now, actor=actor, note="已答复"))
    assert error.value.field == "verification" and "核实" in error.value.reason
    verify(demo_ctx, case_id, "2026-10-13T11:00")
    act(demo_ctx, case_id, "2026-10-13T12:00", lambda session, case, now, actor:
        procedure.respond(session, case, at=now, actor=actor, note="已答复"))


def test_an_assigned_matter_is_verified_before_it_is_answered(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND, channel="assigned",
                          assigned_by="示范县妇联", due_at="2026-10-30T17:00:00+08:00")
    with pytest.raises(InputError, match="上级交办事项须先核实再答复"):
        act(demo_ctx, case_id, "2026-10-13T10:00", lambda session, case, now, actor:
            procedure.respond(session, case, at=now, actor=actor, note="已答复"))


def test_a_walk_in_is_answered_without_a_verification(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    act(demo_ctx, case_id, "2026-10-13T10:00", lambda session, case, now, actor:
        procedure.respond(session, case, at=now, actor=actor, note="已答复"))


# --- not accepted --------------------------------------------------------------------------------

async def test_a_rejected_case_leaves_the_lists_and_its_clock_stops(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **LAND)
    assert [i.kind for i in items(mail_ctx, "2026-10-13T10:00", case_id)] == [ItemKind.RESPONSE]
    act(mail_ctx, case_id, "2026-10-13T10:00", records.reject_case,
        reason="属土地承包经营纠纷，应由农村土地承包仲裁委员会处理", redirected_to="县农村土地承包仲裁委员会")
    assert items(mail_ctx, "2026-10-13T10:00", case_id) == []
    await run(mail_ctx, "2026-10-30T10:00")  # past its deadline: nothing is owed
    assert mails(mail_ctx, sink) == []
    with unit_of_work(mail_ctx.sessions) as session:
        case = session.get(Case, case_id)
        assert case.status == Status.NOT_ACCEPTED and case.next_check_at is None
        audit = session.scalar(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                        AuditEvent.kind == "not_accepted"))
        assert audit.actor == "test" and "县农村土地承包仲裁委员会" in audit.note
    with pytest.raises(InputError):  # once not accepted, nothing moves it on
        act(mail_ctx, case_id, "2026-10-14T10:00", records.reject_case, reason="再次")


def test_a_rejection_needs_a_reason_and_the_acceptance_stage(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    with pytest.raises(InputError) as error:
        act(demo_ctx, case_id, "2026-10-13T10:00", records.reject_case, reason="  ")
    assert error.value.field == "reason"
    act(demo_ctx, case_id, "2026-10-13T10:00", lambda session, case, now, actor:
        procedure.move(session, case, to=Status.INVESTIGATING, at=now, actor=actor, note=""))
    with pytest.raises(InputError, match="调查阶段的个案只能转为"):
        act(demo_ctx, case_id, "2026-10-13T11:00", records.reject_case, reason="不属妇联职责")


# --- the return visit after closing --------------------------------------------------------------

EARLY = {"received_at": "2026-09-28T10:00:00+08:00", "jurisdiction": "990102001001"}


@pytest.mark.parametrize(("days", "due_on"), [(3, "2026-10-10"), (10, "2026-10-20")])
def test_a_closed_case_is_visited_n_working_days_after_closing(demo_ctx, days, due_on):
    """Closed Wed 09-30: National Day takes 10-01…07; 10-10 (a Saturday) is a make-up
    working day and counts."""
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **EARLY)
    answer_and_close(demo_ctx, case_id, "2026-09-30T16:00", follow_up_working_days=days)
    [item] = items(demo_ctx, "2026-09-30T16:00", case_id)
    assert item.kind == ItemKind.FOLLOW_UP
    assert item.due_at.astimezone(SHANGHAI).date().isoformat() == due_on


async def test_the_follow_up_is_reminded_then_recorded(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **EARLY)
    answer_and_close(mail_ctx, case_id, "2026-09-30T16:00", follow_up_working_days=3)
    await run(mail_ctx, "2026-09-30T16:01")
    await run(mail_ctx, "2026-10-10T09:00")
    assert mails(mail_ctx, sink, kinds={NoticeKind.FOLLOW_UP_DUE}) == [
        (VILLAGE_CHAIR, NoticeKind.FOLLOW_UP_DUE, 0)]
    follow_up = act(mail_ctx, case_id, "2026-10-10T15:00", records.record_follow_up,
                    visited_at=at("2026-10-10T14:00"), visited_by="陈美华",
                    outcome="分红已补发", satisfaction="mostly_satisfied")
    assert follow_up.satisfaction == "mostly_satisfied"
    assert items(mail_ctx, "2026-10-10T15:00", case_id) == []
    await run(mail_ctx, "2026-10-12T10:00")  # the day after: no escalation
    assert mails(mail_ctx, sink, kinds={NoticeKind.FOLLOW_UP_OVERDUE}) == []


def test_a_family_on_a_ledger_keeps_its_plan_instead(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    verify(demo_ctx, case_id, "2026-10-12T11:00")  # a 12338 referral: verified first
    answer_and_close(demo_ctx, case_id, "2026-10-13T10:00")
    with unit_of_work(demo_ctx.sessions) as session:
        assert session.scalar(select(FollowUp).where(FollowUp.case_id == case_id)) is None
    with pytest.raises(InputError) as error:
        act(demo_ctx, case_id, "2026-10-14T10:00", records.record_follow_up,
            visited_at=at("2026-10-14T09:00"), visited_by="陈美华", outcome="好",
            satisfaction="satisfied")
    assert error.value.field == "case"


# --- protective measures -----------------------------------------------------------------------

def grant_order(ctx, case_id: int, *, until: date) -> None:
    act(ctx, case_id, "2026-10-20T10:00", records.record_measure, kind="protection_order",
        status="granted", on=date(2026, 10, 20), until=until, issuer="示范县人民法院")


async def test_a_protection_order_reminds_10_working_days_before_and_on_the_day(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "dv_strangulation", **DV)
    grant_order(mail_ctx, case_id, until=date(2026, 12, 31))
    await run(mail_ctx, "2026-10-20T10:01")
    with unit_of_work(mail_ctx.sessions) as session:
        # the sweep wakes for the reminder (12-17 is the 10th working day before Thu 12-31)
        assert session.get(Case, case_id).next_check_at <= at("2026-12-17T09:00")
    await run(mail_ctx, "2026-12-17T08:59")
    assert mails(mail_ctx, sink, kinds=ORDER_KINDS) == []
    await run(mail_ctx, "2026-12-17T09:00")
    assert mails(mail_ctx, sink, kinds=ORDER_KINDS) == [
        (VILLAGE_CHAIR, NoticeKind.PROTECTION_ORDER_EXPIRING, 0)]
    await run(mail_ctx, "2026-12-30T09:00")
    await run(mail_ctx, "2026-12-31T09:00")
    assert mails(mail_ctx, sink, kinds=ORDER_KINDS) == [
        (VILLAGE_CHAIR, NoticeKind.PROTECTION_ORDER_EXPIRING, 0),
        (VILLAGE_CHAIR, NoticeKind.PROTECTION_ORDER_EXPIRES, 0)]


async def test_a_breach_is_an_incident_reported_at_once(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "dv_strangulation", **DV)
    with pytest.raises(InputError) as error:  # no order yet: nothing to breach
        act(mail_ctx, case_id, "2026-10-21T10:00", records.record_order_breach,
            occurred_at=at("2026-10-21T08:00"), operator_email="op@example.org")
    assert error.value.field == "breach"
    grant_order(mail_ctx, case_id, until=date(2026, 12, 31))
    incident = act(mail_ctx, case_id, "2026-10-21T10:00", records.record_order_breach,
                   occurred_at=at("2026-10-21T08:00"), note="施暴者到住处纠缠",
                   operator_email=mail_ctx.settings.operator_email)
    assert "protection_order_breach" in incident.risk_indicators
    reported = notice_keys(mail_ctx, case_id, f"incident:{incident.id}:")
    assert POLICE in {to for _, to in reported}
    await run(mail_ctx, "2026-10-21T10:01")
    assert (POLICE, NoticeKind.AT_ONCE, 0) in mails(mail_ctx, sink, kinds={NoticeKind.AT_ONCE})


@pytest.mark.parametrize(("measure", "field"), [
    ({"kind": "protection_order", "status": "granted"}, "until"),
    ({"kind": "warning_letter"}, "issuer"),
    ({"kind": "shelter", "until": date(2026, 10, 1)}, "until"),
    ({"kind": "injury_appraisal", "status": "granted"}, "status"),
    ({"kind": "curfew"}, "kind"),
])
def test_a_measure_names_what_it_lacks(demo_ctx, measure, field):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    with pytest.raises(InputError) as error:
        act(demo_ctx, case_id, "2026-10-20T10:00", records.record_measure,
            on=date(2026, 10, 20), **measure)
    assert error.value.field == field


def test_measures_are_for_dv_cases(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    with pytest.raises(InputError, match="不是家庭暴力个案"):
        act(demo_ctx, case_id, "2026-10-20T10:00", records.record_measure,
            kind="warning_letter", on=date(2026, 10, 20), issuer="东湖派出所")


# --- the commands ----------------------------------------------------------------------------

def cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def cli_case(demo_ctx, monkeypatch) -> str:
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    point_the_command_at(monkeypatch, settings=demo_ctx.settings)
    with unit_of_work(demo_ctx.sessions) as session:
        return session.get(Case, case_id).number


def test_the_commands_record_in_words_and_keep_codes_in_json(cli_case, capsys):
    number = cli_case
    code, out = cli(["case", "respond", number, "--note", "已答复",
                     "--at", "2026-10-13T10:00+08:00"], capsys)
    assert code == 2 and "verification: " in out and "须先核实再答复" in out
    code, out = cli(["case", "verify", number, "--at", "2026-10-13T10:00+08:00", "--method",
                     "visit", "--with", "邻居", "--found", "情况属实", "--veracity", "true",
                     "--reasonableness", "reasonable"], capsys)
    assert code == 0 and "核实" in out and "走访（邻居）：属实，诉求合理" in out
    code, out = cli(["case", "mediation", number, "--on", "2026-10-14", "--mediator", "许调解",
                     "--outcome", "failed", "--json"], capsys)
    assert code == 0 and json.loads(out)["mediations"][0]["outcome"] == "failed"
    code, out = cli(["case", "measure", number, "--kind", "protection_order", "--status",
                     "granted", "--on", "2026-10-20", "--until", "2026-12-31", "--issuer",
                     "示范县人民法院"], capsys)
    assert code == 0 and "人身安全保护令：已签发 2026-10-20 至 2026-12-31" in out
    code, out = cli(["case", "measure", number, "--kind", "protection_order", "--breach",
                     "--at", "2026-10-21T08:00+08:00", "--note", "到住处纠缠", "--json"], capsys)
    assert code == 0
    assert "protection_order_breach" in json.loads(out)["incidents"][0]["risk_indicators"]
    code, out = cli(["case", "measure", number, "--kind", "warning_letter",
                     "--at", "2026-10-21T08:00+08:00"], capsys)
    assert code == 2 and "--at: only with --breach" in out


def test_reject_and_follow_up_commands(cli_case, demo_ctx, capsys):
    land = take_in_doc(demo_ctx, "land_rights_ordinary", **EARLY)
    with unit_of_work(demo_ctx.sessions) as session:
        number = session.get(Case, land).number
    code, out = cli(["case", "reject", number, "--reason", "属仲裁事项",
                     "--redirect-to", "县仲裁委员会"], capsys)
    assert code == 0 and "不予受理" in out and "县仲裁委员会" in out
    closed = take_in_doc(demo_ctx, "land_rights_ordinary", **EARLY)
    answer_and_close(demo_ctx, closed, "2026-09-30T16:00")
    with unit_of_work(demo_ctx.sessions) as session:
        number = session.get(Case, closed).number
    code, out = cli(["case", "follow-up", number, "--at", "2026-10-09T10:00+08:00", "--by",
                     "陈美华", "--outcome", "已落实", "--satisfaction", "satisfied"], capsys)
    assert code == 0 and "结案回访" in out and "（满意）" in out
