"""The local mail sink: real SMTP exchanges on loopback, one .eml file per mail."""

from __future__ import annotations

import errno
import re
import asyncio
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from notifications.sink import ENVELOPE_TO, MailSink, read_sink

SUBJECT = "【维权提醒】案件 WQ-2026-000001 将于明日到期"
BODY = "您好：\n\n请于 2026年11月25日 前答复。妇联维权站\n"
NAME_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}\.eml$")


def chinese_mail(to: str = "cunzhuren@village.example.cn", subject: str = SUBJECT) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "维权站 <weiquan@fulian.example.cn>"
    message["To"] = f"村妇联主席 <{to}>"
    message["Subject"] = subject
    message.set_content(BODY, charset="utf-8")
    return message


async def send(sink: MailSink, *messages: EmailMessage,
               recipients: list[str] | None = None) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, timeout=5,
                               local_hostname="client.test") as client:
        for message in messages:
            await client.send_message(message, recipients=recipients)


async def test_a_chinese_mail_is_filed_and_round_trips(sink: MailSink) -> None:
    assert sink.port != 0  # port=0 asked for a free port; the real one is reported

    await send(sink, chinese_mail(),
               recipients=["cunzhuren@village.example.cn", "audit@fulian.example.cn"])

    files = sorted(p.name for p in sink.directory.iterdir())
    assert len(files) == 1 and NAME_RE.match(files[0]), files  # no temporary file left behind
    [mail] = read_sink(sink.directory)
    assert mail["Subject"] == SUBJECT
    assert mail["To"].addresses[0].display_name == "村妇联主席"
    assert mail["To"].addresses[0].addr_spec == "cunzhuren@village.example.cn"
    assert mail.get_content() == BODY
    # The envelope is recorded too: a recipient who is in no header shows up there only.
    assert mail[ENVELOPE_TO] == "cunzhuren@village.example.cn, audit@fulian.example.cn"


async def test_mails_read_back_in_arrival_order(sink: MailSink) -> None:
    subjects = [f"{SUBJECT}（第{n}封）" for n in range(5)]
    await send(sink, *(chinese_mail(subject=s) for s in subjects))
    await send(sink, chinese_mail(subject="最后一封"))

    assert [m["Subject"] for m in read_sink(sink.directory)] == [*subjects, "最后一封"]


async def test_restart_keeps_the_port_and_the_mail(sink: MailSink) -> None:
    port = sink.port
    await send(sink, chinese_mail(subject="之前"))
    sink.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await send(sink, chinese_mail(subject="停机期间"))
    sink.start()

    assert sink.port == port
    await send(sink, chinese_mail(subject="之后"))
    assert [m["Subject"] for m in read_sink(sink.directory)] == ["之前", "之后"]


def test_works_from_plain_code_without_an_event_loop(tmp_path: Path) -> None:
    # The sink is started from sync code; the client gets its own short-lived loop.
    sink = MailSink(directory=tmp_path / "mail", host="127.0.0.1", port=0)
    with sink:
        asyncio.run(send(sink, chinese_mail()))
    assert [m["Subject"] for m in read_sink(tmp_path / "mail")] == [SUBJECT]


async def test_a_message_id_is_filed_once_even_across_a_restart(sink: MailSink, tmp_path: Path) -> None:
    first = chinese_mail()
    first["Message-ID"] = "<abc.notice@weiquan.local>"
    other = chinese_mail(subject="另一封")
    other["Message-ID"] = "<def.notice@weiquan.local>"
    await send(sink, first, first)
    restarted = MailSink(directory=sink.directory, host="127.0.0.1", port=0)
    with restarted:  # a new sink process reads what is already filed
        await send(restarted, first, other)
    assert [m["Message-ID"] for m in read_sink(sink.directory)] == [
        "<abc.notice@weiquan.local>", "<def.notice@weiquan.local>"]


def test_a_taken_port_fails_at_once(sink: MailSink, tmp_path: Path) -> None:
    other = MailSink(directory=tmp_path / "other", host="127.0.0.1", port=sink.port)
    started = time.monotonic()
    with pytest.raises(OSError) as caught:
        other.start()
    assert caught.value.errno == errno.EADDRINUSE
    assert time.monotonic() - started < 5.0  # the bind fails, not aiosmtpd's 10 s ready_timeout
    other.stop()  # a no-op: it never ran


def test_an_absent_directory_holds_no_mail(tmp_path: Path) -> None:
    assert read_sink(tmp_path / "nothing-here") == []
