"""SmtpSender against a bare aiosmtplib loop, side by side, on loopback.

The sink is tests/faults/smtp_sink.py in its own process (accepts, counts, discards), so
it does not share the client's GIL. M distinct reminder mails are rendered up front; then,
in each of --rounds rounds (medians printed):

* bare: one aiosmtplib connection, `send_message` of the prebuilt EmailMessages (the
  messages are built up front, outside the timing) — the floor the issue compares against;
* sender: `SmtpSender.send_batch(mails)` with 1 connection (its input is the `Mail`, so
  serialising it is part of its cost);
* pooled: the same with 4 connections (WEIQUAN_SMTP_CONNECTIONS's default);
* bare bytes (for information): one connection, `sendmail` of bytes flattened up front —
  the wire alone, with no per-mail Python at all.

    .venv/bin/python bench/sender_bench.py [--quick] [--mails 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiosmtplib  # noqa: E402

from models.domain.notice_kinds import NoticeKind, template_of  # noqa: E402
from notifications.message import Mail, render_mail, to_email_message  # noqa: E402
from notifications.sender import SmtpConfig, SmtpSender  # noqa: E402

MAIL_FROM = "weiquan@fulian.example.cn"
EHLO_NAME = "bench.local"  # the same for every path: no DNS lookup in any timing


class SinkProcess:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.faults.smtp_sink"], cwd=REPO,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, port = self.process.stdout.readline().split()
        if ready != "ready":
            raise RuntimeError(f"sink did not start: {ready!r}")
        self.port = int(port)

    def accepted(self) -> int:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline().split()[0])

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def mails(m: int) -> list[Mail]:
    out = []
    for number in range(1, m + 1):
        case_number = f"WQ-2026-{number:06d}"
        out.append(render_mail(template=template_of(NoticeKind.REMINDER_DUE), context={
            "case_number": case_number, "tier_label": "紧急", "category_label": "家庭暴力",
            "jurisdiction_name": "城关区城关街道妇联", "due_at": "2026-10-15 24:00",
            "received_at": "2026-10-12 09:30", "case_url": None,
            "act_command": f"weiquan case respond {case_number} --note ..."},
            to=[f"cadre{number}@fulian.example.cn"], notice_key=f"reminder_due:{case_number}"))
    return out


async def bare(port: int, messages: list[EmailMessage] | list[bytes]) -> float:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False,
                             local_hostname=EHLO_NAME)
    started = time.perf_counter()
    await client.connect()
    for message in messages:
        if isinstance(message, bytes):
            errors, _ = await client.sendmail(MAIL_FROM, ["cadre@fulian.example.cn"], message)
        else:
            errors, _ = await client.send_message(message)
        assert not errors, errors
    await client.quit()
    return time.perf_counter() - started


async def through_sender(port: int, batch: list[Mail], *, connections: int) -> float:
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", port=port, local_hostname=EHLO_NAME,
                                   connections=connections), mail_from=MAIL_FROM)
    started = time.perf_counter()
    outcomes = await sender.send_batch(batch)
    elapsed = time.perf_counter() - started
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:1]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 mails, 3 rounds")
    args = parser.parse_args()
    m = 300 if args.quick else args.mails
    batch = mails(m)
    date = formatdate(localtime=False)
    messages = []
    for mail in batch:
        message = to_email_message(mail, mail_from=MAIL_FROM)
        message["Date"] = date
        messages.append(message)
    flattened = [message.as_bytes() for message in messages]
    size = len(flattened[0])
    print(f"{m:,} mails of ~{size:,} bytes (multipart/alternative, zh-CN text + HTML), "
          f"{args.rounds} rounds, sink in another process on loopback")
    sink = SinkProcess()
    paths = {  # name: (label, run)
        "bare": ("bare aiosmtplib send_message loop, 1 connection",
                 lambda: bare(sink.port, messages)),
        "sender": ("SmtpSender.send_batch, 1 connection",
                   lambda: through_sender(sink.port, batch, connections=1)),
        "pooled": ("SmtpSender.send_batch, 4 connections",
                   lambda: through_sender(sink.port, batch, connections=4)),
        "bare_bytes": ("bare sendmail of pre-flattened bytes, 1 connection",
                       lambda: bare(sink.port, flattened)),
    }
    timings: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for round_ in range(args.rounds):
            for name, (_, run) in paths.items():
                before = sink.accepted()
                timings[name].append(asyncio.run(run()))
                assert sink.accepted() - before == m, (name, sink.accepted() - before)
            print(f"  round {round_ + 1}: " + ", ".join(
                f"{name} {m / seconds[-1]:,.0f}/s" for name, seconds in timings.items()))
    finally:
        sink.stop()
    rate = {name: m / statistics.median(seconds) for name, seconds in timings.items()}
    print(f"{'path':<50} {'median s':>8} {'mails/s':>8} {'x bare':>7}")
    for name, (label, _) in paths.items():
        print(f"{label:<50} {statistics.median(timings[name]):8.2f} {rate[name]:8,.0f} "
              f"{rate[name] / rate['bare']:7.2f}")
    print(f"RESULT sender_vs_bare={rate['sender'] / rate['bare']:.2f} "
          f"pooled_vs_bare={rate['pooled'] / rate['bare']:.2f} bare_mails_per_s={rate['bare']:.0f}")


if __name__ == "__main__":
    main()
