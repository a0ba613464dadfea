"""附表2: a helper's work log — the entries a cadre types, and the whole log as the form reads
it (typed entries, referrals she answered, mediations she held, visits she made)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, HelperWork, Mediation, Referral, Visit
from models.domain.calendar import SHANGHAI
from models.domain.casework import text
from models.domain.errors import InputError
from models.domain.jurisdiction import is_within
from models.domain.ledgers import HELPER_ROLES, Period
from models.domain.vocabulary import vocabulary


def log_helper_work(session: Session, *, contact: str, worked_on: date, work: str,
                    now: datetime, actor: str, scope: str | None = None) -> HelperWork:
    """One entry of 附表2's 工作情况记录 for a helper (a registry contact, by id or email, in an
    expert or volunteer role, inside `scope` when given). Audited."""
    helper = repo.contact_by_key(session, contact.strip())
    if helper is None:
        raise InputError(field="contact", reason=f"no registry contact {contact!r}")
    if helper.role not in HELPER_ROLES:
        roles = "、".join(vocabulary().label("contact_roles", r) for r in HELPER_ROLES)
        raise InputError(field="contact", reason=(
            f"{helper.name} is {vocabulary().label('contact_roles', helper.role)}, not a helper "
            f"({roles})"))
    if scope is not None and not is_within(helper.jurisdiction_code, under=scope):
        raise InputError(field="contact", reason=f"{helper.name} is outside your jurisdiction ({scope})")
    if worked_on > now.astimezone(SHANGHAI).date():
        raise InputError(field="on", reason=f"{worked_on.isoformat()} lies in the future")
    entry = HelperWork(contact_id=helper.id, worked_on=worked_on,
                       work=text(work, field="work", required=True), recorded_at=now,
                       recorded_by=actor)
    session.add(entry)
    session.flush()
    repo.add_audit(session, case_id=None, at=now, actor=actor, kind="helper_work_logged",
                   note=f"{helper.name}（{worked_on.isoformat()}）",
                   detail={"contact_id": helper.id, "helper_work_id": entry.id,
                           "worked_on": worked_on.isoformat()})
    return entry


@dataclass(frozen=True)
class WorkEntry:
    on: date
    task: str  # 附表2's 主要参与的任务 it counts under
    done: str  # what she did, by case number — never a party's name


def helper_work(session: Session, *, contact_ids: list[int],
                period: Period | None) -> dict[int, list[WorkEntry]]:
    """Each helper's log in date order: typed entries, referrals answered (with the result
    noted), mediations held (when the mediator was this contact) and visits she made (a visit
    whose 走访人 is her name, on a case of her subtree)."""
    voc = vocabulary()
    found: dict[int, list[WorkEntry]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return found

    def keep(day: date) -> bool:
        return period is None or period.first <= day <= period.last

    for row in session.scalars(select(HelperWork).where(HelperWork.contact_id.in_(contact_ids))):
        if keep(row.worked_on):
            found[row.contact_id].append(WorkEntry(row.worked_on, "其他", row.work))
    answered = session.execute(
        select(Referral.contact_id, Referral.result_at, Referral.purpose, Case.number)
        .join(Case, Case.id == Referral.case_id)
        .where(Referral.contact_id.in_(contact_ids), Referral.result_at.is_not(None))).all()
    for row in answered:
        day = row.result_at.astimezone(SHANGHAI).date()
        if keep(day):
            what = f"：{row.purpose}" if row.purpose else ""
            found[row.contact_id].append(WorkEntry(day, "转介办理", f"办理转介并反馈结果（{row.number}{what}）"))
    held = session.execute(
        select(Mediation.mediator_contact_id, Mediation.held_on, Mediation.outcome, Case.number)
        .join(Case, Case.id == Mediation.case_id)
        .where(Mediation.mediator_contact_id.in_(contact_ids))).all()
    for row in held:
        if keep(row.held_on):
            outcome = voc.label("mediation_outcomes", row.outcome.value)
            found[row.mediator_contact_id].append(
                WorkEntry(row.held_on, "调解", f"主持调解（{row.number}）：{outcome}"))
    helpers = session.execute(select(Contact.id, Contact.name, Contact.jurisdiction_code)
                              .where(Contact.id.in_(contact_ids))).all()
    for helper in helpers:
        # A visit names its visitor as typed: attributable when it is her registry name.
        visits = session.execute(
            select(Visit.visited_at, Visit.mode, Case.number).join(Case, Case.id == Visit.case_id)
            .where(Visit.visited_by == helper.name,
                   Case.jurisdiction_code.startswith(helper.jurisdiction_code))).all()
        for visit in visits:
            day = visit.visited_at.astimezone(SHANGHAI).date()
            if keep(day):
                found[helper.id].append(WorkEntry(
                    day, "走访回访", f"{voc.label('visit_modes', visit.mode)}（{visit.number}）"))
    for entries in found.values():
        entries.sort(key=lambda e: e.on)
    return found
