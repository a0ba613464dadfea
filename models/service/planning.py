"""Planning: what is owed becomes outbox rows.

The case row is the timer (`next_check_at`). `plan_batch` claims cases whose next check has
come, asks the pure policy which notices they owe, inserts one row per owed notice and
recipient under a stable key (a key that exists is left alone, so planning twice adds nothing),
and moves each case's next check forward. Who receives a notice is the kinds table's answer
(role lookup, responsible cadre, department contact). The same module answers, just before a
notice is sent, whether it is still owed (`notices_that_apply`), and what a sent notice makes due
next (`after_sent`: an at-once report that must be confirmed is looked at again in 30 min).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.bulk import insert_rows, one_of, update_rows
from models.db.orm import Case, Contact, Notice
from models.domain.calendar import WorkCalendar
from models.domain.confirmation import CONFIRM_WITHIN
from models.domain.notice_keys import notice_key
from models.domain.notice_kinds import Recipient, priority_of, spec_of
from models.domain.reminders import OwedNotice, ReminderPolicy, still_applies
from models.domain.statuses import NoticeStatus
from models.service.outbox import Sent
from models.service.owed import CASE_FACTS, CaseFacts, load_case_works

log = logging.getLogger(__name__)

PLAN_BATCH = 500


def plan_batch(session: Session, *, as_of: datetime, calendar: WorkCalendar,
               policy: ReminderPolicy, limit: int = PLAN_BATCH) -> tuple[int, int]:
    """One batch of cases whose check is due: (cases checked, notices queued).

    Written for a million open cases: the cases are read as the few columns the policy needs
    (not ORM entities), the keys that exist already are found with one IN query for the
    batch, the new notices go in and the next checks move in one bulk write each
    (models/db/bulk.py) — no unit-of-work bookkeeping or per-row bind processing."""
    cases = session.execute(
        select(*CASE_FACTS).where(Case.next_check_at <= as_of)
        .order_by(Case.next_check_at, Case.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not cases:
        return 0, 0
    registry = _RegistryLookups(session)
    planned: list[tuple[str, CaseFacts, OwedNotice, Contact | None]] = []
    next_checks = []
    for work in load_case_works(session, cases):
        case = work.case
        owed_now, next_check = work.owed_and_next_check(as_of=as_of, calendar=calendar,
                                                        policy=policy)
        for owed in owed_now:
            for contact in _recipients(case=case, owed=owed, registry=registry) or [None]:
                key = notice_key(owed_key=owed.key, contact_id=contact.id if contact else None)
                planned.append((key, case, owed, contact))
        next_checks.append((case.id, next_check))
    rows = _new_rows(session, planned=planned, as_of=as_of)
    insert_rows(session, Notice.__table__, rows)
    update_rows(session, Case.__table__, key="id", columns=("next_check_at",), rows=next_checks)
    return len(cases), len(rows)


_STORED_KEYS = select(Notice.key).where(one_of(Notice.key, "keys"))


def _new_rows(session: Session, *, planned: Sequence[tuple[str, CaseFacts, OwedNotice,
                                                             Contact | None]],
              as_of: datetime) -> list[dict[str, object]]:
    """A row per planned notice whose key is not stored yet (the keys are what makes planning
    idempotent): one IN query for the whole batch."""
    if not planned:
        return []
    existing = set(session.scalars(_STORED_KEYS, {"keys": [key for key, _, _, _ in planned]}))
    rows = []
    for key, case, owed, contact in planned:
        if key not in existing:
            existing.add(key)
            rows.append(_new_notice(case_id=case.id, owed=owed, contact=contact, as_of=as_of,
                                    key=key))
    return rows


class _RegistryLookups:
    """Role lookups (a walk up the tree, a SELECT per level) remembered for one batch: the
    registry does not change inside the transaction, and a batch asks the same few questions
    (the township chair, the county chair…) for many cases."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._found: dict[tuple[str, str], list[Contact]] = {}
        self._serving: dict[tuple[str, str, str | None, str | None], list[Contact]] = {}

    def contact(self, contact_id: int) -> Contact | None:
        # The identity map answers a second get without a query, and keeps the row alive
        # while `_found` or a planned notice holds it.
        return self._session.get(Contact, contact_id)

    def contacts_for_role(self, *, jurisdiction_code: str, role: str) -> list[Contact]:
        key = (jurisdiction_code, role)
        if key not in self._found:
            self._found[key] = repo.contacts_for_role(
                self._session, jurisdiction_code=jurisdiction_code, role=role)
        return self._found[key]

    def serving(self, owed: OwedNotice) -> list[Contact]:
        """Who receives a notice sent to a role: its holders with an email up the tree, else
        the fallback role's (e.g. no 综治中心 → the supervisor); asked for most notices of a
        batch alike, so remembered."""
        key = (owed.recipient_jurisdiction, owed.recipient_role, owed.fallback_jurisdiction,
               owed.fallback_role)
        found = self._serving.get(key)
        if found is None:
            found = self.contacts_for_role(jurisdiction_code=owed.recipient_jurisdiction,
                                           role=owed.recipient_role)
            if not any(c.email for c in found) and owed.fallback_role \
                    and owed.fallback_jurisdiction:
                found = self.contacts_for_role(jurisdiction_code=owed.fallback_jurisdiction,
                                               role=owed.fallback_role) or found
            found = self._serving[key] = [c for c in found if c.email] or found
        return found


def _recipients(*, case: CaseFacts, owed: OwedNotice,
                registry: _RegistryLookups) -> list[Contact]:
    if owed.contact_id is not None:  # a named recipient (a referral's department contact)
        contact = registry.contact(owed.contact_id)
        return [contact] if contact is not None else []
    if spec_of(owed.kind).recipient == Recipient.RESPONSIBLE \
            and case.responsible_contact_id is not None:
        contact = registry.contact(case.responsible_contact_id)
        if contact is not None:
            return [contact]
    return registry.serving(owed)


def _new_notice(*, case_id: int, owed: OwedNotice, contact: Contact | None, as_of: datetime,
                key: str) -> dict[str, object]:
    row: dict[str, object] = {
        "key": key, "case_id": case_id, "kind": owed.kind,
        "escalation_level": owed.escalation_level, "recipient_role": owed.recipient_role,
        "recipient_jurisdiction": owed.recipient_jurisdiction,
        "contact_id": contact.id if contact else None,
        "to_address": contact.email if contact else "", "referral_id": owed.referral_id,
        "visit_plan_id": owed.visit_plan_id, "due_at": owed.due_at,
        "status": NoticeStatus.QUEUED, "attempts": 0, "next_attempt_at": owed.due_at,
        "created_at": as_of, "priority": priority_of(owed.kind), "last_error": "",
    }
    if contact is not None and contact.role != owed.recipient_role:  # the fallback served
        row["recipient_role"], row["recipient_jurisdiction"] = contact.role, contact.jurisdiction_code
    if contact is None or not contact.email:
        # Not silent: a notice nobody can receive is failed at once and shows as overdue work.
        row["status"] = NoticeStatus.FAILED
        row["last_error"] = (f"no contact with an email for role {owed.recipient_role} at "
                             f"{owed.recipient_jurisdiction} or any level above")
        log.warning("notice %s has no recipient: %s", key, row["last_error"])
    return row


def notices_that_apply(session: Session, notices: Sequence[Notice], *,
                       cases: Mapping[int, Case], as_of: datetime, calendar: WorkCalendar,
                       policy: ReminderPolicy) -> set[int]:
    """The ids of the claimed `notices` still owed at the moment of sending (the rule is
    `reminders.still_applies`, over everything the case owes now). The batch's case work is
    loaded once, for the cases whose notices are re-checked at all."""
    rechecked = {notice.case_id for notice in notices
                 if notice.case_id in cases and spec_of(notice.kind).rechecked
                 and spec_of(notice.kind).about_a_case}
    owed_now = {work.case.id: work.owed(as_of=as_of, calendar=calendar, policy=policy)
                for work in load_case_works(session, [cases[case_id] for case_id in rechecked])}
    applies = set()
    for notice in notices:
        if not spec_of(notice.kind).about_a_case:
            applies.add(notice.id)  # judged when rendered (a digest: its day, what is left)
        elif notice.case_id in cases and still_applies(
                notice.key, kind=notice.kind, owed_now=owed_now.get(notice.case_id, ())):
            applies.add(notice.id)
    return applies


def after_sent(session: Session, sent: Sent, *, as_of: datetime) -> None:
    """A life-threatening case's at-once report must be confirmed: look at the case again
    when the confirmation is due (the re-send and the cadre's phone list follow from it)."""
    if not sent.must_confirm or sent.case_id is None:
        return
    case = session.get(Case, sent.case_id)
    if case is not None:
        again = as_of + CONFIRM_WITHIN
        case.next_check_at = min(case.next_check_at, again) if case.next_check_at else again
