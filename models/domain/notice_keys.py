"""Notice keys, built and read here only.

A key makes a notice exist once: planning inserts a row per key and leaves an existing key
alone, so a sweep run twice sends nothing twice. An *owed key* names what is owed (a case's
reminder for a day, a referral's escalation level…); a *notice key* is an owed key plus its
recipient. The few facts other modules need back from a key (what was owed, which at-once
report round, which digest day) are read by the functions below, nowhere else.
"""

from __future__ import annotations

from datetime import date, datetime

_TO = ":to:"
_NOBODY = ":nobody"
_AT_ONCE = ":at_once"


def notice_key(*, owed_key: str, contact_id: int | None) -> str:
    """The owed notice sent to one contact (or to nobody: a notice no one can receive)."""
    return f"{owed_key}{_TO}{contact_id}" if contact_id is not None else f"{owed_key}{_NOBODY}"


def owed_key_of(key: str) -> str:
    """What a notice key was owed for (the inverse of `notice_key`)."""
    if _TO in key:
        return key.rsplit(_TO, 1)[0]
    return key.removesuffix(_NOBODY)


# --- a case's own deadline (models/domain/reminders.py) --------------------------------------
# A key is the case plus a step; the steps of a deadline are the same for every case due that
# day, so the sweep makes them once per day, not once per case.

def case_key(*, case_id: int, step: str) -> str:
    return f"case:{case_id}:{step}"


def reminder_step(*, kind: str, due_day: date, before: int) -> str:
    return f"{kind}:{due_day.isoformat()}:{before}"


def last_call_step(*, kind: str, due_at: datetime) -> str:
    return f"{kind}:{due_at.isoformat()}:last-call"


def escalation_step(*, kind: str, due_day: date, level: int) -> str:
    return f"{kind}:{due_day.isoformat()}:{level}"


def difficult_transfer_step(*, kind: str) -> str:
    return f"{kind}"


def difficult_tracking_step(*, kind: str, sequence: int) -> str:
    return f"{kind}:{sequence}"


# --- referrals and return visits ------------------------------------------------------------

def referral_sent_key(*, referral_id: int) -> str:
    return f"referral:{referral_id}:sent"


def referral_reminder_key(*, referral_id: int, due_day: date, before: int) -> str:
    return f"referral:{referral_id}:reminder:{due_day.isoformat()}:{before}"


def referral_overdue_key(*, referral_id: int, due_day: date, level: int) -> str:
    return f"{_referral_overdue_round(referral_id=referral_id, due_day=due_day)}{level}"


def _referral_overdue_round(*, referral_id: int, due_day: date) -> str:
    return f"referral:{referral_id}:overdue:{due_day.isoformat()}:"


def escalation_round_prefix(key: str) -> str:
    """The prefix every level of the same escalation round shares (a referral's overdue
    round of one feedback deadline): "referral:5:overdue:2026-10-14:2:to:17" gives
    "referral:5:overdue:2026-10-14:"."""
    return owed_key_of(key).rsplit(":", 1)[0] + ":"


def visit_key(*, plan_id: int, kind: str, due_day: date, step: int) -> str:
    return f"visit:{plan_id}:{kind}:{due_day.isoformat()}:{step}"


def follow_up_key(*, follow_up_id: int, kind: str, due_day: date, step: int) -> str:
    """The return visit after closing: its reminders and escalations, like a visit's."""
    return f"follow-up:{follow_up_id}:{kind}:{due_day.isoformat()}:{step}"


def protection_order_key(*, measure_id: int, kind: str, expires_on: date) -> str:
    return f"measure:{measure_id}:{kind}:{expires_on.isoformat()}"


# --- at-once reports and their confirmation --------------------------------------------------

def intake_round(*, case_id: int) -> str:
    """The round of at-once reports made at intake."""
    return f"case:{case_id}"


def incident_round(*, incident_id: int) -> str:
    """The round of at-once reports made for a new incident (reported again)."""
    return f"incident:{incident_id}"


def mediation_round(*, case_id: int) -> str:
    """The round of at-once reports made when failed mediations reach the threshold: one per
    case, so a third failure reports nothing again."""
    return f"mediation:{case_id}"


def at_once_key(*, round_key: str, kind: str, contact_id: int) -> str:
    return notice_key(owed_key=f"{round_key}:{kind}", contact_id=contact_id)


def missing_role_key(*, round_key: str, role: str, searched_from: str) -> str:
    return f"{round_key}{_AT_ONCE}:missing:{role}:{searched_from}"


def routing_gap_key(*, round_key: str, kind: str) -> str:
    return f"{round_key}:{kind}"


def round_of(key: str) -> str:
    """The round an at-once report's key belongs to ("case:7" or "incident:3")."""
    return key.split(f"{_AT_ONCE}:", 1)[0]


def again_key(*, sent_key: str) -> str:
    """The re-send of an unconfirmed at-once report (once per report)."""
    return f"{sent_key}:again"


def phone_unconfirmed_key(*, round_key: str, kind: str) -> str:
    return f"{round_key}:{kind}"


# --- digests --------------------------------------------------------------------------------

def cadre_digest_key(*, contact_id: int, day: date) -> str:
    return f"digest:cadre:{contact_id}:{day.isoformat()}"


def supervisor_digest_key(*, person: str, day: date) -> str:
    """`person` is "user:<id>" or "contact:<id>"."""
    return f"digest:supervisor:{person}:{day.isoformat()}"


def monthly_statistics_key(*, person: str, day: date) -> str:
    """`day` is the month's first working day: one mail per supervisor per month."""
    return f"digest:monthly:{person}:{day.isoformat()}"


def digest_day_of(key: str) -> date:
    return date.fromisoformat(key.rsplit(":", 1)[1])


# --- the operator's notices about the machinery (models/service/backlog.py) -------------------

def backlog_alert_key(*, episode: int) -> str:
    """The operator's notice of the outbox's `episode`-th backlog: one per episode."""
    return f"operator:outbox_backlog:{episode}"
