"""Planning: what is owed becomes outbox rows.

The case row is the timer (`next_check_at`). `plan_batch` claims cases whose next check has
come, asks the pure policy which notices they owe, inserts one row per owed notice and
recipient under a stable key (a key that exists is left alone, so planning twice adds nothing),
and moves each case's next check forward. Who receives a notice is the kinds table's answer
(role lookup, responsible cadre, department contact). The same module answers, just before a
notice is sent, whether it is still owed (`notice_applies`), and what a sent notice makes due
next (`after_sent`: an at-once report that must be confirmed is looked at again in 30 min).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Notice
from models.domain.calendar import WorkCalendar
from models.domain.confirmation import CONFIRM_WITHIN
from models.domain.notice_keys import notice_key
from models.domain.notice_kinds import Family, Recipient, priority_of, spec_of
from models.domain.reminders import OwedNotice, ReminderPolicy, still_applies
from models.service.owed import load_case_works, owed_for_case

log = logging.getLogger(__name__)

PLAN_BATCH = 500


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
        created_at=as_of, priority=priority_of(owed.kind),
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


def notice_applies(session: Session, notice: Notice, *, case: Case | None, as_of: datetime,
                   calendar: WorkCalendar, policy: ReminderPolicy) -> bool:
    """Whether a claimed notice is still owed at the moment of sending (the rule is
    `reminders.still_applies`, over everything the case owes now)."""
    if spec_of(notice.kind).family == Family.DIGEST:
        return True  # judged when rendered: its day, and whether anything is left to say
    if case is None:
        return False
    return still_applies(notice.key, kind=notice.kind,
                         owed_now=owed_for_case(session, case, as_of=as_of, calendar=calendar,
                                                policy=policy))


def after_sent(session: Session, notice: Notice, *, as_of: datetime) -> None:
    """A life-threatening case's at-once report must be confirmed: look at the case again
    when the confirmation is due (the re-send and the cadre's phone list follow from it)."""
    if not notice.must_confirm or notice.case_id is None:
        return
    case = session.get(Case, notice.case_id)
    if case is not None:
        again = as_of + CONFIRM_WITHIN
        case.next_check_at = min(case.next_check_at, again) if case.next_check_at else again
