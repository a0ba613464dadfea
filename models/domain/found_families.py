"""Families found without a complaint (domain.md §11; 000 看/听/问, 003 排查): what is decided
about one before it is stored.

How it is stored, and why. Such a family is a case row of channel `screening` (排查发现, the
contract's code) in status 回访 (`visiting`): its visit plan, visits, reminders, escalations,
audit trail, 附表3 row (如何发现 = 排查) and statistics are then the very rows every other
family has, read by the same read models. What sets it apart is that it owes nobody an
answer: its tier and response deadline are NULL (migration 0011), not a made-up value, and
回访 is a settled status, so the deadline engine plans nothing for it, `due_items` lists no
response for it (SQL leaves a NULL deadline out of every "past due" comparison) and
statistics never count it overdue or unanswered — while its visits are due items like any
plan's. A separate ledger-entry kind owning a plan would have needed a second plan owner in
the sweep, the notices, the exports and the statistics: two places for one rule.

Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from models.domain.visits import Ledger, ledger_for
from models.domain.vocabulary import vocabulary

SCREENING_CHANNEL = "screening"
NO_ANSWER_OWED = "无（排查发现，无需答复）"
MIN_REASON_CHARS = 4  # keeps out "ok" / "x"; four characters is a short Chinese phrase
MAX_REASON_CHARS = 2000


class FoundBy(StrEnum):
    """Labels: vocabulary `found_by`. How the federation came upon the family itself (all of them are 排查 on 附表3)."""

    SCREENING = "screening"  # 003: daily, periodic or special screening
    VISIT = "visit"  # 看: seen while visiting
    INQUIRY = "inquiry"  # 听/问: heard from neighbours, asked about


def found_by_label(found_by: FoundBy | str) -> str:
    return vocabulary().label("found_by", str(found_by))


def found_ledger(*, category: str, risk_indicators: Sequence[str]) -> Ledger:
    """The ledger's rule at intake decides, but a family someone went to the trouble of
    registering is at least a focus family: found without a marker, she is still watched."""
    return ledger_for(category=category, risk_indicators=risk_indicators) or Ledger.FOCUS


def found_summary(*, found_by: FoundBy, reason: str) -> str:
    """The case's summary: how she was found and why she is watched, as the cadre wrote it."""
    return f"{found_by_label(found_by)}：{reason}"
