"""Referrals (转介) that report back: send, acknowledge, record the result. Each act is
audited and sets the case's next check to now so the due sweep re-reads it — the referral
mail goes out within seconds, a result stops the reminders and the escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Contact, Referral
from models.domain.calendar import WorkCalendar
from models.domain.errors import InputError
from models.domain.referrals import (
    AWAITING_FEEDBACK,
    DEFAULT_FEEDBACK_WORKING_DAYS,
    ReferralClock,
    feedback_deadline,
)
from models.domain.vocabulary import vocabulary

FUTURE_SKEW = timedelta(minutes=5)


def referral_clock(referral: Referral, case: Case, *,
                   governance_center: bool = True) -> ReferralClock:
    return ReferralClock(
        referral_id=referral.id, contact_id=referral.contact_id, contact_role=referral.role,
        contact_jurisdiction=referral.jurisdiction_code, case_jurisdiction=case.jurisdiction_code,
        sent_at=referral.sent_at, feedback_due_at=referral.feedback_due_at,
        closed=referral.status not in AWAITING_FEEDBACK, governance_center=governance_center)


def governance_center_reachable(session: Session, case: Case) -> bool:
    """A 综治中心 with an email at the case's level or above (the escalation's first stop)."""
    return any(c.email for c in repo.contacts_for_role(
        session, jurisdiction_code=case.jurisdiction_code, role="governance_center"))


def refer(session: Session, *, case: Case, role: str, contact_key: str | None = None,
          working_days: int = DEFAULT_FEEDBACK_WORKING_DAYS, purpose: str = "",
          now: datetime, actor: str, calendar: WorkCalendar) -> Referral:
    """Send the case to a department: the named contact, or the contact holding `role` at
    the case's level (or the nearest level above that has one)."""
    if role not in vocabulary().codes("contact_roles"):
        raise InputError(field="role", reason=f"没有这个部门：{role!r}")
    contact = _contact(session, case=case, role=role, contact_key=contact_key)
    if not contact.email:
        raise InputError(field="contact", reason=(
            f"{contact.post or contact.name}（{contact.jurisdiction_code}）在联络名册中没有邮箱，"
            "转介邮件无法送达：请先在名册中补充"))
    if len(purpose) > 500:
        raise InputError(field="purpose", reason="不能超过500字")
    due_at, provisional = feedback_deadline(sent_at=now, working_days=working_days,
                                            calendar=calendar)
    referral = Referral(
        case_id=case.id, contact_id=contact.id, role=contact.role,
        jurisdiction_code=contact.jurisdiction_code, purpose=purpose.strip(), sent_at=now,
        feedback_working_days=working_days, feedback_due_at=due_at, status="open",
        created_by=actor)
    session.add(referral)
    session.flush()
    case.next_check_at = now
    repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="referred",
                   note=f"转介{vocabulary().label('contact_roles', contact.role)}",
                   detail={"referral_id": referral.id, "contact_id": contact.id,
                           "role": contact.role, "jurisdiction": contact.jurisdiction_code,
                           "feedback_due_at": due_at.isoformat(),
                           "deadline_provisional": provisional})
    return referral


def _contact(session: Session, *, case: Case, role: str, contact_key: str | None) -> Contact:
    if contact_key:
        contact = repo.contact_by_key(session, contact_key)
        if contact is None:
            raise InputError(field="contact", reason=f"联络名册中没有 {contact_key!r}")
        if contact.role != role:
            raise InputError(field="contact", reason=(
                f"{contact_key!r} 在名册中登记为{vocabulary().label('contact_roles', contact.role)}，"
                f"不是{vocabulary().label('contact_roles', role)}"))
        return contact
    found = referral_target(session, case=case, role=role)
    if found is None:
        raise InputError(field="role", reason=(
            f"{case.jurisdiction_code}及以上各级都没有登记邮箱的"
            f"{vocabulary().label('contact_roles', role)}：请先在联络名册中补充，或指定接收人"))
    return found


def referral_target(session: Session, *, case: Case, role: str) -> Contact | None:
    """Whom a referral to `role` goes to when no contact is named: the role's first contact
    with an email at the case's level, or the nearest level above (as routing walks)."""
    found = [c for c in repo.contacts_for_role(session, jurisdiction_code=case.jurisdiction_code,
                                               role=role) if c.email]
    return found[0] if found else None


def referral_by_key(session: Session, key: str) -> Referral | None:
    referral_id = repo.row_id(key)
    return None if referral_id is None else session.get(Referral, referral_id)


def acknowledge_referral(session: Session, *, referral: Referral, by: str, at: datetime,
                         actor: str) -> bool:
    """Receipt confirmed. False when it already was (nothing changes: links get re-opened)."""
    _check_time(referral, at=at, field="at")
    if referral.status == "withdrawn":
        raise InputError(field="referral", reason=f"referral {referral.id} was withdrawn")
    if referral.acknowledged_at is not None:
        return False
    referral.acknowledged_at, referral.acknowledged_by = at, by.strip()
    if referral.status == "open":
        referral.status = "acknowledged"
    _touch_case(session, referral, at=at, actor=actor, kind="referral_acknowledged",
                note=f"转介已签收（{by.strip()}）")
    return True


def record_referral_result(session: Session, *, referral: Referral, note: str, by: str,
                           at: datetime, actor: str) -> None:
    """The department reported back: reminders and escalation stop."""
    _check_time(referral, at=at, field="at")
    if not note.strip():
        raise InputError(field="note", reason="请填写办理结果")
    if len(note) > 4000:
        raise InputError(field="note", reason="不能超过4000字")
    if referral.status == "resulted":
        raise InputError(field="referral", reason=f"转介 {referral.id} 已登记反馈结果")
    if referral.status == "withdrawn":
        raise InputError(field="referral", reason=f"referral {referral.id} was withdrawn")
    if referral.acknowledged_at is None:
        referral.acknowledged_at, referral.acknowledged_by = at, by.strip()
    referral.status, referral.result_at = "resulted", at
    referral.result_note, referral.result_by = note.strip(), by.strip()
    on_time = at <= referral.feedback_due_at
    _touch_case(session, referral, at=at, actor=actor, kind="referral_result",
                note=f"转介结果已反馈（{by.strip()}）{'' if on_time else '，已逾期'}",
                detail={"on_time": on_time})


def withdraw_referral(session: Session, *, referral: Referral, reason: str, at: datetime,
                      actor: str) -> None:
    if referral.status not in AWAITING_FEEDBACK:
        raise InputError(field="referral", reason=(
            f"转介 {referral.id} {vocabulary().label('referral_statuses', referral.status)}，不能撤回"))
    if len(reason.strip()) < 4:
        raise InputError(field="reason", reason="撤回转介须说明理由（至少4个字）")
    referral.status = "withdrawn"
    _touch_case(session, referral, at=at, actor=actor, kind="referral_withdrawn", note=reason.strip())


def _check_time(referral: Referral, *, at: datetime, field: str) -> None:
    if at.tzinfo is None:
        raise InputError(field=field, reason="时间须带时区（如 +08:00）")
    if at < referral.sent_at:
        raise InputError(field=field, reason="不能早于转介发出的时间")


def _touch_case(session: Session, referral: Referral, *, at: datetime, actor: str, kind: str,
                note: str, detail: dict | None = None) -> None:
    case = session.get(Case, referral.case_id)
    assert case is not None
    case.next_check_at = at
    repo.add_audit(session, case_id=case.id, at=at, actor=actor, kind=kind, note=note,
                   detail={"referral_id": referral.id, **(detail or {})})
    session.flush()
