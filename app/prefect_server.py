"""A local Prefect server as a child process of the main job.

`prefect server start` runs in its own session (process group), so the terminal's Ctrl-C
does not reach it: the main job stops it itself, after the flow service, by signalling the
whole group (SIGTERM, then SIGKILL after a grace period), which also takes any process the
server spawned. Without this the server would outlive the main job.

If a Prefect server already answers on the configured port (one the user started), it is
used as it is and left running. A server left behind by a main job that died without
cleaning up (kill -9) is recognised by the pid file under the data directory and stopped
before a fresh one starts.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from models.runtime.settings import Settings

log = logging.getLogger(__name__)

# First start on a fresh PREFECT_HOME (database migrations) measured 88 s on a busy 2-core
# machine; later starts 25-30 s there, ~5 s on an idle one.
READY_TIMEOUT = 180.0
STOP_GRACE = 10.0
LOG_TAIL_LINES = 30


class PrefectServerError(RuntimeError):
    """The server did not come up; the message says why and shows the end of its log."""


def prefect_environment(settings: Settings) -> dict[str, str]:
    """The Prefect variables that point a process (the server, or the main job itself) at
    the local server. Set them before `prefect` is imported: it reads them once."""
    return {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_UI_API_URL": settings.prefect_api_url,
        "PREFECT_SERVER_API_HOST": settings.prefect_host,
        "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        # Else a first run prints a "database is locked" traceback (stack notes).
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The client's own telemetry (Amplitude) asks the server whether analytics are on;
        # a reused server may say yes. Casework tooling does not phone home.
        "DO_NOT_TRACK": "1",
    }


def server_healthy(api_url: str, *, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


class PrefectServer:
    """`with PrefectServer(settings) as server:` — a healthy server inside the block.

    Or call spawn() and wait_ready() separately to do other work while the server boots;
    start() does both. stop() is safe to call at any point and more than once.
    """

    def __init__(self, settings: Settings, *, ready_timeout: float = READY_TIMEOUT,
                 stop_grace: float = STOP_GRACE) -> None:
        self.settings = settings
        self.api_url = settings.prefect_api_url
        self.ui_url = settings.prefect_ui_url
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self.log_path = settings.data_dir / "logs" / "prefect-server.log"
        self._pid_path = settings.data_dir / "prefect-server.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._spawned_at = 0.0
        self._adopted_pgid: int | None = None
        self.reused = False  # True: someone else's server, which we leave running

    @property
    def owned(self) -> bool:
        return self._process is not None or self._adopted_pgid is not None

    def start(self) -> Self:
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> None:
        """Start the server process (or find one to reuse); returns without waiting."""
        if self.owned or self.reused:
            return
        self._stop_leftover()
        if server_healthy(self.api_url):
            log.info("a Prefect server already answers at %s: using it, leaving it running",
                     self.api_url)
            self.reused = True
            return
        self.settings.prefect_home.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The prefect of this interpreter's environment, never one found on PATH.
        executable = Path(sys.executable).parent / "prefect"
        launcher = [str(executable)] if executable.exists() else [sys.executable, "-m", "prefect"]
        command = [*launcher, "server", "start",
                   "--host", self.settings.prefect_host, "--port", str(self.settings.prefect_port)]
        env = {**os.environ, **prefect_environment(self.settings)}
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n"
                           .encode())
            log_file.flush()
            self._process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True)
        self._spawned_at = time.monotonic()
        self._write_pid_file()
        log.info("starting the Prefect server (pid %s), log in %s", self._process.pid,
                 self.log_path)

    def wait_ready(self, *, timeout: float | None = None, keep_booting: bool = False) -> bool:
        """Block until /health answers (True); on failure stop what we started and raise.

        With `keep_booting`, a server still booting (alive, not answering) after `timeout`
        is left to boot and False is returned: the caller goes on without it for now."""
        if self.reused:
            return True
        timeout = self.ready_timeout if timeout is None else timeout
        started = self._spawned_at or time.monotonic()
        next_note = started + 15
        try:
            while True:
                if server_healthy(self.api_url):
                    log.info("Prefect server ready at %s after %.1f s", self.api_url,
                             time.monotonic() - started)
                    return True
                self.check_alive()
                now = time.monotonic()
                if now - started > timeout:
                    if keep_booting:
                        return False
                    raise PrefectServerError(
                        f"the Prefect server did not answer at {self.api_url}/health within "
                        f"{timeout:.0f} s{self._log_tail()}")
                if now >= next_note:
                    log.info("still waiting for the Prefect server (%.0f s)", now - started)
                    next_note = now + 15
                time.sleep(0.25)
        except BaseException:  # Ctrl-C while waiting too: no half-started server stays
            self.stop()
            raise

    def check_alive(self) -> None:
        """Raise if the server we started has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise PrefectServerError(
                f"the Prefect server exited with status {self._process.returncode} "
                f"before answering at {self.api_url} (is port "
                f"{self.settings.prefect_port} taken? set WEIQUAN_PREFECT_PORT)"
                f"{self._log_tail()}")

    @property
    def booted_for(self) -> float:
        return time.monotonic() - self._spawned_at if self._spawned_at else 0.0

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after the grace period."""
        pgid = self._pgid()
        if pgid is None:
            return
        log.info("stopping the Prefect server (process group %s)", pgid)
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        while self._group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._group_alive(pgid):
            log.warning("the Prefect server did not stop within %.0f s: killing it",
                        self.stop_grace)
            self.kill()
        self._forget()
        log.info("Prefect server stopped")

    def kill(self) -> None:
        """SIGKILL the whole group now (a second Ctrl-C, or a server that will not stop).

        Safe to call from a signal handler: it only sends signals and reaps."""
        pgid = self._pgid()
        if pgid is None:
            return
        _signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self._group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _pgid(self) -> int | None:
        if self._process is not None:
            return self._process.pid  # start_new_session: the leader's pid is the group id
        return self._adopted_pgid

    def _group_alive(self, pgid: int) -> bool:
        # Reap our own leader first: a zombie still counts as a group member.
        if self._process is not None:
            self._process.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _forget(self) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self._process = None
        self._adopted_pgid = None
        self._pid_path.unlink(missing_ok=True)

    def _write_pid_file(self) -> None:
        assert self._process is not None
        record = {"pgid": self._process.pid, "owner": os.getpid(), "api_url": self.api_url}
        self._pid_path.write_text(json.dumps(record))

    def _stop_leftover(self) -> None:
        """Stop a server a previous main job started and could not stop (it was killed)."""
        record = _read_json(self._pid_path)
        if record is None:
            return
        pgid, owner = record.get("pgid"), record.get("owner")
        if not isinstance(pgid, int) or not isinstance(owner, int):
            self._pid_path.unlink(missing_ok=True)
            return
        if _process_alive(owner) and owner != os.getpid():
            return  # another main job is running and owns it; the health check reuses it
        if _is_prefect_server(pgid):
            log.warning("stopping a Prefect server (process group %s) left behind by an "
                        "earlier run that did not shut down", pgid)
            self._adopted_pgid = pgid
            self.stop()
        else:
            self._pid_path.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"\n--- last lines of {self.log_path} ---\n" + "\n".join(lines)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_prefect_server(pid: int) -> bool:
    # Guards against a recycled pid: only a process that is a `prefect server` is stopped.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(b"prefect") for part in cmdline) and b"server" in cmdline


def _read_json(path: Path) -> Mapping[str, object] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
