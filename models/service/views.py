"""What a stored case looks like to the person who asked for it (CLI output, JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db.orm import Case, Jurisdiction, Notice
from models.domain.calendar import SHANGHAI
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
        "response_due_date": case.response_due_date.isoformat(),
        "deadline_provisional": case.deadline_provisional,
        "deadline_rule": case.deadline_rule,
        "assigned_by": case.assigned_by,
        "assigner_due_at": local_iso(case.assigner_due_at),
        "risk_level": case.risk_level,
        "risk_reason": case.risk_reason,
        "risk_indicators": list(case.risk_indicators),
        "mediation_attempts": case.mediation_attempts,
        "responded_at": local_iso(case.responded_at),
        "parties": [
            {"role": p.role, "name": p.name, "phone": p.phone, "age": p.age, "address": p.address}
            for p in case.parties
        ],
        "notices": [
            {"kind": n.kind, "role": n.recipient_role, "jurisdiction": n.recipient_jurisdiction,
             "to": n.to_address or None, "status": n.status, "reason": n.reason or n.last_error,
             "due_at": local_iso(n.due_at), "sent_at": local_iso(n.sent_at)}
            for n in session.scalars(select(Notice).where(Notice.case_id == case.id)
                                     .order_by(Notice.id))
        ],
        "visits": [],
    }


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
        f"  个案类型  {voc.label('tiers', view['tier'])}  — {view['tier_reason']}",
        f"  答复期限  {view['response_due_at']}  ({view['deadline_rule']}){provisional}",
        f"  风险等级  {view['risk_level']}  — {view['risk_reason']}",
        f"  状态      {view['status']}",
    ]
    for notice in view["notices"]:
        lines.append(f"  通知      {notice['kind']:<12} {notice['role']} {notice['jurisdiction']} → "
                     f"{notice['to'] or '（无人登记）'} [{notice['status']}]")
    for visit in view["visits"]:
        lines.append(f"  回访      {visit['due_at']}")
    return "\n".join(lines)
