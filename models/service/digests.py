"""Digests: what is due for whom (read from the rows), the outbox notices that carry it, and
the mail rendered at send time.

- `plan_digests(session, as_of=…)` runs in every due sweep. From 08:30 of a working day it
  puts ONE notice per cadre with something due in the outbox, keyed
  `digest:cadre:{contact_id}:{YYYY-MM-DD}` (a key that exists is never added again), and on
  the first working day of the ISO week one per supervisor, keyed
  `digest:supervisor:{user|contact}:{id}:{YYYY-MM-DD}`. A day's (week's) planning happens
  once — an audit event `digests_planned` records it — so the list of recipients is the
  picture at 08:30, not whoever had something due at the last sweep of the day.
- The notice carries no content. `digest_mail` renders it when it is sent, from the rows as
  they are then (an answer given at 08:40 is not in a digest sent at 08:45); a digest whose
  day (week) has passed, or which has nothing left to say, is cancelled instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, Contact, Jurisdiction, Notice, Referral, User, VisitPlan
from models.domain.calendar import WorkCalendar
from models.domain.deadlines import end_of_day
from models.domain.digest import (
    DIGEST_AT,
    SOON_WORKING_DAYS,
    WINDOW_END,
    DueItem,
    ItemKind,
    Node,
    build_cadre_digest,
    cadre_mail_context,
    cadre_digest_day,
    digest_instant,
    is_stale,
    items_by_owner,
    jurisdiction_table,
    local_date,
    rollup,
    soon_horizon,
    state_of,
    supervisor_digest_day,
    supervisor_mail_context,
)
from models.domain.jurisdiction import Level, normalize_code
from models.domain.notice_keys import cadre_digest_key, digest_day_of, supervisor_digest_key
from models.domain.notice_kinds import NoticeKind, priority_of, template_of
from models.domain.reminders import ReminderPolicy
from models.domain.vocabulary import vocabulary
from notifications.message import Mail, render_mail

log = logging.getLogger(__name__)

AWAITING_FEEDBACK = ("open", "acknowledged")
PLANNED_EVENT = "digests_planned"
SYSTEM_ACTOR = "system"
SUPERVISOR_FALLBACK_LEVELS = (Level.TOWNSHIP.value, Level.COUNTY.value)
_CHUNK = 500

@dataclass(frozen=True)
class DigestPlan:
    cadre: int  # cadre digests put in the outbox by this call
    supervisor: int


# --- what is due, for whom ------------------------------------------------------------------------

def collect_due_items(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                      under: str | None = None, contact_id: int | None = None,
                      soon_working_days: int = SOON_WORKING_DAYS) -> list[DueItem]:
    """Every answer, transfer, visit and referral feedback that is overdue or due by 24:00 of
    the Nth working day from `as_of`, in `under`'s subtree (or for one cadre), with the cadres
    who must act and the escalation level already reached."""
    horizon = soon_horizon(as_of=as_of, calendar=calendar, soon_working_days=soon_working_days)
    scope = _scope(session, under=under, contact_id=contact_id)
    owners = _OwnerFinder(session)
    items = [*_response_items(session, as_of=as_of, horizon=horizon, scope=scope, owners=owners),
             *_visit_items(session, horizon=horizon, scope=scope, owners=owners),
             *_referral_items(session, horizon=horizon, scope=scope, owners=owners)]
    if contact_id is not None:
        items = [item for item in items if contact_id in item.owner_ids]
    return items


def _scope(session: Session, *, under: str | None, contact_id: int | None):
    """A filter on Case: the subtree, and/or the cases a cadre answers for (assigned to her, or
    unassigned in her subtree — the federation chair found walking up from the case)."""
    clauses = []
    if under:
        clauses.append(Case.jurisdiction_code.startswith(normalize_code(under)))
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        home = contact.jurisdiction_code if contact else "-"
        clauses.append(or_(Case.responsible_contact_id == contact_id,
                           and_(Case.responsible_contact_id.is_(None),
                                Case.jurisdiction_code.startswith(home))))
    return and_(true(), *clauses)


class _OwnerFinder:
    """The cadre(s) who act on a case: the assigned contact, else the federation chair of the
    case's jurisdiction, nearest level up (those with an email first)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._chairs: dict[str, tuple[int, ...]] = {}

    def __call__(self, case: Case) -> tuple[int, ...]:
        if case.responsible_contact_id is not None:
            return (case.responsible_contact_id,)
        code = case.jurisdiction_code
        if code not in self._chairs:
            found = repo.contacts_for_role(self.session, jurisdiction_code=code,
                                           role="federation_chair")
            self._chairs[code] = tuple(c.id for c in ([c for c in found if c.email] or found))
        return self._chairs[code]


def _response_items(session: Session, *, as_of: datetime, horizon: datetime, scope,
                    owners: _OwnerFinder) -> list[DueItem]:
    cases = session.scalars(
        select(Case).where(
            scope, Case.status.not_in(["closed", "visiting"]), Case.paused_at.is_(None),
            Case.response_due_at <= horizon,
            or_(and_(Case.tier != "difficult", Case.responded_at.is_(None)),
                # A difficult case is due until it is transferred up (the system does that at
                # once); after that the tracking reminder speaks, not the digest.
                and_(Case.tier == "difficult", Case.upper_result_at.is_(None),
                     Case.response_due_at >= as_of)),
        ).order_by(Case.response_due_at, Case.id)
    ).all()
    levels = _max_escalation(session, Notice.case_id, [c.id for c in cases], kind=NoticeKind.ESCALATION)
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.TRANSFER if case.tier == "difficult" else ItemKind.RESPONSE,
        case_number=case.number or f"case-{case.id}",
        category_label=voc.label("categories", case.category),
        jurisdiction_code=case.jurisdiction_code, due_at=case.response_due_at,
        escalation_level=levels.get(case.id, 0), owner_ids=owners(case),
    ) for case in cases]


def _visit_items(session: Session, *, horizon: datetime, scope,
                 owners: _OwnerFinder) -> list[DueItem]:
    rows = session.execute(
        select(VisitPlan, Case).join(Case, Case.id == VisitPlan.case_id).where(
            scope, VisitPlan.status == "active", VisitPlan.next_due_at.is_not(None),
            VisitPlan.next_due_at <= horizon,
        ).order_by(VisitPlan.next_due_at, VisitPlan.id)
    ).all()
    levels = _max_escalation(session, Notice.visit_plan_id, [plan.id for plan, _ in rows])
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.VISIT, case_number=case.number or f"case-{case.id}",
        category_label=voc.label("categories", case.category),
        jurisdiction_code=case.jurisdiction_code,
        # due on that local day, overdue from its 24:00
        due_at=end_of_day(local_date(plan.next_due_at)), ref=plan.id,
        escalation_level=levels.get(plan.id, 0), owner_ids=owners(case),
    ) for plan, case in rows]


def _referral_items(session: Session, *, horizon: datetime, scope,
                    owners: _OwnerFinder) -> list[DueItem]:
    rows = session.execute(
        select(Referral, Case).join(Case, Case.id == Referral.case_id).where(
            scope, Referral.status.in_(AWAITING_FEEDBACK), Referral.feedback_due_at <= horizon,
        ).order_by(Referral.feedback_due_at, Referral.id)
    ).all()
    levels = _max_escalation(session, Notice.referral_id, [ref.id for ref, _ in rows])
    voc = vocabulary()
    return [DueItem(
        kind=ItemKind.REFERRAL, case_number=case.number or f"case-{case.id}",
        category_label=voc.label("categories", case.category),
        jurisdiction_code=case.jurisdiction_code, due_at=ref.feedback_due_at, ref=ref.id,
        # the department by its role, never a person's name
        awaiting=voc.label("contact_roles", ref.role),
        escalation_level=levels.get(ref.id, 0), owner_ids=owners(case),
    ) for ref, case in rows]


def _max_escalation(session: Session, column, ids: Sequence[int], *,
                    kind: str | None = None) -> dict[int, int]:
    """The highest escalation level sent, per case / visit plan / referral."""
    found: dict[int, int] = {}
    for start in range(0, len(ids), _CHUNK):
        query = (select(column, func.max(Notice.escalation_level))
                 .where(column.in_(ids[start:start + _CHUNK]), Notice.status == "sent",
                        Notice.escalation_level > 0)
                 .group_by(column))
        if kind is not None:
            query = query.where(Notice.kind == kind)
        found.update({key: level for key, level in session.execute(query).all()})
    return found


def jurisdiction_nodes(session: Session, *, under: str | None = None) -> dict[str, Node]:
    query = select(Jurisdiction)
    if under:
        query = query.where(Jurisdiction.code.startswith(normalize_code(under)))
    return {j.code: Node(code=j.code, name=j.name, level=j.level) for j in session.scalars(query)}


def overdue_table(session: Session, *, as_of: datetime, calendar: WorkCalendar) -> list[dict[str, object]]:
    """The operator's artifact: counts by jurisdiction, kind and escalation level."""
    items = collect_due_items(session, as_of=as_of, calendar=calendar)
    return [row.as_dict() for row in jurisdiction_table(
        items=items, nodes=jurisdiction_nodes(session), as_of=as_of, calendar=calendar)]


# --- planning (in the due sweep) ----------------------------------------------------------------

def plan_digests(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                 digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> DigestPlan:
    return DigestPlan(
        cadre=plan_cadre_digests(session, as_of=as_of, calendar=calendar, digest_at=digest_at,
                                 window_end=window_end),
        supervisor=plan_supervisor_digests(session, as_of=as_of, calendar=calendar,
                                           digest_at=digest_at, window_end=window_end),
    )


def digests_pending(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                    digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> list[str]:
    """Which digests ("cadre", "supervisor") are due by `as_of` and not planned yet: what the
    service checks at 08:30 and on start (a digest missed while it was down)."""
    pending = []
    for kind, day_of in (("cadre", cadre_digest_day), ("supervisor", supervisor_digest_day)):
        day = day_of(as_of=as_of, calendar=calendar, digest_at=digest_at, window_end=window_end)
        if day is not None and not _planned(session, kind=kind, day=day):
            pending.append(kind)
    return pending


def plan_cadre_digests(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                       digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> int:
    """One notice per cadre with something due, once per working day (from 08:30)."""
    day = cadre_digest_day(as_of=as_of, calendar=calendar, digest_at=digest_at,
                           window_end=window_end)
    if day is None or _planned(session, kind="cadre", day=day):
        return 0
    owned = items_by_owner(collect_due_items(session, as_of=as_of, calendar=calendar))
    added = skipped = 0
    for contact_id in sorted(owned):
        if build_cadre_digest(items=owned[contact_id], as_of=as_of, calendar=calendar) is None:
            continue  # only items due later than the horizon: nothing worth a mail
        contact = session.get(Contact, contact_id)
        if contact is None or not contact.email:
            skipped += 1  # her individual reminders show as failed notices already
            continue
        added += _add(session, key=cadre_digest_key(contact_id=contact.id, day=day),
                      kind=NoticeKind.CADRE_DIGEST, role=contact.role,
                      jurisdiction=contact.jurisdiction_code, contact_id=contact.id,
                      to=contact.email, due_at=digest_instant(day, digest_at=digest_at),
                      as_of=as_of)
    _mark_planned(session, kind="cadre", day=day, as_of=as_of, added=added, skipped=skipped)
    log.info("cadre digests for %s: %s queued, %s cadre(s) without an email", day, added, skipped)
    return added


@dataclass(frozen=True)
class Supervisor:
    key: str  # "user:7" or "contact:12"
    root: str  # her jurisdiction: she sees its subtree
    email: str
    role: str
    contact_id: int | None


def supervisors(session: Session) -> list[Supervisor]:
    """Users with the supervisor role and an email; while no users exist at all, the
    federation chairs of townships and counties stand in."""
    if session.scalar(select(func.count()).select_from(User)):
        users = session.scalars(select(User).where(
            User.role == "supervisor", User.active.is_(True), User.email != "").order_by(User.id))
        return [Supervisor(key=f"user:{u.id}", root=u.jurisdiction_code, email=u.email,
                           role="supervisor", contact_id=u.contact_id) for u in users]
    chairs = session.scalars(
        select(Contact).join(Jurisdiction, Jurisdiction.code == Contact.jurisdiction_code)
        .where(Contact.role == "federation_chair", Contact.email != "",
               Jurisdiction.level.in_(SUPERVISOR_FALLBACK_LEVELS))
        .order_by(Contact.id))
    return [Supervisor(key=f"contact:{c.id}", root=c.jurisdiction_code, email=c.email,
                       role=c.role, contact_id=c.id) for c in chairs]


def plan_supervisor_digests(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                            digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> int:
    """One notice per supervisor whose subtree has something overdue or due soon, once per
    ISO week, from 08:30 of its first working day."""
    day = supervisor_digest_day(as_of=as_of, calendar=calendar, digest_at=digest_at,
                                window_end=window_end)
    if day is None or _planned(session, kind="supervisor", day=day):
        return 0
    items = collect_due_items(session, as_of=as_of, calendar=calendar)
    added = 0
    for person in supervisors(session):
        if not any(state_of(i, as_of=as_of, calendar=calendar) is not None
                   and i.jurisdiction_code.startswith(person.root) for i in items):
            continue  # an empty subtree: no mail
        added += _add(session, key=supervisor_digest_key(person=person.key, day=day),
                      kind=NoticeKind.SUPERVISOR_DIGEST, role=person.role, jurisdiction=person.root,
                      contact_id=person.contact_id, to=person.email,
                      due_at=digest_instant(day, digest_at=digest_at), as_of=as_of)
    _mark_planned(session, kind="supervisor", day=day, as_of=as_of, added=added, skipped=0)
    log.info("supervisor digests for the week of %s: %s queued", day, added)
    return added


def _planned(session: Session, *, kind: str, day: date) -> bool:
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id.is_(None), AuditEvent.kind == PLANNED_EVENT,
        AuditEvent.note == f"{kind}:{day.isoformat()}").limit(1)) is not None


def _mark_planned(session: Session, *, kind: str, day: date, as_of: datetime, added: int,
                  skipped: int) -> None:
    repo.add_audit(session, case_id=None, at=as_of, actor=SYSTEM_ACTOR, kind=PLANNED_EVENT,
                   note=f"{kind}:{day.isoformat()}",
                   detail={"digest": kind, "day": day.isoformat(), "queued": added,
                           "without_email": skipped})
    session.flush()


def _add(session: Session, *, key: str, kind: str, role: str, jurisdiction: str,
         contact_id: int | None, to: str, due_at: datetime, as_of: datetime) -> int:
    if session.scalar(select(Notice.id).where(Notice.key == key)) is not None:
        return 0
    try:
        with session.begin_nested():  # another process may plan the same key at once
            session.add(Notice(
                key=key, case_id=None, kind=kind, escalation_level=0, recipient_role=role,
                recipient_jurisdiction=jurisdiction, contact_id=contact_id, to_address=to,
                due_at=due_at, status="queued", attempts=0, next_attempt_at=due_at,
                created_at=as_of, priority=priority_of(kind)))
    except IntegrityError:
        return 0
    return 1


# --- rendering (at send time, from prepare_mails) ---------------------------------------------

def digest_mail(session: Session, *, notice: Notice, as_of: datetime, calendar: WorkCalendar,
                policy: ReminderPolicy, public_url: str | None = None) -> Mail | None:
    """The digest as it stands now; None — and the notice cancelled — when its day has passed
    or nothing is left to say."""
    day = digest_day_of(notice.key)
    if is_stale(kind=notice.kind, day=day, as_of=as_of, calendar=calendar,
                window_end=policy.window_end):
        return _cancel(notice, "stale: a digest not sent in its time is replaced by the next one")
    if notice.kind == NoticeKind.CADRE_DIGEST:
        context = cadre_context(session, notice=notice, as_of=as_of, calendar=calendar)
    else:
        context = supervisor_context(session, notice=notice, as_of=as_of, calendar=calendar,
                                     day=day)
    if context is None:
        return _cancel(notice, "nothing due any more")
    return render_mail(template=template_of(notice.kind), context=context, to=[notice.to_address],
                       notice_key=notice.key)


def _cancel(notice: Notice, reason: str) -> None:
    notice.status, notice.claimed_until, notice.last_error = "cancelled", None, reason
    return None


def cadre_context(session: Session, *, notice: Notice, as_of: datetime,
                  calendar: WorkCalendar) -> dict[str, object] | None:
    items = collect_due_items(session, as_of=as_of, calendar=calendar, contact_id=notice.contact_id)
    digest = build_cadre_digest(items=items, as_of=as_of, calendar=calendar)
    return None if digest is None else cadre_mail_context(digest)


def supervisor_context(session: Session, *, notice: Notice, as_of: datetime,
                       calendar: WorkCalendar, day: date) -> dict[str, object] | None:
    root_code = notice.recipient_jurisdiction
    nodes = jurisdiction_nodes(session, under=root_code)
    root = nodes.get(root_code) or Node(code=root_code, name=root_code, level="")
    items = collect_due_items(session, as_of=as_of, calendar=calendar, under=root_code)
    picture = rollup(items=items, root=root, nodes=nodes, as_of=as_of, calendar=calendar)
    if not (picture.overdue or picture.due_soon):
        return None
    return supervisor_mail_context(picture, week_of=day, as_of=as_of)
