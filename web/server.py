"""The board served by uvicorn in a background thread of the calling process.

The socket is bound in the caller's thread, so "port in use" is an error the main job can
report before it prints its addresses; uvicorn then serves on that socket in a thread of
its own (uvicorn installs no signal handlers outside the main thread, so Ctrl-C stays with
the main job, which stops the server with `stop()`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from models.runtime.bootstrap import Runtime
from web.app import create_app

log = logging.getLogger(__name__)


class WebServerError(RuntimeError):
    pass


class WebServer:
    def __init__(self, ctx: Runtime, *, host: str, port: int) -> None:
        self._ctx = ctx
        self.host = host
        self.port = port  # 0: any free port; the bound one is known after start()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, *, timeout: float = 15.0) -> None:
        """Bind (raises OSError, e.g. EADDRINUSE), then serve; returns once it answers."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.set_inheritable(True)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self._ctx), log_level="warning", access_log=False,
                                lifespan="off", server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="web board", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise WebServerError("the board's web server stopped while starting (see the log)")
            if time.monotonic() > deadline:
                self.stop()
                raise WebServerError(f"the board's web server did not start within {timeout:.0f} s")
            time.sleep(0.02)
        log.info("board serving at %s", self.url)

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException:  # a crash must be visible, not a silently dead thread
            log.exception("the board's web server failed")

    def stop(self, *, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                assert self._server is not None
                self._server.force_exit = True
                self._thread.join(2.0)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
