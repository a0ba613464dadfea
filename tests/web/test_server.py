"""The board's server as the main job runs it: a thread on a socket bound up front."""

from __future__ import annotations

import errno
import urllib.request

import pytest

from web.server import WebServer


def test_serves_and_stops_and_reports_a_busy_port(web_ctx) -> None:
    server = WebServer(web_ctx, host="127.0.0.1", port=0)
    server.start()
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=60) as response:
            assert response.read() == b"ok"
        busy = WebServer(web_ctx, host="127.0.0.1", port=server.port)
        with pytest.raises(OSError) as caught:
            busy.start()
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.url}/healthz", timeout=30)
