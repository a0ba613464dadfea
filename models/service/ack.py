"""Acknowledgement without an account: a signed, expiring link per notice.

Police stations, civil affairs and hotline staff have no login. Each at-once notice and
referral mail can carry `ack_url_for(notice, …)`; opening it shows the case number and what is
asked, and lets the recipient confirm receipt or report a result, which stops that notice's
re-sends (the due sweep reads `notices.acknowledged_at`).

The token is `<notice id>.<case id>.<expires, unix seconds>.<HMAC-SHA256>` (base64url). The
MAC covers all three numbers under a purpose string, so a link cannot be altered to point at
another notice or case, nor have its expiry pushed back. The ids are not secrets; the MAC is.
A valid MAC whose notice does not belong to the case named is refused as well (a key shared
with another installation, or a row that was re-used).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case, Notice, Referral
from models.domain.errors import InputError
from models.domain.notice_kinds import kinds_where
from models.service.referrals import acknowledge_referral, record_referral_result

log = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(days=14)
FORM_NONCE_VALIDITY = timedelta(hours=12)
MAX_NAME_CHARS = 200
MAX_NOTE_CHARS = 4000
_TOKEN_PURPOSE = b"weiquan/ack/v1\x00"
_NONCE_PURPOSE = b"weiquan/ack-form/v1\x00"


class AckError(ValueError):
    """A link that cannot be used; `reason` is what the page tells the person."""

    reason = "此链接无效。"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class AckLinkInvalid(AckError):
    """Malformed or forged: the signature does not match."""

    reason = "此链接无效（签名不符或链接不完整）。请使用邮件中的原始链接。"


class AckLinkExpired(AckError):
    reason = "此链接已过期。如仍需确认或反馈，请直接联系承办人。"


class AckLinkMismatch(AckError):
    """Signed correctly, but the notice does not exist or belongs to another case."""

    reason = "此链接与通知记录不符，无法使用。"


@dataclass(frozen=True)
class AckToken:
    notice_id: int
    case_id: int
    expires_at: datetime


def _mac(secret: str, purpose: bytes, message: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), purpose + message.encode("ascii"),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _epoch(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("times must carry their UTC offset")
    return int(value.timestamp())


def make_ack_token(*, notice_id: int, case_id: int, expires_at: datetime, secret: str) -> str:
    body = f"{int(notice_id)}.{int(case_id)}.{_epoch(expires_at)}"
    return f"{body}.{_mac(secret, _TOKEN_PURPOSE, body)}"


def ack_url_for(notice: Notice, *, public_url: str, secret: str, now: datetime,
                valid_for: timedelta = DEFAULT_VALIDITY) -> str:
    """The link for one notice's mail: `<public_url>/ack/<token>`, valid for `valid_for`."""
    if notice.id is None or notice.case_id is None:
        raise ValueError("only a stored notice of a case can be acknowledged by link")
    token = make_ack_token(notice_id=notice.id, case_id=notice.case_id,
                           expires_at=now + valid_for, secret=secret)
    return f"{public_url.rstrip('/')}/ack/{token}"


def read_ack_token(token: str, *, secret: str, now: datetime) -> AckToken:
    """Check the signature first (a forged link says so even when its date is past), then
    the expiry."""
    parts = token.split(".")
    if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]) or len(token) > 200:
        raise AckLinkInvalid("malformed token")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _mac(secret, _TOKEN_PURPOSE, body)):
        raise AckLinkInvalid("signature mismatch")
    expires_at = datetime.fromtimestamp(int(parts[2]), UTC)
    if now >= expires_at:
        raise AckLinkExpired(f"expired at {expires_at.isoformat()}")
    return AckToken(notice_id=int(parts[0]), case_id=int(parts[1]), expires_at=expires_at)


def resolve_ack_token(session: Session, token: str, *, secret: str,
                      now: datetime) -> tuple[Notice, Case]:
    """The notice and case a valid link is for; AckError subclasses otherwise."""
    parsed = read_ack_token(token, secret=secret, now=now)
    notice = session.get(Notice, parsed.notice_id)
    if notice is None or notice.case_id != parsed.case_id:
        raise AckLinkMismatch(f"notice {parsed.notice_id} is not a notice of case {parsed.case_id}")
    case = session.get(Case, parsed.case_id)
    if case is None:
        raise AckLinkMismatch(f"case {parsed.case_id} not found")
    return notice, case


# --- the form --------------------------------------------------------------------------------

def form_nonce(token: str, *, secret: str, now: datetime) -> str:
    """A hidden form field proving the POST comes from the page this server rendered for
    this link (there is no session to tie a CSRF token to)."""
    issued = str(_epoch(now))
    return f"{issued}.{_mac(secret, _NONCE_PURPOSE, f'{token}|{issued}')}"


def check_form_nonce(nonce: str, *, token: str, secret: str, now: datetime) -> None:
    issued, _, mac = nonce.partition(".")
    if not issued.isdigit() or not hmac.compare_digest(
            mac, _mac(secret, _NONCE_PURPOSE, f"{token}|{issued}")):
        raise InputError(field="nonce", reason="表单校验失败，请重新打开链接后再提交。")
    if now - datetime.fromtimestamp(int(issued), UTC) > FORM_NONCE_VALIDITY:
        raise InputError(field="nonce", reason="表单已打开太久，请刷新页面后再提交。")


# --- acting on it ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AckOutcome:
    action: str  # receipt | result
    already: bool  # receipt was confirmed before (nothing changed)
    acknowledged_at: datetime


def acknowledge_notice(session: Session, *, notice: Notice, case: Case, action: str, by: str,
                       note: str, now: datetime) -> AckOutcome:
    """Confirm receipt (`action="receipt"`) or report a result (`"result"`, needs `note`).

    Sets the notice's acknowledged_at/by once, audits the act, and for a referral notice
    records the referral's receipt or result as well. A second receipt changes nothing."""
    by = " ".join(by.split())
    note = note.strip()
    if action not in ("receipt", "result"):
        raise InputError(field="action", reason=f"unknown action {action!r}")
    if len(by) > MAX_NAME_CHARS:
        raise InputError(field="by", reason=f"不超过 {MAX_NAME_CHARS} 个字符")
    if action == "result" and not note:
        raise InputError(field="note", reason="请填写办理结果")
    if len(note) > MAX_NOTE_CHARS:
        raise InputError(field="note", reason=f"不超过 {MAX_NOTE_CHARS} 个字符")
    by = by or notice.to_address or notice.recipient_role
    actor = f"ack-link:{notice.recipient_role}@{notice.recipient_jurisdiction}"[:100]

    already = notice.acknowledged_at is not None
    if not already:
        confirmed = [notice, *_same_report(session, notice)]
        for row in confirmed:
            row.acknowledged_at, row.acknowledged_by = now, by
        repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="notice_acknowledged",
                       note=f"通知已签收（{by}）",
                       detail={"notice_id": notice.id, "notice_kind": notice.kind,
                               "role": notice.recipient_role,
                               "also_confirmed": [row.id for row in confirmed[1:]]})
    referral = session.get(Referral, notice.referral_id) if notice.referral_id else None
    if action == "result":
        if referral is not None:
            record_referral_result(session, referral=referral, note=note, by=by, at=now, actor=actor)
        else:
            repo.add_audit(session, case_id=case.id, at=now, actor=actor, kind="notice_result",
                           note=note, detail={"notice_id": notice.id, "by": by,
                                              "notice_kind": notice.kind})
    elif referral is not None:
        acknowledge_referral(session, referral=referral, by=by, at=now, actor=actor)
    # The sweep re-reads the case at once: an acknowledged notice is not sent again.
    case.next_check_at = now
    session.flush()
    log.info("notice %s of case %s: %s by link", notice.id, case.number, action)
    return AckOutcome(action=action, already=already and action == "receipt",
                      acknowledged_at=notice.acknowledged_at or now)


def _same_report(session: Session, notice: Notice) -> list[Notice]:
    """Other mails of the same report, still unconfirmed: the at-once report to this recipient
    and its re-send after 30 minutes; a referral's mail and its reminders. Confirming one
    confirms them all."""
    if notice.referral_id is not None:
        same = Notice.referral_id == notice.referral_id
    elif notice.kind in (confirmable := kinds_where(confirmable=True)) \
            and notice.contact_id is not None:
        same = (Notice.case_id == notice.case_id) & (Notice.contact_id == notice.contact_id) \
            & Notice.kind.in_(confirmable)
    else:
        return []
    return list(session.scalars(select(Notice).where(
        same, Notice.acknowledged_at.is_(None), Notice.id != notice.id).order_by(Notice.id)))
