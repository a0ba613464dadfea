"""Sending built mail over SMTP: async, a small pool of connections per batch, one error type.

Building lives in `notifications.message` and is pure; this module only moves bytes.
Every problem the transport reports becomes a `MailTransportError` whose `transient` flag
tells the caller whether trying the same mail again later can help:

* 5xx answers and refused recipients (all 5xx) → permanent (`transient=False`);
* 4xx answers, timeouts, refused or dropped connections → transient.

Failures while connecting or logging in are always transient: they say nothing about the
mails, and a fixed configuration should let them go out later.

A batch is spread over up to `SmtpConfig.connections` concurrent connections, each taking
the next unsent mail when it is free; each mail's outcome is handed to the caller's
`on_outcome` as soon as the server has answered it, so a caller that records it there loses
at most the one mail in flight when it crashes.

Delivery is at least once: when a connection drops in the middle of a mail, that mail is
sent again on a new connection (once per connection). The stable Message-ID lets a mail
client fold a rare duplicate; a missed deadline reminder would cost more than a repeated one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parseaddr
from functools import cache
from typing import Protocol

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
)

from notifications.message import Mail, to_wire_bytes

logger = logging.getLogger(__name__)

OnOutcome = Callable[[int, "SendOutcome"], Awaitable[None]]


class MailTransportError(Exception):
    """Every transport problem, with whether a later retry of the same mail may succeed."""

    def __init__(self, message: str, *, transient: bool, recipient_refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.recipient_refused = recipient_refused

    def __repr__(self) -> str:
        return (f"MailTransportError({self.message!r}, transient={self.transient}, "
                f"recipient_refused={self.recipient_refused})")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # keep it out of logs and reprs
    starttls: bool = False
    timeout: float = 30.0  # seconds, for connecting and for each SMTP command
    # EHLO name; None means socket.getfqdn(), looked up once per process (it can stall on
    # hosts with slow DNS).
    local_hostname: str | None = None
    # Concurrent connections per batch: one connection spends most of its time waiting for
    # the server's answers, and relays (and the sink) serve several sessions at once.
    connections: int = 4

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError(f"connections must be at least 1, not {self.connections}")


@dataclass(frozen=True)
class SendOutcome:
    message_id: str
    ok: bool  # True only when every recipient of the mail was accepted
    error: MailTransportError | None = None


class MailSender(Protocol):
    async def send_batch(self, mails: Sequence[Mail], *,
                         on_outcome: OnOutcome | None = None) -> list[SendOutcome]:
        """One outcome per mail, in order; never raises for a transport problem.

        `on_outcome(index, outcome)` is awaited as soon as the server has answered mail
        `index` (in order per connection, not across connections); an exception it raises
        stops the batch and propagates.
        """
        ...


class SmtpSender:
    """MailSender over up to `config.connections` aiosmtplib connections per batch."""

    def __init__(self, config: SmtpConfig, *, mail_from: str) -> None:
        self._config = config
        self._mail_from = mail_from
        # MAIL FROM takes the bare address, not a display name.
        self._envelope_from = parseaddr(mail_from)[1] or mail_from

    async def send_batch(self, mails: Sequence[Mail], *,
                         on_outcome: OnOutcome | None = None) -> list[SendOutcome]:
        if not mails:
            return []
        # Stamped when the batch leaves, not when built: a mail retried tomorrow should not
        # claim today. Once per batch: formatting a date costs as much as building the bytes.
        batch = _Batch(mails, on_outcome=on_outcome, date=formatdate(localtime=False))
        workers = min(self._config.connections, len(mails))
        if workers == 1:
            await self._work(batch)
        else:
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(workers):
                        group.create_task(self._work(batch))
            except* BaseException as failures:
                # Only on_outcome raises (transport problems become outcomes): re-raise the
                # caller's own exception rather than a group it did not ask for.
                raise failures.exceptions[0] from None
        # Mails no connection took: every connection failed to open, or was lost twice.
        for index in batch.pending:
            await batch.settle(index, SendOutcome(mails[index].message_id, ok=False,
                                                  error=batch.stop_reason))
        return self._log_batch(batch.outcomes)

    async def _work(self, batch: _Batch) -> None:
        """One connection: take the next unsent mail until none is left or it gives up."""
        try:
            client = await self._connect()
        except MailTransportError as failure:
            batch.stop_reason = failure
            return
        reconnects_left = 1
        try:
            for index in batch.pending:  # shared with the other connections of the batch
                mail = batch.mails[index]
                outcome = await self._send_one(client, mail, date=batch.date)
                # A transient failure on a lost connection means the mail was not
                # confirmed: it is sent again on a fresh connection instead of reported.
                while (not outcome.ok and not client.is_connected and reconnects_left > 0
                       and outcome.error is not None and outcome.error.transient):
                    reconnects_left -= 1
                    logger.info("SMTP connection to %s:%s lost mid-batch; reconnecting",
                                self._config.host, self._config.port)
                    client.close()
                    try:
                        client = await self._connect()
                    except MailTransportError as failure:
                        outcome = SendOutcome(mail.message_id, ok=False, error=failure)
                        break
                    outcome = await self._send_one(client, mail, date=batch.date)
                await batch.settle(index, outcome)
                if not client.is_connected:
                    batch.stop_reason = MailTransportError(
                        "SMTP connection lost again; not reconnecting", transient=True)
                    return
        finally:
            await _close_quietly(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        """A connected (and, if configured, TLS-upgraded and logged-in) client.

        :raises MailTransportError: always transient, see the module docstring.
        """
        config = self._config
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            timeout=config.timeout,
            use_tls=False,
            # False, not None: None would try STARTTLS whenever offered, and a relay with a
            # self-signed certificate would then fail a configuration that asked for none.
            start_tls=config.starttls,
            local_hostname=config.local_hostname or _local_hostname(),
        )
        try:
            await client.connect()
            if config.username:
                await client.login(config.username, config.password or "")
        except (SMTPException, OSError) as error:
            client.close()
            cause = classify_error(error)
            # Connection-phase failures say nothing about the mails: always transient.
            failure = MailTransportError(
                f"cannot open SMTP session to {config.host}:{config.port}: {cause.message}",
                transient=True)
            logger.warning("%s", failure.message)
            raise failure from error
        return client

    async def _send_one(self, client: aiosmtplib.SMTP, mail: Mail, *, date: str) -> SendOutcome:
        try:
            data = to_wire_bytes(mail, mail_from=self._mail_from, date=date)
        except (ValueError, TypeError) as error:
            # A mail that cannot be serialised will not improve with retries.
            return SendOutcome(mail.message_id, ok=False, error=MailTransportError(
                f"cannot build message: {error}", transient=False))
        # A non-ASCII mailbox needs the server's SMTPUTF8 (else SMTPNotSupported: permanent).
        ascii_only = self._envelope_from.isascii() and all(to.isascii() for to in mail.to)
        try:
            refused, _ = await client.sendmail(self._envelope_from, mail.to, data,
                                               mail_options=[] if ascii_only else ["SMTPUTF8"])
        except (SMTPException, OSError) as error:
            return SendOutcome(mail.message_id, ok=False, error=classify_error(error))
        if refused:
            return SendOutcome(mail.message_id, ok=False,
                               error=_partial_refusal(refused, total=len(mail.to)))
        return SendOutcome(mail.message_id, ok=True)

    @staticmethod
    def _log_batch(outcomes: list[SendOutcome]) -> list[SendOutcome]:
        for outcome in outcomes:
            if outcome.error is not None:
                logger.warning("mail %s not sent (%s): %s", outcome.message_id,
                               "transient" if outcome.error.transient else "permanent",
                               outcome.error.message)
        sent = sum(1 for outcome in outcomes if outcome.ok)
        logger.info("SMTP batch: %s of %s mails sent", sent, len(outcomes))
        return outcomes


def classify_error(error: BaseException) -> MailTransportError:
    """Map an aiosmtplib / socket exception to the one error type this project handles."""
    if isinstance(error, MailTransportError):
        return error
    if isinstance(error, SMTPRecipientsRefused):
        return _refusal_error(error.recipients, prefix="all recipients refused")
    if isinstance(error, SMTPRecipientRefused):
        return _refusal_error([error], prefix="recipient refused")
    if isinstance(error, SMTPResponseException):
        return MailTransportError(f"server answered {error.code}: {error.message}",
                                  transient=_is_transient_code(error.code))
    if isinstance(error, TimeoutError):  # includes SMTPTimeoutError and asyncio's
        return MailTransportError(f"timed out: {error}", transient=True)
    if isinstance(error, SMTPNotSupported):
        # E.g. a non-ASCII address and no SMTPUTF8: this mail will not go to this server.
        return MailTransportError(f"not supported by server: {error}", transient=False)
    if isinstance(error, OSError | SMTPException):  # refused/reset/dropped connections
        return MailTransportError(f"connection problem: {error}", transient=True)
    return MailTransportError(f"unexpected transport error: {error!r}", transient=True)


# Why a mail is still waiting, read back from the error stored with it (the texts above are
# made here): codes of the vocabulary's `outbox_delays`.
_UNREACHABLE = ("cannot open SMTP session", "connection problem", "timed out",
                "no SMTP connection", "SMTP connection lost")
_REFUSED = ("server answered", "all recipients refused", "recipient refused")


def delay_reason(error: str) -> str:
    """The reason code of a stored transient error ("" — never tried — is `not_tried`)."""
    if not error:
        return "not_tried"
    if error.startswith(_UNREACHABLE):
        return "unreachable"
    if error.startswith(_REFUSED) or " recipients refused" in error:
        return "refused"
    return "other"


def _is_transient_code(code: int) -> bool:
    # Only a 5xx is a verdict; 4xx says "later", anything odd is not worth giving up on.
    return not 500 <= code < 600


def _refusal_error(refusals: Sequence[SMTPRecipientRefused], *, prefix: str) -> MailTransportError:
    detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
    return MailTransportError(
        f"{prefix}: {detail}",
        # Retrying helps only if no recipient got a final "no".
        transient=all(_is_transient_code(r.code) for r in refusals),
        recipient_refused=True,
    )


def _partial_refusal(refused: dict[str, SMTPResponse], *, total: int) -> MailTransportError:
    """Some recipients accepted the mail, some refused it: not ok, so a person looks."""
    refusals = [SMTPRecipientRefused(response.code, response.message, address)
                for address, response in refused.items()]
    return _refusal_error(refusals, prefix=f"{len(refusals)} of {total} recipients refused")


async def _close_quietly(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (SMTPException, OSError):
        # The batch is done; a QUIT the server did not answer changes nothing.
        client.close()


class _Batch:
    """One send_batch call's shared state: the mails not yet taken and their outcomes."""

    def __init__(self, mails: Sequence[Mail], *, on_outcome: OnOutcome | None,
                 date: str) -> None:
        self.mails = mails
        self.date = date
        # One iterator for all connections: each takes the next index when it is free.
        self.pending: Iterator[int] = iter(range(len(mails)))
        self.outcomes: list[SendOutcome] = [SendOutcome(mail.message_id, ok=False)
                                             for mail in mails]
        self.stop_reason = MailTransportError("no SMTP connection could be used", transient=True)
        self._on_outcome = on_outcome

    async def settle(self, index: int, outcome: SendOutcome) -> None:
        self.outcomes[index] = outcome
        if self._on_outcome is not None:
            await self._on_outcome(index, outcome)


@cache
def _local_hostname() -> str:
    return socket.getfqdn()


