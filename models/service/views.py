"""What a stored case looks like to the person who asked for it (CLI output, JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db.orm import (
    Case,
    CaseRejection,
    FollowUp,
    Incident,
    Jurisdiction,
    Mediation,
    Notice,
    ProtectiveMeasure,
    Referral,
    Verification,
    Visit,
    VisitPlan,
)
from models.domain.calendar import SHANGHAI
from models.domain import casework
from models.domain.found_families import NO_ANSWER_OWED
from models.domain.notice_kinds import label_of
from models.domain.procedure import STATUS_LABELS
from models.domain.vocabulary import vocabulary


def local_iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(SHANGHAI).isoformat()


def case_view(session: Session, case: Case) -> dict[str, Any]:
    jurisdiction = case.jurisdiction_code
    node = session.get(Jurisdiction, jurisdiction)
    return {
        "id": case.id,
        "number": case.number,
        "external_ref": case.external_ref,
        "channel": case.channel,
        "category": case.category,
        "tier": case.tier,
        "tier_proposed": case.tier_proposed,
        "tier_reason": case.tier_reason,
        "status": case.status,
        "jurisdiction": jurisdiction,
        "jurisdiction_name": node.name if node else None,
        "received_at": local_iso(case.received_at),
        "response_due_at": local_iso(case.response_due_at),
        "response_due_date": case.response_due_date.isoformat() if case.response_due_date else None,
        "deadline_provisional": case.deadline_provisional,
        "deadline_rule": case.deadline_rule,
        "assigned_by": case.assigned_by,
        "assigner_due_at": local_iso(case.assigner_due_at),
        "risk_level": case.risk_level,
        "risk_reason": case.risk_reason,
        "risk_indicators": list(case.risk_indicators),
        "mediation_attempts": case.mediation_attempts,
        "responded_at": local_iso(case.responded_at),
        "rule_risk_level": case.rule_risk_level,
        "parties": [
            {"role": p.role, "name": p.name, "phone": p.phone, "age": p.age, "address": p.address,
             "do_not_contact": p.do_not_contact, "safe_channel": p.safe_channel,
             "quiet_hours": p.quiet_hours}
            for p in case.parties
        ],
        "notices": [
            {"kind": n.kind, "role": n.recipient_role, "jurisdiction": n.recipient_jurisdiction,
             "to": n.to_address or None, "status": n.status, "reason": n.reason or n.last_error,
             "due_at": local_iso(n.due_at), "sent_at": local_iso(n.sent_at)}
            for n in session.scalars(select(Notice).where(Notice.case_id == case.id)
                                     .order_by(Notice.id))
        ],
        **casework_view(session, case),
    }


def casework_view(session: Session, case: Case) -> dict[str, Any]:
    """The case's referrals, return-visit plan, visits and incidents."""
    plan = session.scalar(select(VisitPlan).where(VisitPlan.case_id == case.id))
    return {
        "referrals": [
            {"id": r.id, "role": r.role, "jurisdiction": r.jurisdiction_code,
             "contact_id": r.contact_id, "purpose": r.purpose, "status": r.status,
             "sent_at": local_iso(r.sent_at), "feedback_due_at": local_iso(r.feedback_due_at),
             "acknowledged_at": local_iso(r.acknowledged_at), "acknowledged_by": r.acknowledged_by or None,
             "result_at": local_iso(r.result_at), "result_note": r.result_note or None}
            for r in session.scalars(select(Referral).where(Referral.case_id == case.id)
                                     .order_by(Referral.id))
        ],
        "visit_plan": None if plan is None else {
            "ledger": plan.ledger, "level": plan.level, "status": plan.status,
            "reason": plan.reason, "started_at": local_iso(plan.started_at),
            "next_due_at": local_iso(plan.next_due_at),
            "next_due_on": plan.next_due_at.astimezone(SHANGHAI).date().isoformat()
            if plan.next_due_at else None,
            "ended_at": local_iso(plan.ended_at), "end_reason": plan.end_reason or None,
        },
        "visits": [
            {"id": v.id, "visited_at": local_iso(v.visited_at), "visited_by": v.visited_by,
             "mode": v.mode, "met_alone": v.met_alone, "needs": v.needs,
             "condition": v.condition, "help_given": v.help_given,
             "next_due_at": local_iso(v.next_due_at)}
            for v in session.scalars(select(Visit).where(Visit.case_id == case.id)
                                     .order_by(Visit.visited_at, Visit.id))
        ],
        "incidents": [
            {"id": i.id, "occurred_at": local_iso(i.occurred_at),
             "risk_indicators": list(i.risk_indicators), "assessed_level": i.assessed_level,
             "note": i.note}
            for i in session.scalars(select(Incident).where(Incident.case_id == case.id)
                                     .order_by(Incident.occurred_at, Incident.id))
        ],
        **records_view(session, case),
    }


def records_view(session: Session, case: Case) -> dict[str, Any]:
    """The casework records (domain.md §11), as codes: mediations, verifications, the
    rejection, the return visit after closing and protective measures."""
    def rows(model, *order):
        return session.scalars(select(model).where(model.case_id == case.id).order_by(*order))

    rejection = session.scalar(select(CaseRejection).where(CaseRejection.case_id == case.id))
    return {
        "mediations": [
            {"id": m.id, "held_on": m.held_on.isoformat(), "mediator": m.mediator_name,
             "mediator_contact_id": m.mediator_contact_id, "outcome": m.outcome, "note": m.note}
            for m in rows(Mediation, Mediation.held_on, Mediation.id)],
        "verifications": [
            {"id": v.id, "verified_at": local_iso(v.verified_at), "method": v.method,
             "with_whom": v.with_whom, "findings": v.findings, "veracity": v.veracity,
             "reasonableness": v.reasonableness}
            for v in rows(Verification, Verification.verified_at, Verification.id)],
        "rejection": None if rejection is None else {
            "reason": rejection.reason, "redirected_to": rejection.redirected_to or None,
            "at": local_iso(rejection.rejected_at)},
        "follow_up": follow_up_view(session, case=case),
        "measures": [
            {"id": m.id, "kind": m.kind, "status": m.status, "on": m.on_date.isoformat(),
             "until": m.until_date.isoformat() if m.until_date else None,
             "issuer": m.issuer or None, "note": m.note or None}
            for m in rows(ProtectiveMeasure, ProtectiveMeasure.id)],
    }


def follow_up_view(session: Session, *, case: Case) -> dict[str, Any] | None:
    """The return visit a closed case owes (结案回访), as codes; None when it owes none."""
    follow_up = session.scalar(select(FollowUp).where(FollowUp.case_id == case.id))
    return None if follow_up is None else {
        "due_at": local_iso(follow_up.due_at), "visited_at": local_iso(follow_up.visited_at),
        "visited_by": follow_up.visited_by or None, "outcome": follow_up.outcome or None,
        "satisfaction": follow_up.satisfaction}


def _records_text(view: dict[str, Any]) -> list[str]:
    def words(enum, code):
        return casework.label(enum(code))

    lines = []
    for m in view["mediations"]:
        lines.append(f"  调解      {m['held_on']} {m['mediator']}：{words(casework.MediationOutcome, m['outcome'])}")
    for v in view["verifications"]:
        lines.append(f"  核实      {v['verified_at']} {words(casework.VerificationMethod, v['method'])}"
                     f"（{v['with_whom']}）：{words(casework.Veracity, v['veracity'])}，"
                     f"{words(casework.Reasonableness, v['reasonableness'])}")
    if (rejection := view["rejection"]) is not None:
        lines.append(f"  不予受理  {rejection['at']} {rejection['reason']}"
                     + (f"（转办{rejection['redirected_to']}）" if rejection["redirected_to"] else ""))
    if (follow := view["follow_up"]) is not None:
        lines.append(f"  结案回访  应于 {follow['due_at'][:10]} 前" + (
            f"；{follow['visited_at']} {follow['visited_by']}：{follow['outcome']}"
            f"（{words(casework.Satisfaction, follow['satisfaction'])}）"
            if follow["visited_at"] else "；尚未回访"))
    for m in view["measures"]:
        lines.append(f"  保护措施  {words(casework.MeasureKind, m['kind'])}："
                     f"{words(casework.MeasureStatus, m['status'])} {m['on']}"
                     + (f" 至 {m['until']}" if m["until"] else "")
                     + (f"（{m['issuer']}）" if m["issuer"] else ""))
    return lines


def case_text(view: dict[str, Any]) -> str:
    """The stored case as a cadre reads it in a terminal."""
    voc = vocabulary()
    provisional = "（暂定：该年度放假安排尚未公布，公布后将重新计算）" if view["deadline_provisional"] else ""
    lines = [
        f"案件 {view['number']}  (id {view['id']})",
        f"  来源      {voc.label('channels', view['channel'])}",
        f"  类别      {voc.label('categories', view['category'])}",
        f"  辖区      {view['jurisdiction_name'] or ''} {view['jurisdiction']}",
        f"  受理时间  {view['received_at']}",
        f"  个案类型  {voc.label('tiers', view['tier']) if view['tier'] else '—'}  — {view['tier_reason']}",
        f"  答复期限  {view['response_due_at'] or NO_ANSWER_OWED}  ({view['deadline_rule']}){provisional}",
        f"  风险等级  {voc.label('risk_levels', view['risk_level'])}  — {view['risk_reason']}",
        f"  状态      {STATUS_LABELS.get(view['status'], view['status'])}",
    ]
    for notice in view["notices"]:
        lines.append(f"  通知      {label_of(notice['kind'])} "
                     f"{voc.label('contact_roles', notice['role'])} {notice['jurisdiction']} → "
                     f"{notice['to'] or '（无人登记）'} [{voc.label('notice_statuses', notice['status'])}]")
    for party in view["parties"]:
        if party["do_not_contact"] or party["safe_channel"] or party["quiet_hours"]:
            lines.append(f"  安全联系  {voc.label('party_roles', party['role'])}："
                         + ("勿直接联系；" if party["do_not_contact"] else "")
                         + (f"安全渠道 {party['safe_channel']}；" if party["safe_channel"] else "")
                         + (f"勿在 {party['quiet_hours']} 联系" if party["quiet_hours"] else ""))
    for referral in view["referrals"]:
        lines.append(f"  转介 #{referral['id']:<4} {voc.label('contact_roles', referral['role'])} "
                     f"{referral['jurisdiction']}  反馈期限 {referral['feedback_due_at']} "
                     f"[{voc.label('referral_statuses', referral['status'])}]")
    plan = view["visit_plan"]
    if plan is not None:
        lines.append(f"  回访计划  {voc.label('ledgers', plan['ledger'])} / "
                     f"{voc.label('plan_levels', plan['level'])} "
                     f"[{voc.label('plan_statuses', plan['status'])}]  "
                     f"下次回访 {plan['next_due_on'] or '—'}"
                     + (f"  结束理由：{plan['end_reason']}" if plan["end_reason"] else ""))
    for visit in view["visits"]:
        lines.append(f"  回访记录  {visit['visited_at']} {voc.label('visit_modes', visit['mode'])} {visit['visited_by']}"
                     f"{'（单独会见）' if visit['met_alone'] else ''}")
    for incident in view["incidents"]:
        lines.append(f"  新发事件  {incident['occurred_at']} → {voc.label('risk_levels', incident['assessed_level'])}")
    lines += _records_text(view)
    return "\n".join(lines)
