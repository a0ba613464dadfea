"""What every mail about a case shares: the case's facts for the recipient, the responsible
cadre, the acknowledgement link and the times as people read them. Never the victim's name,
phone, address or safe channel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Jurisdiction, Notice, Referral
from models.domain.calendar import SHANGHAI
from models.domain.found_families import NO_ANSWER_OWED
from models.domain.notice_kinds import spec_of
from models.domain.safe_contact import safety_note
from models.domain.vocabulary import vocabulary
from models.service.ack import ack_url_for
from models.service.visits import safe_contact_of

ACK_LINK_VALIDITY = timedelta(days=14)
ACK_LINK_AFTER_FEEDBACK_DUE = timedelta(days=60)


def local_text(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(SHANGHAI).strftime(fmt) if moment else "（无）"


def due_text(moment: datetime) -> str:
    """A deadline as people say it: a day's last second is "24:00" of that day."""
    local = moment.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%d") + " 24:00" if local.strftime("%H:%M:%S") == "23:59:59" \
        else local.strftime("%Y-%m-%d %H:%M")


class AssignedCase(Protocol):
    """What `responsible_cadre` reads of a case: a `Case`, or a row of these columns (the
    board reads them alone for hundreds of rows)."""

    responsible_contact_id: int | None
    jurisdiction_code: str


def responsible_cadre(session: Session, case: AssignedCase) -> Contact | None:
    if case.responsible_contact_id is not None:
        return session.get(Contact, case.responsible_contact_id)
    found = repo.contacts_for_role(session, jurisdiction_code=case.jurisdiction_code,
                                   role="federation_chair")
    return found[0] if found else None


def cadre_facts(session: Session, case: Case) -> dict[str, str]:
    cadre = responsible_cadre(session, case)
    return {"responsible_name": cadre.name if cadre else "（未指定）",
            "responsible_post": cadre.post if cadre else "",
            "responsible_contact": (cadre.phone or cadre.email) if cadre else ""}


def case_context(session: Session, *, notice: Notice, case: Case, as_of: datetime,
                 public_url: str | None, ack_secret: str | None) -> dict[str, object]:
    """The facts of the case every family starts from, with the acknowledgement link for
    kinds whose recipients have no account."""
    voc = vocabulary()
    node = session.get(Jurisdiction, case.jurisdiction_code)
    context: dict[str, object] = {
        "case_number": case.number,
        "tier_label": voc.label("tiers", case.tier) if case.tier else "",
        "category_label": voc.label("categories", case.category),
        "jurisdiction_name": node.name if node else case.jurisdiction_code,
        "received_at": case.received_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "due_at": due_text(case.response_due_at) if case.response_due_at else NO_ANSWER_OWED,
        "case_url": f"{public_url.rstrip('/')}/cases/{case.number}" if public_url else None,
        # the cadre answering her must not break her wishes either
        "safety_note": safety_note(safe_contact_of(case)),
    }
    if spec_of(notice.kind).ack_link and public_url and ack_secret:
        context["ack_url"] = ack_url_for(notice, public_url=public_url, secret=ack_secret,
                                         now=as_of,
                                         valid_for=_link_validity(session, notice, as_of=as_of))
    return context


def _link_validity(session: Session, notice: Notice, *, as_of: datetime) -> timedelta:
    """At-once links: two weeks. Referral links: until well after the feedback deadline, so a
    department that reports back late can still do so by the link."""
    referral = session.get(Referral, notice.referral_id) if notice.referral_id else None
    if referral is None:
        return ACK_LINK_VALIDITY
    return max(ACK_LINK_VALIDITY, referral.feedback_due_at + ACK_LINK_AFTER_FEEDBACK_DUE - as_of)
