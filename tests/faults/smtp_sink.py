"""An SMTP sink the fault tests (and bench/sender_bench.py) control: it can refuse every
mail with 451 for a while, hold each mail for a delay before answering (so a batch is slow
enough to kill a sender in the middle of it), and count what it accepted per Message-ID and
per notice key. Unlike the product's sink (notifications/sink.py) it keeps duplicates: a
second copy of a mail is exactly what these tests look for.

In the test process it runs aiosmtpd's threaded Controller. `python -m tests.faults.smtp_sink
PORT` runs it alone, prints `ready`, and answers each line on stdin with
`<accepted> <bytes> <distinct Message-IDs> <notice keys> <keys with two Message-IDs>`, for
benchmarks whose client must not share the sink's GIL and for the county/province
walk-through in the README (it counts duplicates the product's sink would file once).
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import threading
import time
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller

_HEADER = re.compile(rb"^(Message-ID|X-Weiquan-Notice):[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    # aiosmtpd's Controller probes its own port after binding, so it cannot take port 0.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ControlledSink:
    """Counts accepted mail; `refusing` makes it answer 451 to MAIL FROM; `delay` holds
    each mail that long (seconds) before accepting it."""

    def __init__(self, *, delay: float = 0.0, refusing: bool = False,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.delay = delay
        self.refusing = refusing
        self.by_message_id: Counter[str] = Counter()
        self.message_ids_by_key: dict[str, set[str]] = {}
        self.recipients_by_key: dict[str, list[str]] = {}  # the envelope's, last accepted
        self.accepted_at: list[float] = []  # time.monotonic() of each acceptance
        self.refused = 0
        self.nbytes = 0
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                      server_hostname="faults.sink", ready_timeout=10.0)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.accepted_at)

    def refuse(self) -> None:
        self.refusing = True

    def accept(self) -> float:
        """Accept from now on; returns the moment (time.monotonic()) it started to."""
        self.refusing = False
        return time.monotonic()

    def start(self) -> ControlledSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if self.refusing:
            with self._lock:
                self.refused += 1
            return "451 4.3.0 Try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content: bytes = envelope.content
        head = content.split(b"\r\n\r\n", 1)[0]
        headers = {name.decode("ascii").lower(): value.decode("ascii", "replace").strip()
                   for name, value in _HEADER.findall(head)}
        message_id = headers.get("message-id", "")
        key = headers.get("x-weiquan-notice", "")
        # Counted once the answer is decided: a client killed after sending its DATA has
        # handed the mail over, as with a real relay.
        with self._lock:
            self.by_message_id[message_id] += 1
            self.message_ids_by_key.setdefault(key, set()).add(message_id)
            self.recipients_by_key[key] = list(envelope.rcpt_tos)
            self.accepted_at.append(time.monotonic())
            self.nbytes += len(content)
        return "250 Message accepted"


def main() -> None:
    sink = ControlledSink(port=int(sys.argv[1]) if len(sys.argv) > 1 else None).start()
    print("ready", sink.port, flush=True)
    for _ in sys.stdin:
        with sink._lock:
            distinct = len(sink.by_message_id)
            keys = len(sink.message_ids_by_key)
            split = sum(1 for ids in sink.message_ids_by_key.values() if len(ids) > 1)
        print(sink.accepted, sink.nbytes, distinct, keys, split, flush=True)
    sink.stop()


if __name__ == "__main__":
    main()
