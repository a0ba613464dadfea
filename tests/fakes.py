"""Fakes for tests of the code that sends mail: no network, no mocks of the code under test."""

from __future__ import annotations

from collections.abc import Sequence

from notifications.message import Mail, to_wire_bytes
from notifications.sender import MailTransportError, OnOutcome, SendOutcome


class SenderCrashed(Exception):
    """The process died in the middle of a batch (after the server had answered some mails)."""


class RecordingSender:
    """A MailSender that records mails instead of sending them, reporting each outcome as the
    real sender does (`on_outcome` as soon as it is known).

    `fail_next(n)` makes the next n mails fail (transient by default), the way a flaky relay
    would; `crash_after(k)` makes the next batch raise after k mails have been answered.
    """

    def __init__(self, *, mail_from: str = "weiquan@localhost") -> None:
        self.mail_from = mail_from
        self.sent: list[Mail] = []
        self.failed: list[Mail] = []
        self.batches: list[tuple[Mail, ...]] = []
        self._failures_left = 0
        self._failure = MailTransportError("simulated failure", transient=True)
        self._crash_after: int | None = None

    def fail_next(self, count: int = 1, *, transient: bool = True,
                  recipient_refused: bool = False) -> None:
        if count < 0:
            raise ValueError("count must not be negative")
        self._failures_left = count
        self._failure = MailTransportError(
            "simulated transient failure" if transient else "simulated permanent failure",
            transient=transient, recipient_refused=recipient_refused)

    def crash_after(self, count: int) -> None:
        self._crash_after = count

    @property
    def sent_message_ids(self) -> list[str]:
        return [mail.message_id for mail in self.sent]

    @property
    def sent_subjects(self) -> list[str]:
        return [mail.subject for mail in self.sent]

    async def send_batch(self, mails: Sequence[Mail], *,
                         on_outcome: OnOutcome | None = None) -> list[SendOutcome]:
        batch = tuple(mails)
        self.batches.append(batch)
        outcomes: list[SendOutcome] = []
        crash_after, self._crash_after = self._crash_after, None
        for index, mail in enumerate(batch):
            if crash_after is not None and index == crash_after:
                raise SenderCrashed(f"killed after {crash_after} mail(s)")
            # Serialise as the real sender would, so an unsendable Mail fails here too.
            to_wire_bytes(mail, mail_from=self.mail_from, date=None)
            if self._failures_left > 0:
                self._failures_left -= 1
                self.failed.append(mail)
                outcome = SendOutcome(mail.message_id, ok=False, error=self._failure)
            else:
                self.sent.append(mail)
                outcome = SendOutcome(mail.message_id, ok=True)
            outcomes.append(outcome)
            if on_outcome is not None:
                await on_outcome(index, outcome)
        return outcomes
