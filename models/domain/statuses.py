"""The states of the machinery's own rows: the outbox's notices and the flow runs owed to
Prefect. (A case's status is `procedure.Status`, a referral's `referrals.ReferralStatus`, a
visit plan's `visits.PlanStatus`.) The database refuses any other value (a CHECK constraint)."""

from __future__ import annotations

from enum import StrEnum


class NoticeStatus(StrEnum):
    QUEUED = "queued"  # waiting for its instant (or its retry)
    SENDING = "sending"  # claimed by a sender under a lease
    SENT = "sent"  # the server accepted it
    FAILED = "failed"  # gave up after retries, or nobody to send to
    CANCELLED = "cancelled"  # no longer applies (answered, stale digest, …)


class TriggerStatus(StrEnum):
    PENDING = "pending"  # owed to Prefect, not started yet
    RUNNING = "running"
    DONE = "done"
