"""Digests: what is due for whom (read from the rows), the outbox notices that carry it, and
the mail rendered at send time.

- `plan_digests(session, as_of=…)` runs in every due sweep. From 08:30 of a working day it
  puts ONE notice per cadre with something due in the outbox, keyed
  `digest:cadre:{contact_id}:{YYYY-MM-DD}` (a key that exists is never added again), and on
  the first working day of the ISO week one per supervisor, keyed
  `digest:supervisor:{user|contact}:{id}:{YYYY-MM-DD}`. A day's (week's) planning happens
  once — an audit event `digests_planned` records it — so the list of recipients is the
  picture at 08:30, not whoever had something due at the last sweep of the day.
- From 08:30 of the first working day of each month the same planning puts one monthly
  statistics notice per supervisor (the weekly digest's recipients, whatever her subtree
  holds) in the outbox, keyed `digest:monthly:{user|contact}:{id}:{YYYY-MM-DD}` (that day):
  last month's counts with the xlsx attached (models/service/monthly_statistics.py). So
  whatever plans the day's digests plans it — the service's 08:30 wake-up, `weiquan run-due`,
  any due sweep, the digest flows and the `monthly-statistics` flow — once.
- The notice carries no content. `digest_mail` renders it when it is sent, from the rows as
  they are then (an answer given at 08:40 is not in a digest sent at 08:45); a digest whose
  day (week, month) has passed, or which has nothing left to say, is cancelled instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import AuditEvent, Contact, Jurisdiction, Notice, User
from models.domain.calendar import WorkCalendar
from models.domain.digest import (
    DIGEST_AT,
    WINDOW_END,
    Node,
    build_cadre_digest,
    cadre_mail_context,
    cadre_digest_day,
    digest_instant,
    is_stale,
    items_by_owner,
    jurisdiction_table,
    monthly_statistics_day,
    rollup,
    state_of,
    supervisor_digest_day,
    supervisor_mail_context,
)
from models.domain.errors import InputError
from models.domain.jurisdiction import Level, normalize_code
from models.domain.notice_keys import (
    cadre_digest_key,
    digest_day_of,
    monthly_statistics_key,
    supervisor_digest_key,
)
from models.domain.notice_kinds import NoticeKind, priority_of, template_of
from models.domain.reminders import ReminderPolicy
from models.domain.statuses import NoticeStatus
from models.service.due_items import due_items
from models.service.monthly_statistics import monthly_statistics_mail
from notifications.message import Mail, render_mail

log = logging.getLogger(__name__)

PLANNED_EVENT = "digests_planned"
SUPERVISOR_FALLBACK_LEVELS = (Level.TOWNSHIP.value, Level.COUNTY.value)


@dataclass(frozen=True)
class DigestPlan:
    cadre: int  # cadre digests put in the outbox by this call
    supervisor: int
    monthly: int  # monthly statistics mails


# --- what is due, for whom: `models.service.due_items` ---------------------------------------

def jurisdiction_nodes(session: Session, *, under: str | None = None) -> dict[str, Node]:
    query = select(Jurisdiction)
    if under:
        query = query.where(Jurisdiction.code.startswith(normalize_code(under)))
    return {j.code: Node(code=j.code, name=j.name, level=j.level) for j in session.scalars(query)}


def overdue_table(session: Session, *, as_of: datetime, calendar: WorkCalendar) -> list[dict[str, object]]:
    """The operator's artifact: counts by jurisdiction, kind and escalation level."""
    items = due_items(session, as_of=as_of, calendar=calendar)
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
        monthly=plan_monthly_statistics(session, as_of=as_of, calendar=calendar,
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
    owned = items_by_owner(due_items(session, as_of=as_of, calendar=calendar))
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
    items = due_items(session, as_of=as_of, calendar=calendar)
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


def plan_monthly_statistics(session: Session, *, as_of: datetime, calendar: WorkCalendar,
                            digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> int:
    """One notice per supervisor, once a month, from 08:30 of the month's first working day
    (made up on a later working day of the month if nothing ran then). Every supervisor gets
    one, a quiet subtree too: "nothing received" is a count she reports upwards."""
    day = monthly_statistics_day(as_of=as_of, calendar=calendar, digest_at=digest_at,
                                 window_end=window_end)
    if day is None or _planned(session, kind="monthly", day=day):
        return 0
    added = 0
    for person in supervisors(session):
        added += _add(session, key=monthly_statistics_key(person=person.key, day=day),
                      kind=NoticeKind.MONTHLY_STATISTICS, role=person.role,
                      jurisdiction=person.root, contact_id=person.contact_id, to=person.email,
                      due_at=digest_instant(day, digest_at=digest_at), as_of=as_of)
    _mark_planned(session, kind="monthly", day=day, as_of=as_of, added=added, skipped=0)
    log.info("monthly statistics for the month of %s: %s queued", day, added)
    return added


def _planned(session: Session, *, kind: str, day: date) -> bool:
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id.is_(None), AuditEvent.kind == PLANNED_EVENT,
        AuditEvent.note == f"{kind}:{day.isoformat()}").limit(1)) is not None


def _mark_planned(session: Session, *, kind: str, day: date, as_of: datetime, added: int,
                  skipped: int) -> None:
    repo.add_audit(session, case_id=None, at=as_of, actor=repo.SYSTEM_ACTOR,
                   kind=PLANNED_EVENT,
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
                due_at=due_at, status=NoticeStatus.QUEUED, attempts=0, next_attempt_at=due_at,
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
    if notice.kind == NoticeKind.MONTHLY_STATISTICS:
        try:
            return monthly_statistics_mail(session, notice=notice, day=day, as_of=as_of,
                                           actor=repo.SYSTEM_ACTOR, public_url=public_url or "")
        except InputError as exc:  # her jurisdiction left the registry since planning
            return _cancel(notice, f"{exc.field}: {exc.reason}")
    if notice.kind == NoticeKind.CADRE_DIGEST:
        context = cadre_context(session, notice=notice, as_of=as_of, calendar=calendar,
                                public_url=public_url or "")
    else:
        context = supervisor_context(session, notice=notice, as_of=as_of, calendar=calendar,
                                     day=day, public_url=public_url or "")
    if context is None:
        return _cancel(notice, "nothing due any more")
    return render_mail(template=template_of(notice.kind), context=context, to=[notice.to_address],
                       notice_key=notice.key)


def _cancel(notice: Notice, reason: str) -> None:
    notice.status, notice.claimed_until, notice.last_error = NoticeStatus.CANCELLED, None, reason
    return None


def cadre_context(session: Session, *, notice: Notice, as_of: datetime,
                  calendar: WorkCalendar, public_url: str) -> dict[str, object] | None:
    items = due_items(session, as_of=as_of, calendar=calendar, contact_id=notice.contact_id)
    digest = build_cadre_digest(items=items, as_of=as_of, calendar=calendar)
    return None if digest is None else cadre_mail_context(digest, public_url=public_url)


def supervisor_context(session: Session, *, notice: Notice, as_of: datetime,
                       calendar: WorkCalendar, day: date,
                       public_url: str) -> dict[str, object] | None:
    root_code = notice.recipient_jurisdiction
    nodes = jurisdiction_nodes(session, under=root_code)
    root = nodes.get(root_code) or Node(code=root_code, name=root_code, level="")
    items = due_items(session, as_of=as_of, calendar=calendar, under=root_code)
    picture = rollup(items=items, root=root, nodes=nodes, as_of=as_of, calendar=calendar)
    if not (picture.overdue or picture.due_soon):
        return None
    return supervisor_mail_context(picture, week_of=day, as_of=as_of, public_url=public_url)
