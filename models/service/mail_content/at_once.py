"""Mails of reports made at once: the report to an institution (and its re-send when nobody
confirms), the cadre's call-110 mail, the operator's registry gap, and the cadre's list of
institutions still to phone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db.orm import Case, Contact, Notice
from models.domain.notice_kinds import NoticeKind
from models.domain.vocabulary import vocabulary
from models.service.mail_content.common import cadre_facts

# The institutions told at once have no account: their mail carries the signed link and the
# cadre's phone, never the case page (login only) or a command.
_KEEP = ("case_number", "category_label", "jurisdiction_name", "received_at", "ack_url",
         "safety_note")


def at_once_context(session: Session, *, notice: Notice, case: Case,
                    context: dict[str, object], **_: object) -> dict[str, object]:
    if notice.kind == NoticeKind.PHONE_UNCONFIRMED:
        return _unconfirmed_context(session, case=case, context=context)
    base = {k: context[k] for k in _KEEP if k in context}
    if notice.kind == NoticeKind.ROUTING_GAP:
        return {"case_number": case.number, "jurisdiction_name": context["jurisdiction_name"],
                "missing_text": notice.reason, "case_url": context["case_url"],
                "safety_note": context["safety_note"],
                "act_command": "weiquan registry load --contacts 联络名册.csv"}
    if notice.kind == NoticeKind.CALL_110:
        told = session.scalars(select(Contact.post).join(Notice, Notice.contact_id == Contact.id)
                               .where(Notice.case_id == case.id,
                                      Notice.kind == NoticeKind.AT_ONCE)).all()
        labels = [vocabulary().label("risk_indicators", code) for code in case.risk_indicators]
        return {**base, "reasons_text": "；".join(labels) or notice.reason,
                "told_text": "、".join(told) or "（无）", "case_url": context["case_url"]}
    return {**base, **cadre_facts(session, case), "purpose": notice.reason.split("；", 1)[0],
            "reasons_text": notice.reason}


def _unconfirmed_context(session: Session, *, case: Case,
                         context: dict[str, object]) -> dict[str, object]:
    """Which institutions have not confirmed the at-once report: the cadre phones them."""
    rows = session.execute(
        select(Contact.post, Contact.name, Contact.phone).join(Notice, Notice.contact_id == Contact.id)
        .where(Notice.case_id == case.id, Notice.kind == NoticeKind.AT_ONCE,
               Notice.status == "sent", Notice.must_confirm.is_(True),
               Notice.acknowledged_at.is_(None))
        .order_by(Notice.id)).all()
    return {"case_number": case.number, "category_label": context["category_label"],
            "jurisdiction_name": context["jurisdiction_name"], "case_url": context["case_url"],
            "safety_note": context["safety_note"],
            "unconfirmed_text": "\n".join(f"{post or name}：{phone or '（未登记电话）'}"
                                           for post, name, phone in rows) or "（均已确认）"}
