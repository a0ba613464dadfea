"""Mail content: one builder per family of notice kinds, chosen through the kinds table.

`build_mail` turns a claimed notice into the `Mail` to send: the family's builder fills the
template's context from the rows as they are now (what the recipient needs to act — the case
number, what is due, when, how to act; never the victim's name, phone or address), and the
table names the template. Digests are built by `models.service.digests.digest_mail`, which
may find that a digest has nothing left to say and cancel it; the operator's notices about
the machinery by `operations.backlog_mail`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from models.db.orm import Case, Notice
from models.domain.calendar import WorkCalendar
from models.domain.notice_kinds import Family, NoticeKind, spec_of, template_of
from models.domain.reminders import ReminderPolicy
from models.domain.visits import DEFAULT_CADENCES, VisitCadence
from models.service.digests import digest_mail
from models.service.mail_content.at_once import at_once_context
from models.service.mail_content.casework import casework_context
from models.service.mail_content.common import case_context, responsible_cadre
from models.service.mail_content.operations import backlog_mail
from models.service.mail_content.records import record_context
from models.service.mail_content.referral import referral_context
from models.service.mail_content.visit import visit_attachment, visit_context
from notifications.message import Mail, render_mail

__all__ = ["build_mail", "mail_context", "responsible_cadre"]

ContextBuilder = Callable[..., dict[str, object]]

# The case families; the digest family renders whole mails (digest_mail) instead.
_CONTEXT_BUILDERS: dict[Family, ContextBuilder] = {
    Family.CASEWORK: casework_context,
    Family.AT_ONCE: at_once_context,
    Family.REFERRAL: referral_context,
    Family.VISIT: visit_context,
    Family.RECORD: record_context,
}


def mail_context(session: Session, *, notice: Notice, case: Case, calendar: WorkCalendar,
                 as_of: datetime, public_url: str | None, ack_secret: str | None = None,
                 cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> dict[str, object]:
    """The template context of a notice about a case, from its family's builder."""
    context = case_context(session, notice=notice, case=case, as_of=as_of,
                           public_url=public_url, ack_secret=ack_secret)
    builder = _CONTEXT_BUILDERS[spec_of(notice.kind).family]
    return builder(session, notice=notice, case=case, context=context, calendar=calendar,
                   as_of=as_of, cadences=cadences)


def build_mail(session: Session, *, notice: Notice, case: Case | None, as_of: datetime,
               calendar: WorkCalendar, policy: ReminderPolicy, public_url: str | None,
               ack_secret: str | None = None,
               cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> Mail | None:
    """The mail for a claimed notice; None when a digest has cancelled itself (stale, or
    nothing left to say)."""
    family = spec_of(notice.kind).family
    if family == Family.DIGEST:
        return digest_mail(session, notice=notice, as_of=as_of, calendar=calendar,
                           policy=policy, public_url=public_url)
    if family == Family.OPERATIONS:
        return backlog_mail(session, notice=notice, as_of=as_of)
    if case is None:
        raise LookupError(f"notice {notice.id} of kind {notice.kind} has no case")
    context = mail_context(session, notice=notice, case=case, calendar=calendar, as_of=as_of,
                           public_url=public_url, ack_secret=ack_secret, cadences=cadences)
    mail = render_mail(template=template_of(notice.kind), context=context,
                       to=[notice.to_address], notice_key=notice.key)
    if notice.kind == NoticeKind.VISIT_DUE:  # the reminder brings the visit to her calendar
        mail = replace(mail, attachments=(visit_attachment(session, notice=notice, case=case,
                                                           as_of=as_of),))
    return mail
