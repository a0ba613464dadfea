"""At-once notices for a life at risk must be confirmed (issue 5): one that nobody confirms
within 30 minutes is sent again, and the responsible cadre is told to phone.

Pure: the sent notices come in as facts, time as an argument. Each re-send happens once
(its key is derived from the original notice's); a confirmation cancels what is not yet out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.domain.notice_keys import again_key, phone_unconfirmed_key
from models.domain.notice_kinds import NoticeKind
from models.domain.reminders import OwedNotice

CONFIRM_WITHIN = timedelta(minutes=30)


@dataclass(frozen=True)
class SentAtOnce:
    notice_id: int
    key: str
    round: str  # the report it belongs to: "case:7" (intake) or "incident:3"
    contact_id: int | None
    role: str
    jurisdiction_code: str
    sent_at: datetime
    acknowledged: bool


def owed_confirmations(*, case_id: int, case_jurisdiction: str, sent: Sequence[SentAtOnce],
                       as_of: datetime, wait: timedelta = CONFIRM_WITHIN) -> list[OwedNotice]:
    """For every unconfirmed notice past `wait`: the same notice again; and one mail to the
    cadre per round of at-once reports (the intake's, each incident's) — once, however many
    of the round confirm later."""
    late = [s for s in sent if not s.acknowledged and s.sent_at + wait <= as_of]
    owed = [OwedNotice(key=again_key(sent_key=s.key), kind=NoticeKind.AT_ONCE_AGAIN, due_at=s.sent_at + wait,
                       recipient_role=s.role, recipient_jurisdiction=s.jurisdiction_code,
                       contact_id=s.contact_id) for s in late]
    for round_key in sorted({s.round for s in late}):
        first = min(s.sent_at for s in late if s.round == round_key)
        owed.append(OwedNotice(
            key=phone_unconfirmed_key(round_key=round_key, kind=NoticeKind.PHONE_UNCONFIRMED),
            kind=NoticeKind.PHONE_UNCONFIRMED, due_at=first + wait,
            recipient_role="federation_chair", recipient_jurisdiction=case_jurisdiction))
    return owed


def next_confirmation_check(*, sent: Sequence[SentAtOnce], after: datetime,
                            wait: timedelta = CONFIRM_WITHIN) -> datetime | None:
    return min((s.sent_at + wait for s in sent
                if not s.acknowledged and s.sent_at + wait > after), default=None)
