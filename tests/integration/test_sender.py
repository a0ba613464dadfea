"""SmtpSender against a real aiosmtpd server on loopback, plus its configuration and the fake."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from aiosmtplib import SMTPRecipientRefused, SMTPRecipientsRefused, SMTPResponseException

from models.runtime.bootstrap import smtp_config
from models.runtime.settings import Settings
from notifications.message import NOTICE_HEADER, Mail, render_mail
from tests.fakes import RecordingSender
from notifications.sender import (
    MailTransportError,
    SendOutcome,
    SmtpConfig,
    SmtpSender,
    classify_error,
)

MAIL_FROM = "weiquan@fulian.example.cn"
SMTP_TIMEOUT = 30.0  # seconds: SMTP timeout in tests, so a bug shows as a failure, not a hang


@dataclass
class Handler:
    """aiosmtpd handler: stores accepted messages and answers as told."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> "550 ..."
    data_reply: str | None = None  # e.g. "451 ..." for every DATA
    drop_on_data: set[int] = field(default_factory=set)  # 1-based DATA counts to hang up on
    messages: list[EmailMessage] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)  # the client address of each stored message
    envelope_senders: list[str | None] = field(default_factory=list)
    data_commands: int = 0

    async def handle_RCPT(self, server: SMTPServer, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        self.data_commands += 1
        if self.data_commands in self.drop_on_data:
            # Hang up before answering, as a relay that crashes or times us out would.
            assert server.transport is not None
            server.transport.close()
            return "421 closing"
        if self.data_reply is not None:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        self.peers.append(session.peer)
        self.envelope_senders.append(envelope.mail_from)
        return "250 Message accepted"


class CountingController(Controller):
    """aiosmtpd calls factory() once per accepted connection: count them."""

    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.connections = 0
        self._lock = threading.Lock()

    def factory(self) -> SMTPServer:
        with self._lock:
            self.connections += 1
        server: SMTPServer = super().factory()  # type: ignore[no-untyped-call]
        return server


def free_port() -> int:
    # aiosmtpd's Controller probes its own port after binding, so it cannot take port 0.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def smtp_server(handler: Handler) -> Iterator[CountingController]:
    controller = CountingController(handler, hostname="127.0.0.1", port=free_port(),
                                    server_hostname="sink.test", ready_timeout=5.0)
    controller.start()
    controller.connections = 0  # start() opens one probe connection of its own
    yield controller
    controller.stop()


def sender_for(port: int, *, timeout: float = SMTP_TIMEOUT, connections: int = 1) -> SmtpSender:
    config = SmtpConfig(host="127.0.0.1", port=port, timeout=timeout, local_hostname="client.test",
                        connections=connections)
    return SmtpSender(config, mail_from=MAIL_FROM)


def reminder(number: int, *, to: str | None = None) -> Mail:
    case_number = f"WQ-2026-{number:06d}"
    return render_mail(
        template="reminder_due",
        context={
            "case_number": case_number,
            "tier_label": "紧急",
            "category_label": "家庭暴力",
            "jurisdiction_name": "城关区城关街道妇联",
            "due_at": "2026-10-15 24:00",
            "received_at": "2026-10-12 09:30",
            "act_command": f"weiquan case respond {case_number} --note ...",
            "case_url": None,
        },
        to=[to or f"cadre{number}@fulian.example.cn"],
        notice_key=f"reminder_due:{case_number}:2026-10-15",
    )


def body(message: EmailMessage, subtype: str) -> email.message.MIMEPart:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part


def assert_delivered_intact(received: EmailMessage, mail: Mail) -> None:
    assert received["Subject"] == mail.subject
    assert received["Message-ID"] == mail.message_id
    assert received["To"] == ", ".join(mail.to)
    assert received[NOTICE_HEADER] == dict(mail.headers)[NOTICE_HEADER]
    assert received["Date"]  # stamped by the sender
    assert body(received, "plain").get_content() == mail.text
    assert body(received, "html").get_content() == mail.html


async def test_batch_goes_over_one_connection_and_arrives_intact(
        smtp_server: CountingController, handler: Handler) -> None:
    mails = [reminder(n) for n in (1, 2, 3)]
    assert all("今日到期" in mail.subject for mail in mails)

    outcomes = await sender_for(smtp_server.port).send_batch(mails)

    assert outcomes == [SendOutcome(mail.message_id, ok=True) for mail in mails]
    assert smtp_server.connections == 1
    assert len(handler.messages) == 3
    for received, mail in zip(handler.messages, mails, strict=True):
        assert_delivered_intact(received, mail)


async def test_refused_recipient_is_permanent_and_the_batch_goes_on(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.rcpt_replies["gone@fulian.example.cn"] = "550 5.1.1 No such user"
    mails = [reminder(1), reminder(2, to="gone@fulian.example.cn"), reminder(3)]

    outcomes = await sender_for(smtp_server.port).send_batch(mails)

    assert [outcome.ok for outcome in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert error is not None
    assert (error.transient, error.recipient_refused) == (False, True)
    assert "550" in error.message and "gone@fulian.example.cn" in error.message
    assert [m["Message-ID"] for m in handler.messages] == [mails[0].message_id,
                                                            mails[2].message_id]
    assert smtp_server.connections == 1


async def test_partly_refused_recipients_are_not_ok(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.rcpt_replies["gone@fulian.example.cn"] = "550 5.1.1 No such user"
    mail = render_mail(template="difficult_tracking", context={
        "case_number": "WQ-2026-000009", "days_since_transfer": 7,
        "act_command": "weiquan case report-back WQ-2026-000009"},
        to=["chair@fulian.example.cn", "gone@fulian.example.cn"], notice_key="t:9")

    (outcome,) = await sender_for(smtp_server.port).send_batch([mail])

    assert not outcome.ok and outcome.error is not None
    assert outcome.error.recipient_refused and not outcome.error.transient
    assert "1 of 2 recipients refused" in outcome.error.message
    assert len(handler.messages) == 1  # the chair still got it


@pytest.mark.parametrize("where", ["rcpt", "data"])
async def test_451_is_transient(smtp_server: CountingController, handler: Handler,
                                where: str) -> None:
    reply = "451 4.3.0 Try again later"
    if where == "rcpt":
        handler.rcpt_replies["cadre1@fulian.example.cn"] = reply
    else:
        handler.data_reply = reply

    (outcome,) = await sender_for(smtp_server.port).send_batch([reminder(1)])

    assert not outcome.ok and outcome.error is not None
    assert outcome.error.transient
    assert outcome.error.recipient_refused is (where == "rcpt")
    assert "451" in outcome.error.message


async def test_dropped_connection_reconnects_once_and_resends(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.drop_on_data = {2}
    mails = [reminder(n) for n in (1, 2, 3)]

    outcomes = await sender_for(smtp_server.port).send_batch(mails)

    assert [outcome.ok for outcome in outcomes] == [True, True, True]
    assert smtp_server.connections == 2
    assert [m["Message-ID"] for m in handler.messages] == [m.message_id for m in mails]


async def test_second_drop_fails_the_rest_transiently(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.drop_on_data = {2, 3}
    mails = [reminder(n) for n in (1, 2, 3)]

    outcomes = await sender_for(smtp_server.port).send_batch(mails)

    assert outcomes[0].ok
    assert all(not o.ok and o.error is not None and o.error.transient for o in outcomes[1:])
    assert smtp_server.connections == 2  # reconnected once, not twice


async def test_each_outcome_is_reported_as_soon_as_the_server_answers(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.rcpt_replies["gone@fulian.example.cn"] = "550 5.1.1 No such user"
    mails = [reminder(1), reminder(2, to="gone@fulian.example.cn"), reminder(3), reminder(4)]
    reported: list[tuple[int, SendOutcome, int]] = []

    async def on_outcome(index: int, outcome: SendOutcome) -> None:
        # How many mails the server holds when the caller hears of this one.
        reported.append((index, outcome, len(handler.messages)))

    outcomes = await sender_for(smtp_server.port).send_batch(mails, on_outcome=on_outcome)

    assert [(index, outcome) for index, outcome, _ in reported] == list(enumerate(outcomes))
    # Before the next mail went out: a crash after this call repeats nothing.
    assert [stored for _, _, stored in reported] == [1, 1, 2, 3]


async def test_pool_delivers_each_mail_once_reporting_in_order_per_connection(
        smtp_server: CountingController, handler: Handler) -> None:
    mails = [reminder(n) for n in range(1, 41)]
    reported: list[int] = []

    async def on_outcome(index: int, outcome: SendOutcome) -> None:
        assert outcome == SendOutcome(mails[index].message_id, ok=True)
        reported.append(index)

    outcomes = await sender_for(smtp_server.port, connections=4).send_batch(
        mails, on_outcome=on_outcome)

    assert outcomes == [SendOutcome(mail.message_id, ok=True) for mail in mails]
    assert sorted(reported) == list(range(len(mails)))
    received = [m["Message-ID"] for m in handler.messages]
    assert sorted(received) == sorted(mail.message_id for mail in mails)  # each exactly once
    assert smtp_server.connections == 4
    index_of = {mail.message_id: index for index, mail in enumerate(mails)}
    by_connection: dict[Any, list[int]] = {}
    for message_id, peer in zip(received, handler.peers, strict=True):
        by_connection.setdefault(peer, []).append(index_of[message_id])
    assert len(by_connection) == 4  # the work was spread, not done by one connection
    for indexes in by_connection.values():
        assert indexes == sorted(indexes)
        # Reported in the order this connection sent them.
        assert [i for i in reported if i in indexes] == indexes


async def test_pool_keeps_refusals_permanent_and_451_transient(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.rcpt_replies["gone@fulian.example.cn"] = "550 5.1.1 No such user"
    handler.rcpt_replies["busy@fulian.example.cn"] = "451 4.3.0 Try again later"
    mails = [reminder(n) for n in range(1, 9)]
    mails[2] = reminder(3, to="gone@fulian.example.cn")
    mails[5] = reminder(6, to="busy@fulian.example.cn")

    outcomes = await sender_for(smtp_server.port, connections=4).send_batch(mails)

    assert [o.ok for o in outcomes] == [True, True, False, True, True, False, True, True]
    refused, busy = outcomes[2].error, outcomes[5].error
    assert refused is not None and not refused.transient and refused.recipient_refused
    assert busy is not None and busy.transient and "451" in busy.message
    assert len(handler.messages) == 6


async def test_pool_resends_a_mail_dropped_mid_batch_with_its_message_id(
        smtp_server: CountingController, handler: Handler) -> None:
    handler.drop_on_data = {5}
    mails = [reminder(n) for n in range(1, 13)]

    outcomes = await sender_for(smtp_server.port, connections=3).send_batch(mails)

    assert all(outcome.ok for outcome in outcomes)
    assert handler.data_commands == len(mails) + 1  # the dropped mail went twice
    assert sorted(m["Message-ID"] for m in handler.messages) == sorted(
        mail.message_id for mail in mails)
    assert smtp_server.connections == 4  # three, and one to replace the lost one


async def test_pool_fails_everything_transiently_when_no_connection_opens() -> None:
    mails = [reminder(n) for n in (1, 2, 3, 4, 5)]
    reported: list[int] = []

    async def on_outcome(index: int, outcome: SendOutcome) -> None:
        reported.append(index)

    outcomes = await sender_for(free_port(), connections=4).send_batch(mails, on_outcome=on_outcome)

    assert reported == [0, 1, 2, 3, 4]
    assert all(not o.ok and o.error is not None and o.error.transient for o in outcomes)
    assert all("cannot open SMTP session" in o.error.message for o in outcomes if o.error)


async def test_an_error_in_on_outcome_stops_the_batch_and_propagates(
        smtp_server: CountingController, handler: Handler) -> None:
    mails = [reminder(n) for n in range(1, 11)]

    async def on_outcome(index: int, outcome: SendOutcome) -> None:
        raise RuntimeError("database is gone")

    with pytest.raises(RuntimeError, match="database is gone"):
        await sender_for(smtp_server.port, connections=2).send_batch(mails, on_outcome=on_outcome)
    assert len(handler.messages) <= 2  # one per connection, then it stopped


async def test_non_ascii_display_name_is_encoded_and_envelope_is_bare(
        smtp_server: CountingController, handler: Handler) -> None:
    config = SmtpConfig(host="127.0.0.1", port=smtp_server.port, timeout=SMTP_TIMEOUT,
                        local_hostname="client.test", connections=1)
    sender = SmtpSender(config, mail_from="维权平台 <weiquan@fulian.example.cn>")

    (outcome,) = await sender.send_batch([reminder(1)])

    assert outcome.ok
    (received,) = handler.messages
    assert received["From"].addresses[0].display_name == "维权平台"
    assert received["From"].addresses[0].addr_spec == "weiquan@fulian.example.cn"
    assert handler.envelope_senders == ["weiquan@fulian.example.cn"]


async def test_no_server_listening_fails_every_mail_transiently_and_fast() -> None:
    mails = [reminder(n) for n in (1, 2, 3)]
    started = time.monotonic()

    outcomes = await sender_for(free_port(), timeout=60.0).send_batch(mails)

    # Refused at once: far under the 60 s timeout, whatever the machine's load.
    assert time.monotonic() - started < 20.0
    assert [outcome.message_id for outcome in outcomes] == [m.message_id for m in mails]
    for outcome in outcomes:
        assert not outcome.ok and outcome.error is not None
        assert outcome.error.transient and not outcome.error.recipient_refused


async def test_silent_server_times_out_transiently() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader,
                                     writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        outcomes = await sender_for(port, timeout=0.1).send_batch([reminder(1), reminder(2)])
        # Bounded by the configured timeout, not by the 30 s default (the bound leaves room
        # for a heavily loaded CI machine); one connection for the batch, not one per mail.
        assert time.monotonic() - started < 20.0
        assert len(writers) == 1
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    assert all(not o.ok and o.error is not None and o.error.transient for o in outcomes)
    assert all("timed out" in o.error.message for o in outcomes if o.error is not None)


async def test_empty_batch_opens_no_connection(smtp_server: CountingController) -> None:
    assert await sender_for(smtp_server.port).send_batch([]) == []
    assert smtp_server.connections == 0


@pytest.mark.parametrize("error,transient,refused", [
    (SMTPResponseException(550, "mailbox unavailable"), False, False),
    (SMTPResponseException(554, "transaction failed"), False, False),
    (SMTPResponseException(421, "closing"), True, False),
    (SMTPResponseException(452, "insufficient storage"), True, False),
    (SMTPRecipientsRefused([SMTPRecipientRefused(550, "no", "a@x")]), False, True),
    (SMTPRecipientsRefused([SMTPRecipientRefused(450, "busy", "a@x")]), True, True),
    (SMTPRecipientsRefused([SMTPRecipientRefused(450, "busy", "a@x"),
                            SMTPRecipientRefused(550, "no", "b@x")]), False, True),
    (TimeoutError("slow"), True, False),
    (ConnectionResetError("reset"), True, False),
], ids=["550", "554", "421", "452", "rcpt-550", "rcpt-450", "rcpt-mixed", "timeout", "reset"])
def test_classify_error(error: BaseException, transient: bool, refused: bool) -> None:
    classified = classify_error(error)
    assert isinstance(classified, MailTransportError)
    assert (classified.transient, classified.recipient_refused) == (transient, refused)


def test_config_from_settings_defaults_to_the_sink(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, smtp_host=None, sink_host="127.0.0.1", sink_port=8125,
                        smtp_user="ignored", smtp_password="ignored", smtp_starttls=True)
    assert smtp_config(settings) == SmtpConfig(host="127.0.0.1", port=8125)


def test_config_takes_the_connection_count_from_settings(tmp_path: Path) -> None:
    for relay in (None, "smtp.fulian.example.cn"):
        settings = Settings(data_dir=tmp_path, smtp_host=relay, smtp_connections=7)
        assert smtp_config(settings).connections == 7
    assert smtp_config(Settings(data_dir=tmp_path)).connections == 4
    with pytest.raises(ValueError, match="connections"):
        SmtpConfig(host="127.0.0.1", port=25, connections=0)


def test_config_from_settings_uses_the_relay(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, smtp_host="smtp.fulian.example.cn", smtp_port=587,
                        smtp_user="weiquan", smtp_password="s3cret", smtp_starttls=True)
    config = smtp_config(settings)
    assert (config.host, config.port, config.username, config.password, config.starttls) == (
        "smtp.fulian.example.cn", 587, "weiquan", "s3cret", True)
    assert "s3cret" not in repr(config)


async def test_recording_sender_records_and_fails_on_request() -> None:
    sender = RecordingSender()
    mails = [reminder(n) for n in (1, 2, 3)]
    sender.fail_next(2)

    first = await sender.send_batch(mails)
    second = await sender.send_batch(mails[:2])

    assert [o.ok for o in first] == [False, False, True]
    assert all(o.error is not None and o.error.transient for o in first[:2])
    assert [o.ok for o in second] == [True, True]
    assert sender.sent_message_ids == [mails[2].message_id, mails[0].message_id,
                                       mails[1].message_id]
    assert sender.failed == mails[:2]
    assert len(sender.batches) == 2

    sender.fail_next(1, transient=False)
    (permanent,) = await sender.send_batch(mails[:1])
    assert permanent.error is not None and not permanent.error.transient
