"""The local mail sink: an SMTP server on loopback that files every mail it receives.

With no relay configured (WEIQUAN_SMTP_HOST unset) the product sends its mail here, so a
fresh clone works end to end without a mail server and nothing leaves the machine. Each
message becomes one `.eml` file under the sink directory:

* the raw RFC 5322 bytes as received, preceded by two `X-Weiquan-Envelope-*` headers that
  record MAIL FROM and RCPT TO (a Bcc recipient appears only there);
* named `<UTC arrival time>-<8 hex>.eml`, strictly increasing within one sink, so sorting
  the names sorts by arrival;
* written to a temporary name and renamed, so a reader never sees half a mail;
* filed once per Message-ID, like a mailbox that already holds the message: the product
  sends each notice with a stable Message-ID, and after a crash between the SMTP exchange
  and recording it the notice is sent again — the recipient must not see it twice.

The server is aiosmtpd's threaded `Controller`: it runs its own event loop in a thread, so
it works the same from plain code and from inside a running asyncio loop (tests).
"""

from __future__ import annotations

import contextlib
import email
import email.parser
import email.policy
import logging
import os
import socket
import tempfile
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)

ENVELOPE_FROM = "X-Weiquan-Envelope-From"
ENVELOPE_TO = "X-Weiquan-Envelope-To"
# The name the sink gives in its SMTP greeting. Fixed, because aiosmtpd's default
# (socket.getfqdn()) can stall for seconds on a host with slow DNS.
SERVER_NAME = "weiquan-sink"
# Mails hold case details: only the owner may read them (new directories and files).
PRIVATE_DIR = 0o700


class MailSink:
    """Start/stop a local SMTP sink; `port` is the bound port (pass port=0 for a free one).

    stop() then start() binds the same port again, so clients configured with `port` keep
    working across a restart (tests stop the sink to simulate an outage).
    """

    def __init__(self, *, directory: Path, host: str, port: int) -> None:
        self.directory = Path(directory)
        self.host = host
        self._port = port
        self._controller: Controller | None = None
        self._handler = _FileHandler(self.directory)

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Bind and serve. Raises OSError (errno EADDRINUSE) at once if the port is taken."""
        if self._controller is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        # Bind here, in the caller's thread, rather than inside the Controller's thread:
        # a taken port then fails immediately with a plain OSError (the Controller would
        # swallow it and time out after ready_timeout), and port 0 yields the real port
        # before the Controller probes it (it cannot probe port 0).
        sock = _listening_socket(self.host, self._port)
        self._port = sock.getsockname()[1]
        controller = _SocketController(self._handler, sock=sock, server_hostname=SERVER_NAME,
                                       ready_timeout=10.0)
        try:
            controller.start()
        except BaseException:
            controller.stop(no_assert=True)
            sock.close()
            raise
        self._controller = controller
        log.info("mail sink listening on %s:%s, filing mail in %s", self.host, self._port,
                 self.directory)

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        # Closes the listening socket and ends the thread; a mail whose DATA was already
        # answered is on disk (the handler writes before it answers 250).
        controller.stop()
        log.info("mail sink on %s:%s stopped", self.host, self._port)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_sink(directory: Path) -> list[EmailMessage]:
    """Every mail filed in `directory`, oldest first (an absent directory holds none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    messages = []
    for path in sorted(directory.glob("*.eml")):
        # Files keep SMTP's CRLF line ends; Python's parser would leave the CR in every
        # text body, so read them with plain newlines, as a mail client shows them.
        data = path.read_bytes().replace(b"\r\n", b"\n")
        messages.append(email.message_from_bytes(data, policy=email.policy.default))
    return messages


class _SocketController(Controller):
    """aiosmtpd's threaded Controller, serving on a socket we bound ourselves."""

    def __init__(self, handler: Any, *, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self):  # type: ignore[no-untyped-def]
        return self.loop.create_server(self._factory_invoker, sock=self._sock,
                                       ssl=self.ssl_context)


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted sink rebind while old connections sit in TIME_WAIT; a port that
        # another process listens on still fails with EADDRINUSE.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(100)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _FileHandler:
    """aiosmtpd handler: one atomic .eml file per accepted DATA (and per Message-ID)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)
        self._filed_ids: set[str] | None = None  # read from the directory on first mail

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        record = (_header(ENVELOPE_FROM, envelope.mail_from or "")
                  + _header(ENVELOPE_TO, ", ".join(envelope.rcpt_tos)))
        message_id = _message_id(raw)
        if message_id and not self._claim_message_id(message_id):
            log.info("mail sink: %s already filed; duplicate not stored", message_id)
            return "250 Message accepted (already delivered)"
        try:
            path = self._write(record + raw)
        except OSError as exc:
            if message_id:
                self._release_message_id(message_id)
            log.error("mail sink cannot file a mail in %s: %s", self.directory, exc)
            return "451 Requested action aborted: cannot store the message"
        log.info("mail sink: filed %s (%d recipient(s), %d bytes)", path.name,
                 len(envelope.rcpt_tos), len(raw))
        return "250 Message accepted for delivery"

    def _claim_message_id(self, message_id: str) -> bool:
        with self._lock:
            if self._filed_ids is None:
                self._filed_ids = {mid for path in self.directory.glob("*.eml")
                                   if (mid := _message_id(path.read_bytes()))}
            if message_id in self._filed_ids:
                return False
            self._filed_ids.add(message_id)
            return True

    def _release_message_id(self, message_id: str) -> None:
        with self._lock:
            if self._filed_ids is not None:
                self._filed_ids.discard(message_id)

    def _write(self, data: bytes) -> Path:
        name = f"{self._next_stamp():%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            # No fsync: this is a local demo sink, and rename after write is safe on the
            # usual Linux filesystems (ext4's auto_da_alloc) against a reader seeing junk.
            path = self.directory / name
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def _next_stamp(self) -> datetime:
        # Strictly increasing even when two mails land in the same microsecond or the wall
        # clock steps back, so name order is arrival order.
        with self._lock:
            now = datetime.now(UTC)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now


def _message_id(raw: bytes) -> str | None:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    value = headers.get("Message-ID")
    return str(value).strip() if value else None


def _header(name: str, value: str) -> bytes:
    # SMTPUTF8 allows non-ASCII addresses; keep the header itself 7-bit (RFC 2047).
    if not value.isascii():
        value = Header(value, "utf-8").encode()
    return f"{name}: {value}\r\n".encode("ascii")

