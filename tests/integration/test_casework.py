"""Referrals that report back, return visits, incidents and safe contact — through the real
database, the outbox and a real SMTP exchange with the local sink. Time is injected."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models.runtime.sweep import sweep
from models.db import repositories as repo
from models.db.orm import AuditEvent, Notice, Referral, Visit, VisitPlan
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.intake_schema import IntakeValidationError, parse_intake
from models.service import referrals, visits
from models.service.calendar import current_calendar
from models.service.intake import take_in
from models.service.views import case_view
from notifications.sink import read_sink
from tests.conftest import SHARED

VILLAGE_CHAIR = "fulian.donghu@example.org"
TOWNSHIP_CHAIR = "fulian.dhz@example.org"
COUNTY_CHAIR = "fulian.county@example.org"
CIVIL_AFFAIRS = "minzheng.dhz@example.org"
GOVERNANCE = "zongzhi.dhz@example.org"
POLICE = "duty.dhpolice@example.org"
VICTIM_PHONE = "139-0000-0001"
SAFE_CHANNEL = "经其姐姐转达（电话 138-0000-0002）"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def take_in_doc(ctx, name: str, **changes) -> int:
    document = json.loads((SHARED / "contract" / "intake" / f"{name}.json").read_text(encoding="utf-8"))
    document.pop("external_ref", None)
    document.update(changes)
    ctx.clock.at = datetime.fromisoformat(document["received_at"]) + timedelta(minutes=1)
    intake = parse_intake(json.dumps(document, ensure_ascii=False), limits=ctx.intake_limits,
                          now=ctx.clock.now())
    with unit_of_work(ctx.sessions) as session:
        case, _ = take_in(session, intake=intake, calendar=current_calendar(session),
                          now=ctx.clock.now(), actor="test")
        return case.id


# A DV case in 东湖村, received Monday 2026-10-12 10:00: life-threatening, so the family goes
# on the high-risk ledger with the critical cadence (first visit within 3 days: Thu 10-15).
DV = {"received_at": "2026-10-12T10:00:00+08:00"}
# A land-rights case: nobody told at once, no ledger — only the deadline and referrals speak.
LAND = {"received_at": "2026-10-12T10:00:00+08:00", "jurisdiction": "990102001001"}


async def run(ctx, when: str):
    ctx.clock.at = at(when)
    with unit_of_work(ctx.sessions) as session:
        calendar = current_calendar(session)
    return await sweep(ctx, as_of=at(when), calendar=calendar)


def mails(ctx, sink, *, kinds: set[str] | None = None) -> list[tuple[str, str, int]]:
    """(to, notice kind, escalation level) of every mail in the sink, in filing order."""
    out = []
    with unit_of_work(ctx.sessions) as session:
        for message in read_sink(sink.directory):
            notice = session.scalar(select(Notice).where(Notice.key == message["X-Weiquan-Notice"]))
            if kinds is None or notice.kind in kinds:
                out.append((message["To"], notice.kind, notice.escalation_level))
    return out


def with_case(ctx, case_id: int, action, **kwargs):
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        return action(session, case=case, **kwargs)


def view(ctx, case_id: int) -> dict:
    with unit_of_work(ctx.sessions) as session:
        return case_view(session, repo.case_by_key(session, str(case_id)))


# --- referrals ---------------------------------------------------------------------------------

def refer(ctx, case_id: int, *, role: str = "civil_affairs", when: str, days: int = 7) -> int:
    ctx.clock.at = at(when)
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, str(case_id))
        referral = referrals.refer(session, case=case, role=role, working_days=days,
                                   purpose="临时生活救助", now=at(when), actor="test",
                                   calendar=current_calendar(session))
        return referral.id


def ref_act(ctx, referral_id: int, action, **kwargs):
    with unit_of_work(ctx.sessions) as session:
        return action(session, referral=session.get(Referral, referral_id), actor="test", **kwargs)


REFERRAL_KINDS = {"referral", "referral_reminder", "referral_overdue"}


async def test_referral_goes_out_at_once_and_a_result_in_time_stops_reminders(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **LAND)
    referral_id = refer(mail_ctx, case_id, when="2026-10-12T11:00:00")  # due Wed 10-21 24:00
    await run(mail_ctx, "2026-10-12T11:00:05")
    assert mails(mail_ctx, sink, kinds=REFERRAL_KINDS) == [(CIVIL_AFFAIRS, "referral", 0)]

    ref_act(mail_ctx, referral_id, referrals.acknowledge_referral, by="林民政", at=at("2026-10-13T09:00:00"))
    await run(mail_ctx, "2026-10-20T09:00:00")  # the day before: acknowledged, but no result yet
    ref_act(mail_ctx, referral_id, referrals.record_referral_result, note="已发放临时救助",
            by="林民政", at=at("2026-10-20T15:00:00"))
    for when in ("2026-10-21T09:00:00", "2026-10-22T09:00:00", "2026-10-27T09:00:00"):
        await run(mail_ctx, when)
    assert mails(mail_ctx, sink, kinds=REFERRAL_KINDS) == [
        (CIVIL_AFFAIRS, "referral", 0), (CIVIL_AFFAIRS, "referral_reminder", 0)]
    shown = view(mail_ctx, case_id)["referrals"]
    assert [(r["status"], r["result_note"]) for r in shown] == [("resulted", "已发放临时救助")]


async def test_referral_without_result_escalates_to_governance_centre_then_supervisor(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **LAND)
    referral_id = refer(mail_ctx, case_id, when="2026-10-12T11:00:00")  # due 10-21
    for when in ("2026-10-12T11:00:05", "2026-10-20T09:00:00", "2026-10-21T09:00:00",
                 "2026-10-22T09:00:00", "2026-10-26T09:00:00", "2026-10-27T09:00:00"):
        await run(mail_ctx, when)
    assert mails(mail_ctx, sink, kinds=REFERRAL_KINDS) == [
        (CIVIL_AFFAIRS, "referral", 0),
        (CIVIL_AFFAIRS, "referral_reminder", 0),  # 10-20, the working day before
        (CIVIL_AFFAIRS, "referral_reminder", 0),  # 10-21, the due day
        (GOVERNANCE, "referral_overdue", 1),      # 10-22 09:00: 综治中心
        (TOWNSHIP_CHAIR, "referral_overdue", 2),  # 3 working days on (10-27): the supervisor
    ]
    message = [m for m in read_sink(sink.directory) if m["To"] == GOVERNANCE][0]
    text = message.get_body(("plain",)).get_content()
    assert "至今未反馈" in text and "未签收" in text
    # 综治中心 has no account: the cadre's phone, never the case page or a command
    assert "0577-0000-1003" in text and "/cases/" not in text and "weiquan" not in text
    supervisor = [m for m in read_sink(sink.directory) if m["To"] == TOWNSHIP_CHAIR][-1]
    assert "此前已报综治中心督办" in supervisor.get_body(("plain",)).get_content()
    # A late result is recorded as late and stops any further escalation.
    ref_act(mail_ctx, referral_id, referrals.record_referral_result, note="已办结", by="林民政",
            at=at("2026-10-28T10:00:00"))
    await run(mail_ctx, "2026-11-30T09:00:00")
    assert len(mails(mail_ctx, sink, kinds=REFERRAL_KINDS)) == 5
    with unit_of_work(mail_ctx.sessions) as session:
        late = session.scalar(select(AuditEvent).where(AuditEvent.kind == "referral_result"))
        assert late.detail["on_time"] is False


async def test_without_a_governance_centre_the_supervisor_is_told(mail_ctx, sink):
    # 南山社区: no 综治中心 at its township, county or above.
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", received_at="2026-10-12T10:00:00+08:00",
                          jurisdiction="990102002001")
    refer(mail_ctx, case_id, role="police_station", when="2026-10-12T11:00:00", days=2)  # due 10-14
    for when in ("2026-10-12T11:00:05", "2026-10-15T09:00:00", "2026-10-20T09:00:00"):
        await run(mail_ctx, when)
    overdue = mails(mail_ctx, sink, kinds={"referral_overdue"})
    # The street's federation at once, the county's 3 working days later — not the same
    # supervisor twice.
    assert overdue == [("fulian.ns@example.org", "referral_overdue", 1),
                       ("fulian.county@example.org", "referral_overdue", 2)]
    message = [m for m in read_sink(sink.directory) if m["To"] == "fulian.county@example.org"][0]
    assert "此前已报南山街道妇联主席督办" in message.get_body(("plain",)).get_content()


def test_referral_bad_input_names_the_field_and_stores_nothing(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    for role, days, field in (("no_such_role", 7, "role"), ("civil_affairs", 0, "working_days"),
                              ("trade_union", 7, "role")):  # nobody holds trade_union
        with pytest.raises(InputError) as caught, unit_of_work(demo_ctx.sessions) as session:
            referrals.refer(session, case=repo.case_by_key(session, str(case_id)), role=role,
                            working_days=days, now=demo_ctx.clock.now(), actor="test",
                            calendar=current_calendar(session))
        assert caught.value.field == field
    with unit_of_work(demo_ctx.sessions) as session:
        assert session.scalars(select(Referral)).all() == []


# --- return visits -----------------------------------------------------------------------------

VISIT_KINDS = {"visit_due", "visit_overdue"}


def record(ctx, case_id: int, when: str, **overrides):
    ctx.clock.at = max(ctx.clock.at, at(when))
    fields = {"visited_at": at(when), "visited_by": "陈美华", "mode": "home", "met_alone": True,
              "needs": "法律咨询", "condition": "情绪稳定，孩子正常上学", "help_given": "讲解人身安全保护令",
              "now": ctx.clock.now(), "actor": "test", **overrides}
    return with_case(ctx, case_id, visits.record_visit, **fields)


def test_dv_intake_puts_the_family_on_the_high_risk_ledger_with_a_plan(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    plan = view(demo_ctx, case_id)["visit_plan"]
    assert (plan["ledger"], plan["level"], plan["status"]) == ("high_risk", "critical", "active")
    assert plan["next_due_on"] == "2026-10-15"  # within 3 days


def test_focus_markers_put_the_family_on_the_focus_ledger_and_plain_cases_on_none(demo_ctx):
    focus = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND, risk_indicators=["hardship"])
    plain = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    assert (view(demo_ctx, focus)["visit_plan"]["ledger"], view(demo_ctx, focus)["visit_plan"]["level"]) == ("focus", "focus")
    assert view(demo_ctx, plain)["visit_plan"] is None


async def test_visit_reminders_carry_a_calendar_file_and_the_next_is_planned_from_the_actual_visit(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "dv_strangulation", **DV)  # first visit due Thu 10-15
    await run(mail_ctx, "2026-10-14T09:00:00")
    assert mails(mail_ctx, sink, kinds=VISIT_KINDS) == [(VILLAGE_CHAIR, "visit_due", 0)]
    message = [m for m in read_sink(sink.directory) if "回访提醒" in m["Subject"]][0]
    ics = [part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]
    assert len(ics) == 1
    calendar_text = ics[0].get_content()
    assert "DTSTART:20261015T020000Z" in calendar_text  # 10:00 Shanghai on the due day
    assert VICTIM_PHONE not in calendar_text and "刘某某" not in calendar_text

    record(mail_ctx, case_id, "2026-10-16T15:00:00")  # a day late
    plan = view(mail_ctx, case_id)["visit_plan"]
    assert plan["next_due_at"] == "2026-10-23T15:00:00+08:00"  # a week after the actual visit
    for when in ("2026-10-16T15:01:00", "2026-10-21T09:00:00", "2026-10-22T09:00:00"):
        await run(mail_ctx, when)
    # The 10-15 visit's escalations no longer apply once it happened; the next reminder does.
    assert mails(mail_ctx, sink, kinds=VISIT_KINDS) == [
        (VILLAGE_CHAIR, "visit_due", 0), (VILLAGE_CHAIR, "visit_due", 0)]


async def test_a_missed_visit_escalates_up_the_levels(mail_ctx, sink):
    take_in_doc(mail_ctx, "dv_strangulation", **DV)  # due 10-15, overdue from 10-16 00:00
    for when in ("2026-10-15T09:00:00", "2026-10-16T09:00:00", "2026-10-20T09:00:00",
                 "2026-10-21T09:00:00"):
        await run(mail_ctx, when)
    assert mails(mail_ctx, sink, kinds=VISIT_KINDS) == [
        (VILLAGE_CHAIR, "visit_due", 0),
        (TOWNSHIP_CHAIR, "visit_overdue", 1),
        (COUNTY_CHAIR, "visit_overdue", 2),  # 3 working days after the first escalation
    ]


def test_visit_input_is_checked_field_by_field_and_nothing_is_half_stored(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    demo_ctx.clock.at = at("2026-10-14T12:00:00")
    bad = [({"mode": "carrier_pigeon"}, "mode"), ({"visited_by": " "}, "visited_by"),
           ({"visited_at": at("2026-10-20T10:00:00")}, "visited_at"),
           ({"visited_at": at("2026-10-01T10:00:00")}, "visited_at"),
           ({"next_visit_on": at("2026-12-31T00:00:00").date()}, "next_visit_on")]
    for overrides, field in bad:
        with pytest.raises(InputError) as caught:
            record(demo_ctx, case_id, "2026-10-14T10:00:00", **overrides)
        assert caught.value.field == field
    with unit_of_work(demo_ctx.sessions) as session:
        assert session.scalars(select(Visit)).all() == []


def test_a_cadre_may_bring_the_next_visit_forward_not_put_it_off(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    record(demo_ctx, case_id, "2026-10-14T10:00:00", next_visit_on=at("2026-10-16T00:00:00").date())
    assert view(demo_ctx, case_id)["visit_plan"]["next_due_on"] == "2026-10-16"


def test_ending_a_plan_needs_a_reason_and_is_audited(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    with pytest.raises(InputError, match="reason"):
        with_case(demo_ctx, case_id, visits.end_plan, reason="ok", now=demo_ctx.clock.now(), actor="test")
    with_case(demo_ctx, case_id, visits.end_plan, reason="当事人已迁居外省，转当地妇联跟进",
              now=demo_ctx.clock.now(), actor="test")
    shown = view(demo_ctx, case_id)
    assert shown["visit_plan"]["status"] == "ended"
    assert shown["visit_plan"]["end_reason"] == "当事人已迁居外省，转当地妇联跟进"
    with unit_of_work(demo_ctx.sessions) as session:
        assert session.scalar(select(AuditEvent.note).where(AuditEvent.kind == "visit_plan_ended")) \
            == "当事人已迁居外省，转当地妇联跟进"


async def test_an_ended_plan_sends_nothing_more(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "dv_strangulation", **DV)
    with_case(mail_ctx, case_id, visits.end_plan, reason="当事人已迁居外省，转当地妇联跟进",
              now=mail_ctx.clock.now(), actor="test")
    for when in ("2026-10-14T09:00:00", "2026-10-16T09:00:00", "2026-10-21T09:00:00"):
        await run(mail_ctx, when)
    assert mails(mail_ctx, sink, kinds=VISIT_KINDS) == []


# --- incidents and the risk level ---------------------------------------------------------------

def incident(ctx, case_id: int, when: str, indicators: list[str]):
    ctx.clock.at = max(ctx.clock.at, at(when))
    return with_case(ctx, case_id, visits.record_incident, occurred_at=at(when),
                     risk_indicators=indicators, note="", now=ctx.clock.now(), actor="test",
                     operator_email="operator@weiquan.local")


async def test_a_life_threatening_incident_tightens_the_plan_and_is_reported_at_once(mail_ctx, sink):
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **LAND, risk_indicators=["hardship"])
    assert view(mail_ctx, case_id)["visit_plan"]["next_due_on"] == "2026-11-11"  # focus: 30 days
    incident(mail_ctx, case_id, "2026-10-20T20:00:00", ["threat_to_kill"])
    shown = view(mail_ctx, case_id)
    assert (shown["risk_level"], shown["rule_risk_level"]) == ("critical", "critical")
    assert (shown["visit_plan"]["ledger"], shown["visit_plan"]["level"]) == ("high_risk", "critical")
    assert shown["visit_plan"]["next_due_on"] == "2026-10-23"  # within 3 days of the incident
    await run(mail_ctx, "2026-10-20T20:00:05")
    told = {to for to, kind, _ in mails(mail_ctx, sink, kinds={"at_once"})}
    assert POLICE in told and "hotline12338.county@example.org" in told


def test_three_incidents_in_twelve_months_make_the_family_high_risk(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND, risk_indicators=["hardship"])
    incident(demo_ctx, case_id, "2026-11-02T10:00:00", ["hardship"])
    assert view(demo_ctx, case_id)["visit_plan"]["level"] == "focus"  # two so far
    incident(demo_ctx, case_id, "2026-12-01T10:00:00", ["hardship"])  # the third in 12 months
    shown = view(demo_ctx, case_id)
    assert shown["risk_level"] == "high" and "3次" in shown["risk_reason"]
    assert (shown["visit_plan"]["ledger"], shown["visit_plan"]["level"]) == ("high_risk", "high")


def test_incidents_spread_over_more_than_a_year_do_not_count_together(demo_ctx):
    case_id = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND, risk_indicators=["hardship"])
    incident(demo_ctx, case_id, "2027-06-01T10:00:00", ["hardship"])
    incident(demo_ctx, case_id, "2027-11-01T10:00:00", ["hardship"])  # 10-12 has left the window
    assert view(demo_ctx, case_id)["visit_plan"]["level"] == "focus"


def test_a_level_set_by_the_rules_is_lowered_by_hand_only_with_a_reason(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    with pytest.raises(InputError, match="reason"):
        with_case(demo_ctx, case_id, visits.set_risk_level, level="high", reason=None,
                  now=demo_ctx.clock.now(), actor="test")
    assert view(demo_ctx, case_id)["risk_level"] == "critical"
    with_case(demo_ctx, case_id, visits.set_risk_level, level="high",
              reason="施暴者已被刑事拘留，危险暂时解除", now=demo_ctx.clock.now(), actor="test")
    shown = view(demo_ctx, case_id)
    assert (shown["risk_level"], shown["rule_risk_level"]) == ("high", "critical")
    assert shown["visit_plan"]["level"] == "high"
    with unit_of_work(demo_ctx.sessions) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "risk_level_set"))
        assert (event.note, event.detail["from"], event.detail["to"]) == (
            "施暴者已被刑事拘留，危险暂时解除", "critical", "high")


# --- safe contact -------------------------------------------------------------------------------

def dv_with_safety(ctx, **victim) -> int:
    document = json.loads((SHARED / "contract" / "intake" / "dv_strangulation.json").read_text(encoding="utf-8"))
    document["parties"][0].update(victim)
    return take_in_doc(ctx, "dv_strangulation", **DV, parties=document["parties"])


async def test_do_not_contact_and_quiet_hours_shape_every_mail_and_the_visit_time(mail_ctx, sink):
    dv_with_safety(mail_ctx, do_not_contact=True, safe_channel=SAFE_CHANNEL, quiet_hours="09:00-17:00")
    await run(mail_ctx, "2026-10-12T10:01:05")
    await run(mail_ctx, "2026-10-14T09:00:00")
    messages = read_sink(sink.directory)
    assert messages
    for message in messages:
        raw = message.as_string()
        assert VICTIM_PHONE not in raw and "138-0000-0002" not in raw and "姐姐" not in raw
    police = [m for m in messages if m["To"] == POLICE][0]
    assert "不要直接联系" in police.get_body(("plain",)).get_content()
    reminder = [m for m in messages if "回访提醒" in m["Subject"]][0]
    assert "09:00-17:00" in reminder.get_body(("plain",)).get_content()
    ics = [p for p in reminder.iter_attachments() if p.get_content_type() == "text/calendar"][0]
    assert "DTSTART:20261015T090000Z" in ics.get_content()  # 17:00 Shanghai, after her quiet hours


def test_safe_contact_is_set_later_and_audited_without_the_channel(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)
    with pytest.raises(InputError) as caught:
        with_case(demo_ctx, case_id, visits.set_safe_contact, do_not_contact=True,
                  safe_channel=None, quiet_hours="after dark", now=demo_ctx.clock.now(), actor="test")
    assert caught.value.field == "quiet_hours"
    with_case(demo_ctx, case_id, visits.set_safe_contact, do_not_contact=True,
              safe_channel=SAFE_CHANNEL, quiet_hours="20:00-08:00", now=demo_ctx.clock.now(), actor="test")
    victim = view(demo_ctx, case_id)["parties"][0]
    assert (victim["do_not_contact"], victim["safe_channel"], victim["quiet_hours"]) == (
        True, SAFE_CHANNEL, "20:00-08:00")
    with unit_of_work(demo_ctx.sessions) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.kind == "safe_contact_set")).all()
    assert len(events) == 1  # the refused change left nothing behind
    assert "姐姐" not in json.dumps(events[0].detail, ensure_ascii=False) + events[0].note


def test_bad_quiet_hours_in_an_intake_name_the_field(demo_ctx):
    document = json.loads((SHARED / "contract" / "intake" / "dv_strangulation.json").read_text(encoding="utf-8"))
    document["parties"][0]["quiet_hours"] = "22-7"
    with pytest.raises(IntakeValidationError, match=r"parties\.0\.quiet_hours"):
        parse_intake(json.dumps(document, ensure_ascii=False), limits=demo_ctx.intake_limits,
                     now=demo_ctx.clock.now())


def test_overdue_report_lists_referrals_without_feedback_and_missed_visits(demo_ctx):
    from models.service.overdue import overdue_report

    dv = take_in_doc(demo_ctx, "dv_strangulation", **DV)  # visit due 10-15
    land = take_in_doc(demo_ctx, "land_rights_ordinary", **LAND)
    refer(demo_ctx, land, when="2026-10-12T11:00:00")  # feedback due 10-21
    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
        before = overdue_report(session, as_of=at("2026-10-15T12:00:00"), under="990102001",
                                calendar=calendar)
        after = overdue_report(session, as_of=at("2026-10-22T12:00:00"), under="990102001",
                               calendar=calendar)
        elsewhere = overdue_report(session, as_of=at("2026-10-22T12:00:00"), under="990102002",
                                   calendar=calendar)
    numbers = {case_id: view(demo_ctx, case_id)["number"] for case_id in (dv, land)}
    assert before["overdue_referrals"] == [] and before["overdue_visits"] == []
    assert [r["case"] for r in after["overdue_referrals"]] == [numbers[land]]
    assert [r["case"] for r in after["overdue_visits"]] == [numbers[dv]]
    assert elsewhere["overdue_referrals"] == [] and elsewhere["overdue_visits"] == []


# --- at-once notices must be confirmed ---------------------------------------------------------

async def test_unconfirmed_at_once_notices_go_again_after_30_minutes_and_the_cadre_is_told_to_phone(mail_ctx, sink):
    from models.service.ack import acknowledge_notice

    take_in_doc(mail_ctx, "dv_strangulation", **DV)  # stored 10:01
    await run(mail_ctx, "2026-10-12T10:01:05")
    first = [m for m in read_sink(sink.directory) if m["To"] == POLICE][0]
    assert "/ack/" in first.get_body(("plain",)).get_content()  # a link, no account needed
    with unit_of_work(mail_ctx.sessions) as session:
        police = session.scalar(select(Notice).where(Notice.kind == "at_once",
                                                     Notice.to_address == POLICE))
        acknowledge_notice(session, notice=police, case=repo.case_by_key(session, str(police.case_id)),
                           action="receipt", by="值班民警", note="", now=at("2026-10-12T10:20:00"))
    await run(mail_ctx, "2026-10-12T10:31:04")
    assert mails(mail_ctx, sink, kinds={"at_once_again", "phone_unconfirmed"}) == []
    await run(mail_ctx, "2026-10-12T10:31:05")
    await run(mail_ctx, "2026-10-12T11:30:00")  # once, not every half hour
    again = mails(mail_ctx, sink, kinds={"at_once_again", "phone_unconfirmed"})
    assert sorted(again) == sorted([
        ("fulian.dhz@example.org", "at_once_again", 0),
        ("hotline12338.county@example.org", "at_once_again", 0),
        ("secretary.donghu@example.org", "at_once_again", 0),
        ("director.donghu@example.org", "at_once_again", 0),
        (VILLAGE_CHAIR, "phone_unconfirmed", 0),
    ])
    phone = [m for m in read_sink(sink.directory) if "致电确认" in m["Subject"]][0]
    text = phone.get_body(("plain",)).get_content()
    assert "12338妇女维权热线" in text and "派出所" not in text  # the police confirmed


async def test_a_confirmation_before_the_re_send_goes_out_cancels_it(mail_ctx, sink):
    from models.service.ack import acknowledge_notice

    take_in_doc(mail_ctx, "dv_strangulation", **DV)
    await run(mail_ctx, "2026-10-12T10:01:05")
    with unit_of_work(mail_ctx.sessions) as session:
        for notice in session.scalars(select(Notice).where(Notice.kind == "at_once")).all():
            acknowledge_notice(session, notice=notice, case=repo.case_by_key(session, str(notice.case_id)),
                               action="receipt", by="值班", note="", now=at("2026-10-12T10:25:00"))
    await run(mail_ctx, "2026-10-12T10:45:00")
    assert mails(mail_ctx, sink, kinds={"at_once_again", "phone_unconfirmed"}) == []


async def test_an_ordinary_case_at_once_notice_is_not_chased(mail_ctx, sink):
    # Two failed mediations: the upper federation is told at once, but no life is at risk.
    take_in_doc(mail_ctx, "land_rights_ordinary", **LAND, mediation_attempts=2)
    await run(mail_ctx, "2026-10-12T10:01:05")
    assert mails(mail_ctx, sink, kinds={"at_once"})
    await run(mail_ctx, "2026-10-12T11:00:00")
    assert mails(mail_ctx, sink, kinds={"at_once_again", "phone_unconfirmed"}) == []


async def test_each_round_of_reports_is_chased_once_and_old_reports_are_not_re_sent(mail_ctx, sink):
    from models.service.ack import acknowledge_notice

    # Two failed mediations: the upper federation is told at once, no confirmation is chased.
    case_id = take_in_doc(mail_ctx, "land_rights_ordinary", **LAND, mediation_attempts=2)
    await run(mail_ctx, "2026-10-12T10:01:05")
    # Later a threat to kill: a new round of reports that must be confirmed.
    incident(mail_ctx, case_id, "2026-10-20T20:00:00", ["threat_to_kill"])
    await run(mail_ctx, "2026-10-20T20:00:05")
    await run(mail_ctx, "2026-10-20T20:30:05")
    with unit_of_work(mail_ctx.sessions) as session:
        again = session.scalars(select(Notice.key).where(Notice.kind == "at_once_again")).all()
        one = session.scalar(select(Notice).where(Notice.kind == "at_once",
                                                  Notice.key.like("incident:%")).limit(1))
        acknowledge_notice(session, notice=one, case=repo.case_by_key(session, str(case_id)),
                           action="receipt", by="值班", note="", now=at("2026-10-20T20:40:00"))
    # Only the incident's reports are chased, not the mediation report of 10-12.
    assert again and all(key.startswith("incident:") for key in again), again
    await run(mail_ctx, "2026-10-20T20:45:00")  # a confirmation does not start a new round
    assert mails(mail_ctx, sink, kinds={"phone_unconfirmed"}) == [(VILLAGE_CHAIR, "phone_unconfirmed", 0)]


def test_recording_an_older_visit_late_does_not_push_back_a_visit_brought_forward(demo_ctx):
    case_id = take_in_doc(demo_ctx, "dv_strangulation", **DV)  # critical: due 10-15
    record(demo_ctx, case_id, "2026-10-14T10:00:00")  # next: 10-21
    incident(demo_ctx, case_id, "2026-10-19T20:00:00", ["threat_to_kill"])  # next: by 10-22 → stays 10-21
    with_case(demo_ctx, case_id, visits.bring_forward, to=at("2026-10-20T00:00:00").date(),
              now=at("2026-10-19T21:00:00"), actor="test")
    # On 10-20 the cadre records a phone visit she made on 10-18, before the plan changed.
    demo_ctx.clock.at = at("2026-10-20T08:00:00")
    record(demo_ctx, case_id, "2026-10-18T10:00:00", mode="phone")
    assert view(demo_ctx, case_id)["visit_plan"]["next_due_on"] == "2026-10-20"


async def test_quiet_hours_covering_the_day_give_an_all_day_calendar_entry(mail_ctx, sink):
    dv_with_safety(mail_ctx, quiet_hours="07:00-21:00")
    await run(mail_ctx, "2026-10-14T09:00:00")
    reminder = [m for m in read_sink(sink.directory) if "回访提醒" in m["Subject"]][0]
    assert "安全渠道另行约定" in reminder.get_body(("plain",)).get_content()
    ics = [p for p in reminder.iter_attachments() if p.get_content_type() == "text/calendar"][0]
    assert "DTSTART;VALUE=DATE:20261015" in ics.get_content()
