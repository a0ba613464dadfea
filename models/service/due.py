"""The due sweep: find what fell due, put it in the outbox once, and deliver it.

The case row is the timer (`next_check_at`). A sweep at `as_of`:
1. plan — claims cases whose next check has come, in bounded batches, asks the pure policy
   which notices they owe, inserts each by its stable key (a key that exists is left alone),
   and moves the case's next check forward;
2. deliver — claims queued notices (a lease, so a crashed sender's notices come back),
   re-checks that each still applies, sends the batch over one connection, and records the
   outcome: sent, queued again with backoff, or failed after too many attempts.
Running it twice for the same `as_of` sends nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from models.db import repositories as repo
from models.db.orm import Case, Contact, Jurisdiction, Notice, Referral
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.deadlines import working_days_between
from models.domain.notice_keys import notice_key
from models.domain.notice_kinds import Family, NoticeKind, Recipient, spec_of, template_of
from models.domain.reminders import OwedNotice, ReminderPolicy, still_applies
from models.domain.safe_contact import safety_note
from models.domain.visits import DEFAULT_CADENCES, VisitCadence
from models.domain.vocabulary import vocabulary
from models.domain.confirmation import CONFIRM_WITHIN
from models.service.ack import ack_url_for
from models.service.casework_mail import (
    referral_context,
    responsible_cadre,
    visit_attachment,
    visit_context,
)
from models.service.digests import digest_mail, plan_digests
from models.service.owed import case_clock, load_case_works, owed_for_case
from models.service.visits import safe_contact_of
from notifications.message import Mail, render_mail
from notifications.sender import MailSender

log = logging.getLogger(__name__)

PLAN_BATCH = 500
DELIVER_BATCH = 100
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)


@dataclass
class SweepReport:
    as_of: datetime
    cases_checked: int = 0
    notices_queued: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    would_send: list[dict[str, str]] = field(default_factory=list)


# --- plan -------------------------------------------------------------------------------------

def plan_batch(session: Session, *, as_of: datetime, calendar: WorkCalendar,
               policy: ReminderPolicy, limit: int = PLAN_BATCH) -> tuple[int, int]:
    """One batch of cases whose check is due: (cases checked, notices queued)."""
    cases = session.scalars(
        select(Case).where(Case.next_check_at <= as_of)
        .order_by(Case.next_check_at, Case.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    registry = _RegistryLookups(session)
    queued = 0
    # No autoflush: the new notices are inserted together at the end, not before every
    # SELECT. Nothing below reads another case's new notices (keys are per case).
    with session.no_autoflush:
        for work in load_case_works(session, cases):
            case = work.case
            queued += _queue(session, case=case, as_of=as_of, registry=registry,
                             owed=work.owed(as_of=as_of, calendar=calendar, policy=policy))
            case.next_check_at = work.next_check(after=as_of, calendar=calendar, policy=policy)
    session.flush()
    return len(cases), queued


def _queue(session: Session, *, case: Case, owed: Sequence[OwedNotice], as_of: datetime,
           registry: _RegistryLookups) -> int:
    """Add a notice per owed notice and recipient unless its key exists: one SELECT for the
    case's keys, not one per notice (the keys are what makes planning idempotent)."""
    planned = [(notice_key(owed_key=o.key, contact_id=contact.id if contact else None), o, contact)
               for o in owed for contact in (_recipients(session, case=case, owed=o,
                                                         registry=registry) or [None])]
    if not planned:
        return 0
    existing = set(session.scalars(select(Notice.key).where(
        Notice.key.in_([key for key, _, _ in planned]))))
    added = 0
    for key, o, contact in planned:
        if key not in existing:
            existing.add(key)
            session.add(_new_notice(case=case, owed=o, contact=contact, as_of=as_of, key=key))
            added += 1
    return added


class _RegistryLookups:
    """Role lookups (a walk up the tree, a SELECT per level) remembered for one batch: the
    registry does not change inside the transaction, and a batch asks the same few questions
    (the township chair, the county chair…) for many cases."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._found: dict[tuple[str, str], list[Contact]] = {}

    def contacts_for_role(self, *, jurisdiction_code: str, role: str) -> list[Contact]:
        key = (jurisdiction_code, role)
        if key not in self._found:
            self._found[key] = repo.contacts_for_role(
                self._session, jurisdiction_code=jurisdiction_code, role=role)
        return self._found[key]


def _recipients(session: Session, *, case: Case, owed: OwedNotice,
                registry: _RegistryLookups) -> list[Contact]:
    if owed.contact_id is not None:  # a named recipient (a referral's department contact)
        contact = session.get(Contact, owed.contact_id)
        return [contact] if contact is not None else []
    if spec_of(owed.kind).recipient == Recipient.RESPONSIBLE \
            and case.responsible_contact_id is not None:
        contact = session.get(Contact, case.responsible_contact_id)
        if contact is not None:
            return [contact]
    found = registry.contacts_for_role(jurisdiction_code=owed.recipient_jurisdiction,
                                       role=owed.recipient_role)
    if not any(c.email for c in found) and owed.fallback_role and owed.fallback_jurisdiction:
        found = registry.contacts_for_role(jurisdiction_code=owed.fallback_jurisdiction,
                                           role=owed.fallback_role) or found
    return [c for c in found if c.email] or found


def _new_notice(*, case: Case, owed: OwedNotice, contact: Contact | None, as_of: datetime,
                key: str) -> Notice:
    notice = Notice(
        key=key, case_id=case.id, kind=owed.kind, escalation_level=owed.escalation_level,
        recipient_role=owed.recipient_role, recipient_jurisdiction=owed.recipient_jurisdiction,
        contact_id=contact.id if contact else None, to_address=(contact.email if contact else ""),
        referral_id=owed.referral_id, visit_plan_id=owed.visit_plan_id,
        due_at=owed.due_at, status="queued", attempts=0, next_attempt_at=owed.due_at,
        created_at=as_of,
    )
    if contact is not None and contact.role != owed.recipient_role:  # the fallback served
        notice.recipient_role, notice.recipient_jurisdiction = contact.role, contact.jurisdiction_code
    if contact is None or not contact.email:
        # Not silent: a notice nobody can receive is failed at once and shows as overdue work.
        notice.status = "failed"
        notice.last_error = (f"no contact with an email for role {owed.recipient_role} at "
                             f"{owed.recipient_jurisdiction} or any level above")
        log.warning("notice %s has no recipient: %s", key, notice.last_error)
    return notice


# --- deliver ----------------------------------------------------------------------------------

def claim_notices(session: Session, *, as_of: datetime, limit: int = DELIVER_BATCH) -> list[int]:
    # Two index-ordered queries, not one OR: with a backlog (after downtime) an OR across
    # both statuses made the database sort every due row to return the first hundred.
    abandoned = session.scalars(
        select(Notice).where(Notice.status == "sending", Notice.claimed_until < as_of)
        .order_by(Notice.claimed_until).limit(limit).with_for_update(skip_locked=True)
    ).all()
    queued = session.scalars(
        select(Notice).where(Notice.status == "queued", Notice.next_attempt_at <= as_of)
        .order_by(Notice.next_attempt_at).limit(limit - len(abandoned))
        .with_for_update(skip_locked=True)
    ).all() if len(abandoned) < limit else []
    rows = [*abandoned, *queued]
    for notice in rows:
        notice.status = "sending"
        notice.attempts += 1
        notice.claimed_until = as_of + LEASE
    session.flush()
    return [notice.id for notice in rows]


@dataclass(frozen=True)
class Outgoing:
    notice_id: int
    mail: Mail


def prepare_mails(session: Session, *, notice_ids: Sequence[int], as_of: datetime,
                  calendar: WorkCalendar, policy: ReminderPolicy, public_url: str | None,
                  ack_secret: str | None = None,
                  cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES,
                  ) -> tuple[list[Outgoing], int]:
    """Mails for the claimed notices that still apply; the others are cancelled."""
    outgoing, cancelled = [], 0
    _held = _load_batch(session, notice_ids)  # kept: the identity map holds rows weakly
    for notice_id in notice_ids:
        notice = session.get(Notice, notice_id)
        if notice is None or notice.status != "sending":
            continue
        if notice.case_id is None and spec_of(notice.kind).family == Family.DIGEST:  # rendered now: fresh content
            mail = digest_mail(session, notice=notice, as_of=as_of, calendar=calendar,
                               policy=policy, public_url=public_url)
            if mail is None:  # stale, or nothing left to say: digest_mail cancelled it
                cancelled += 1
                continue
            notice.message_id = mail.message_id
            outgoing.append(Outgoing(notice.id, mail))
            continue
        case = session.get(Case, notice.case_id) if notice.case_id else None
        if case is None or not _still_applies(session, notice, case=case, as_of=as_of, calendar=calendar,
                                              policy=policy):
            notice.status, notice.claimed_until = "cancelled", None
            notice.last_error = "no longer applies (answered, paused, closed or superseded)"
            cancelled += 1
            continue
        context = mail_context(session, notice=notice, case=case, calendar=calendar,
                               as_of=as_of, public_url=public_url, ack_secret=ack_secret,
                               cadences=cadences)
        mail = render_mail(template=template_of(notice.kind), context=context, to=[notice.to_address],
                           notice_key=notice.key)
        if notice.kind == NoticeKind.VISIT_DUE:
            mail = replace(mail, attachments=(visit_attachment(session, notice=notice, case=case,
                                                               as_of=as_of),))
        notice.message_id = mail.message_id
        outgoing.append(Outgoing(notice.id, mail))
    session.flush()
    return outgoing, cancelled


def _still_applies(session: Session, notice: Notice, *, case: Case, as_of: datetime,
                   calendar: WorkCalendar, policy: ReminderPolicy) -> bool:
    return still_applies(notice.key, kind=notice.kind,
                         owed_now=owed_for_case(session, case, as_of=as_of, calendar=calendar,
                                                policy=policy))


def mail_context(session: Session, *, notice: Notice, case: Case, calendar: WorkCalendar,
                 as_of: datetime, public_url: str | None,
                 ack_secret: str | None = None,
                 cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES) -> dict[str, object]:
    """What the recipient needs to act: the case number, what is due, when, how to act.
    Never the victim's name, phone or address."""
    voc = vocabulary()
    node = session.get(Jurisdiction, case.jurisdiction_code)
    due_local = case.response_due_at.astimezone(SHANGHAI)
    context: dict[str, object] = {
        "case_number": case.number,
        "tier_label": voc.label("tiers", case.tier),
        "category_label": voc.label("categories", case.category),
        "jurisdiction_name": node.name if node else case.jurisdiction_code,
        "received_at": case.received_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "due_at": (due_local.strftime("%Y-%m-%d") + " 24:00") if due_local.strftime("%H:%M:%S") == "23:59:59"
        else due_local.strftime("%Y-%m-%d %H:%M"),
        "act_command": f"weiquan case respond {case.number} --note \"答复内容\"",
        "case_url": f"{public_url.rstrip('/')}/cases/{case.number}" if public_url else None,
    }
    safety = safety_note(safe_contact_of(case))
    context["safety_note"] = safety  # the cadre answering her must not break her wishes either
    spec = spec_of(notice.kind)
    if spec.ack_link and public_url and ack_secret:
        context["ack_url"] = ack_url_for(notice, public_url=public_url, secret=ack_secret,
                                         now=as_of, valid_for=_link_validity(session, notice, as_of=as_of))
    if notice.kind == NoticeKind.PHONE_UNCONFIRMED:
        return {**_unconfirmed_context(session, case=case, context=context), "safety_note": safety}
    if spec.family == Family.AT_ONCE:
        return {**_at_once_context(session, notice=notice, case=case, context=context),
                "safety_note": safety}
    if spec.family == Family.REFERRAL:
        return {**referral_context(session, notice=notice, case=case, context=context,
                                   calendar=calendar, as_of=as_of), "safety_note": safety}
    if spec.family == Family.VISIT:
        return {**visit_context(session, notice=notice, case=case, context=context,
                                calendar=calendar, as_of=as_of, cadences=cadences),
                "safety_note": safety}
    if notice.kind == NoticeKind.ESCALATION:
        responsible = responsible_cadre(session, case)
        context.update(
            overdue_working_days=working_days_between(
                calendar=calendar, start=due_local.date(), end=max(as_of.astimezone(SHANGHAI).date(), due_local.date())),
            escalation_level=notice.escalation_level,
            responsible_name=responsible.name if responsible else "（未指定）",
            responsible_post=responsible.post if responsible else "",
            responsible_jurisdiction_name=context["jurisdiction_name"],
            act_command=f"weiquan case show {case.number}",
        )
    if notice.kind == NoticeKind.DIFFICULT_TRANSFER:
        context.update(
            summary_for_recipient=f"{context['jurisdiction_name']}受理的{context['category_label']}疑难个案，需上级协调解决",
            act_command=f"weiquan case upper-result {case.number} --note \"上级处理结果\"",
        )
    if notice.kind == NoticeKind.DIFFICULT_TRACKING:
        context.update(
            days_since_transfer=working_days_between(
                calendar=calendar, start=case.received_at.astimezone(SHANGHAI).date(),
                end=as_of.astimezone(SHANGHAI).date()),
            act_command=f"weiquan case upper-result {case.number} --note \"上级处理结果\"",
        )
    return context


def _at_once_context(session: Session, *, notice: Notice, case: Case,
                     context: dict[str, object]) -> dict[str, object]:
    keep = ("case_number", "category_label", "jurisdiction_name", "received_at", "case_url",
            "ack_url")
    base = {k: context[k] for k in keep if k in context}
    if notice.kind == NoticeKind.ROUTING_GAP:
        return {"case_number": case.number, "jurisdiction_name": context["jurisdiction_name"],
                "missing_text": notice.reason, "case_url": context["case_url"],
                "act_command": "weiquan registry load --contacts 联络名册.csv"}
    if notice.kind == NoticeKind.CALL_110:
        told = session.scalars(select(Contact.post).join(Notice, Notice.contact_id == Contact.id)
                               .where(Notice.case_id == case.id, Notice.kind == NoticeKind.AT_ONCE)).all()
        labels = [vocabulary().label("risk_indicators", code) for code in case.risk_indicators]
        return {**base, "reasons_text": "；".join(labels) or notice.reason,
                "told_text": "、".join(told) or "（无）", "act_command": f"weiquan case show {case.number}"}
    responsible = responsible_cadre(session, case)
    return {**base, "purpose": notice.reason.split("；", 1)[0], "reasons_text": notice.reason,
            "responsible_name": responsible.name if responsible else "（未指定）",
            "responsible_post": responsible.post if responsible else "",
            "responsible_contact": (responsible.phone or responsible.email) if responsible else "",
            "act_command": f"weiquan case show {case.number}"}


ACK_LINK_VALIDITY = timedelta(days=14)
ACK_LINK_AFTER_FEEDBACK_DUE = timedelta(days=60)


def _link_validity(session: Session, notice: Notice, *, as_of: datetime) -> timedelta:
    """At-once links: two weeks. Referral links: until well after the feedback deadline, so a
    department that reports back late can still do so by the link."""
    referral = session.get(Referral, notice.referral_id) if notice.referral_id else None
    if referral is None:
        return ACK_LINK_VALIDITY
    return max(ACK_LINK_VALIDITY, referral.feedback_due_at + ACK_LINK_AFTER_FEEDBACK_DUE - as_of)


def _unconfirmed_context(session: Session, *, case: Case,
                         context: dict[str, object]) -> dict[str, object]:
    """Which institutions have not confirmed the at-once report: the cadre phones them."""
    rows = session.execute(
        select(Contact.post, Contact.name, Contact.phone).join(Notice, Notice.contact_id == Contact.id)
        .where(Notice.case_id == case.id, Notice.kind == NoticeKind.AT_ONCE, Notice.status == "sent",
               Notice.must_confirm.is_(True), Notice.acknowledged_at.is_(None))
        .order_by(Notice.id)).all()
    return {"case_number": case.number, "category_label": context["category_label"],
            "jurisdiction_name": context["jurisdiction_name"], "case_url": context["case_url"],
            "unconfirmed_text": "\n".join(f"{post or name}：{phone or '（未登记电话）'}"
                                           for post, name, phone in rows) or "（均已确认）",
            "act_command": f"weiquan case show {case.number}"}


def _load_batch(session: Session, notice_ids: Sequence[int]) -> list[object]:
    """The batch's notices and their cases in two IN queries, so that the per-notice
    `session.get` calls below are answered from the identity map, not one SELECT each."""
    if not notice_ids:
        return []
    notices = list(session.scalars(select(Notice).where(Notice.id.in_(notice_ids))))
    case_ids = {n.case_id for n in notices if n.case_id is not None}
    cases = list(session.scalars(select(Case).where(Case.id.in_(case_ids)))) if case_ids else []
    return [*notices, *cases]


def record_outcomes(session: Session, *, outcomes: Sequence[tuple[int, bool, str, bool]],
                    as_of: datetime, max_attempts: int) -> tuple[int, int, int]:
    """(sent, retrying, failed) from (notice id, ok, error, transient) tuples."""
    sent = retrying = failed = 0
    _held = _load_batch(session, [notice_id for notice_id, *_ in outcomes])
    for notice_id, ok, error, transient in outcomes:
        notice = session.get(Notice, notice_id)
        if notice is None or notice.status != "sending":
            continue
        notice.claimed_until = None
        if ok:
            notice.status, notice.sent_at, notice.last_error = "sent", as_of, ""
            if notice.kind == NoticeKind.AT_ONCE:
                _expect_confirmation(session, notice, as_of=as_of)
            sent += 1
        elif transient and notice.attempts < max_attempts:
            notice.status = "queued"
            notice.next_attempt_at = as_of + min(timedelta(minutes=2 ** (notice.attempts - 1)), MAX_BACKOFF)
            notice.last_error = error[:2000]
            retrying += 1
        else:
            notice.status, notice.last_error = "failed", error[:2000]
            failed += 1
    session.flush()
    return sent, retrying, failed


def _expect_confirmation(session: Session, notice: Notice, *, as_of: datetime) -> None:
    """A life-threatening case's at-once notice must be confirmed: look again in 30 minutes."""
    case = session.get(Case, notice.case_id) if notice.case_id else None
    if case is not None and notice.must_confirm:
        again = as_of + CONFIRM_WITHIN
        case.next_check_at = min(case.next_check_at, again) if case.next_check_at else again


# --- the whole sweep --------------------------------------------------------------------------

async def run_due(sessions: sessionmaker[Session], *, as_of: datetime, calendar: WorkCalendar,
                  policy: ReminderPolicy, sender: MailSender, max_attempts: int,
                  public_url: str | None = None, ack_secret: str | None = None,
                  cadences: Mapping[str, VisitCadence] = DEFAULT_CADENCES,
                  after_send=None) -> SweepReport:
    """Everything due up to `as_of`: plan, then deliver, batch by batch until none is left.
    `after_send` is a test seam that runs between sending and recording (crash simulation)."""
    report = SweepReport(as_of=as_of)
    while True:
        with unit_of_work(sessions) as session:
            checked, queued = plan_batch(session, as_of=as_of, calendar=calendar, policy=policy)
        report.cases_checked += checked
        report.notices_queued += queued
        if checked < PLAN_BATCH:
            break
    while True:
        with unit_of_work(sessions) as session:
            claimed = claim_notices(session, as_of=as_of)
        if not claimed:
            break
        with unit_of_work(sessions) as session:
            outgoing, cancelled = prepare_mails(session, notice_ids=claimed, as_of=as_of,
                                                ack_secret=ack_secret, cadences=cadences,
                                                calendar=calendar, policy=policy, public_url=public_url)
        report.cancelled += cancelled
        outcomes = await sender.send_batch([o.mail for o in outgoing]) if outgoing else []
        if after_send is not None:
            after_send()
        results = [(o.notice_id, r.ok, str(r.error or ""), bool(r.error and r.error.transient))
                   for o, r in zip(outgoing, outcomes, strict=True)]
        with unit_of_work(sessions) as session:
            sent, retrying, failed = record_outcomes(session, outcomes=results, as_of=as_of,
                                                     max_attempts=max_attempts)
        report.sent += sent
        report.retrying += retrying
        report.failed += failed
        if len(claimed) < DELIVER_BATCH:
            break
    return report


def preview_due(sessions: sessionmaker[Session], *, as_of: datetime, calendar: WorkCalendar,
                policy: ReminderPolicy, digest_at: time | None = None) -> list[dict[str, str]]:
    """--dry-run: what a sweep at `as_of` would send, without writing or sending anything.
    With `digest_at` (digests enabled) the day's digests are planned too, as the sweep does."""
    session = sessions()
    try:
        if digest_at is not None:
            plan_digests(session, as_of=as_of, calendar=calendar, digest_at=digest_at,
                         window_end=policy.window_end)
        while plan_batch(session, as_of=as_of, calendar=calendar, policy=policy)[0] == PLAN_BATCH:
            pass
        rows = session.scalars(
            select(Notice).where(or_(
                (Notice.status == "queued") & (Notice.next_attempt_at <= as_of),
                (Notice.status == "sending") & (Notice.claimed_until < as_of)))
            .order_by(Notice.next_attempt_at, Notice.id)).all()
        preview = []
        for notice in rows:
            case = session.get(Case, notice.case_id) if notice.case_id else None
            preview.append({"case": case.number if case else "", "kind": notice.kind,
                            "to": notice.to_address, "due_at": notice.due_at.astimezone(SHANGHAI).isoformat(),
                            "key": notice.key})
        return preview
    finally:
        session.rollback()
        session.close()


def next_wakeup(session: Session) -> datetime | None:
    """The earliest instant anything could fall due: the scheduler's next date job."""
    case_at = session.scalar(select(Case.next_check_at).where(Case.next_check_at.is_not(None))
                             .order_by(Case.next_check_at).limit(1))
    notice_at = session.scalar(select(Notice.next_attempt_at).where(Notice.status == "queued")
                               .order_by(Notice.next_attempt_at).limit(1))
    return min((t for t in (case_at, notice_at) if t is not None), default=None)
