"""`weiquan up`: the database, the local mail sink, a Prefect server and the flow service in
one foreground process; Ctrl-C (or SIGTERM) stops all of it.

Start order: database (migrated) → demo registry and users → mail sink → the board (web) →
Prefect server → service.
Stop order is the reverse. The Prefect server runs in its own process group, so the
terminal's Ctrl-C reaches only this process, which then stops the service first (it may be
talking to the server) and the server after it.

A Prefect server that is slow to boot (a first start on a slow machine has taken minutes)
does not hold the rest back: after STARTUP_WAIT the main job goes on without it — intake,
mail, reminders, digests and the board work; flow runs and the deployments start as soon
as it answers (the service runs the same sweeps without Prefect, and intake's flow runs
wait in their trigger rows).

Signals: the first SIGINT/SIGTERM asks the service to finish its pass and stop; a second
one cancels the service and kills the server at once; a third exits on the spot (after
killing the server's process group, so nothing is left behind).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from sqlalchemy.engine import make_url

from models.runtime.bootstrap import Runtime, build_runtime
from app.prefect_server import PrefectServer, PrefectServerError, prefect_environment, server_healthy
from models.runtime.settings import Settings, load_settings
from models.db.session import unit_of_work
from notifications.sink import MailSink

log = logging.getLogger(__name__)

FORCED_EXIT = 130  # the shell's status for "ended by Ctrl-C"
STARTUP_WAIT = 60.0  # seconds the main job waits for Prefect before going on without it


def run_main_job(*, load_demo: bool) -> int:
    started = time.monotonic()
    _configure_logging()
    settings = load_settings()
    # Before anything imports prefect: it reads its settings once, at import. Without an
    # API URL it would start a throw-away "ephemeral" server inside this process.
    os.environ.update(prefect_environment(settings))

    shutdown = _Shutdown()
    # Until the event loop takes over, SIGTERM unwinds like Ctrl-C (KeyboardInterrupt), so
    # the `finally` blocks below stop whatever has started; the default would just die.
    # SIGINT is set explicitly: a shell starts background jobs with SIGINT ignored, and
    # `kill -INT` must stop the main job however it was started.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ctx = build_runtime(settings=settings, migrate=True)
        try:
            if load_demo:
                _load_demo_registry(ctx)
            return _with_sink(ctx, shutdown, started)
        finally:
            ctx.close()
    except KeyboardInterrupt:
        log.info("interrupted while starting; stopped what had started")
        return FORCED_EXIT
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _with_sink(ctx: Runtime, shutdown: _Shutdown, started: float) -> int:
    settings = ctx.settings
    sink: MailSink | None = None
    if not settings.smtp_host:  # mail goes to the local sink only when no relay is set
        sink = MailSink(directory=settings.mail_sink_dir, host=settings.sink_host,
                        port=settings.sink_port)
        try:
            sink.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                log.error("the mail sink cannot listen on %s:%s: the port is in use. Stop "
                          "what uses it or choose another port with WEIQUAN_SINK_PORT.",
                          settings.sink_host, settings.sink_port)
            else:
                log.error("the mail sink cannot listen on %s:%s (WEIQUAN_SINK_HOST, "
                          "WEIQUAN_SINK_PORT): %s", settings.sink_host, settings.sink_port, exc)
            return 1
    try:
        return _with_web(ctx, sink, shutdown, started)
    finally:
        if sink is not None:
            sink.stop()


def _with_web(ctx: Runtime, sink: MailSink | None, shutdown: _Shutdown, started: float) -> int:
    from web.server import WebServer, WebServerError

    settings = ctx.settings
    web = WebServer(ctx, host=settings.web_host, port=settings.web_port)
    try:
        web.start()
    except OSError as exc:
        log.error("the board cannot listen on %s:%s (WEIQUAN_WEB_HOST, WEIQUAN_WEB_PORT): %s",
                  settings.web_host, settings.web_port,
                  "the port is in use" if exc.errno == errno.EADDRINUSE else exc)
        return 1
    except WebServerError as exc:
        log.error("%s", exc)
        return 1
    try:
        return _with_prefect(ctx, sink, web.url, shutdown, started)
    finally:
        web.stop()


def _with_prefect(ctx: Runtime, sink: MailSink | None, board_url: str, shutdown: _Shutdown,
                  started: float) -> int:
    server = PrefectServer(ctx.settings)
    shutdown.server = server
    try:
        server.spawn()
        # Import prefect here while the server boots: both are seconds of CPU, and doing
        # them side by side shortens the time to "ready".
        _warm_up_prefect()
        ready_now = server.wait_ready(timeout=STARTUP_WAIT, keep_booting=True)
    except PrefectServerError as exc:  # wait_ready stopped what it had started
        log.error("%s", exc)
        return 1
    except BaseException:  # Ctrl-C while starting: a further one must not cut the stop short
        shutdown.enter_final_phase()
        server.stop()
        raise
    watch = _PrefectWatch(server, ready=ready_now)
    try:
        if not ready_now:
            log.warning(
                "the Prefect server is still starting after %.0f s (a first start on a slow "
                "machine can take minutes; its log: %s). weiquan runs meanwhile: intake, mail, "
                "reminders, digests and the board work now; flow runs and the deployments "
                "follow when it answers", server.booted_for, server.log_path)
            watch.start()
        _print_banner(ctx.settings, server, sink, board_url, time.monotonic() - started,
                      prefect_ready=ready_now)
        status = asyncio.run(_serve(ctx, shutdown, prefect_ready=watch.ready.is_set))
    finally:
        watch.stop()
        # From here on a signal must not interrupt the clean-up half way: it escalates to
        # killing the server's process group instead.
        shutdown.enter_final_phase()
        if shutdown.force:
            server.kill()
        else:
            _flush_prefect_clients()
        server.stop()
    log.info("stopped")
    return status


async def _serve(ctx: Runtime, shutdown: _Shutdown, *, prefect_ready: Callable[[], bool],
                 serve_deployments: bool = True) -> int:
    from app.service import run_service

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(ctx, stop=stop, prefect_ready=prefect_ready,
                                              serve_deployments=serve_deployments),
                                  name="flow service")

    def on_signal(sig: signal.Signals) -> None:
        shutdown.count += 1
        if shutdown.count == 1:
            log.info("%s: stopping (again to force)", sig.name)
            stop.set()
        elif shutdown.count == 2:
            log.warning("%s again: cancelling the flow service", sig.name)
            shutdown.force = True
            service.cancel()
        else:
            shutdown.exit_now()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await service
        return 0 if not shutdown.force else FORCED_EXIT
    except asyncio.CancelledError:
        if shutdown.force:
            return FORCED_EXIT
        raise
    except BaseException:  # whatever ended the service, the shutdown still runs
        if stop.is_set():  # e.g. Prefect's SIGTERM bridge raised inside a flow run
            log.warning("the flow service ended with an error while stopping", exc_info=True)
            return 0
        log.exception("the flow service failed")
        return 1
    finally:
        # Swap the loop's handlers for plain ones before the loop closes: closing would
        # reset SIGTERM to "terminate at once", which would orphan the Prefect server.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        shutdown.enter_final_phase()


def run_service_process(*, use_prefect: bool) -> int:
    """`weiquan serve`: the flow service alone — no mail sink, no board, no Prefect server —
    for running several service processes on one PostgreSQL database (one leads the
    scheduler, the others stand by). Flow runs go to the Prefect server at
    WEIQUAN_PREFECT_HOST:WEIQUAN_PREFECT_PORT whenever it answers; with `use_prefect`
    False none is asked (sweeps and digests run without flow runs; intake's flow runs wait
    in their trigger rows for a process that has one). Mail goes to the relay, or to a
    sink another process (`weiquan up`) runs."""
    _configure_logging()
    settings = load_settings()
    os.environ.update(prefect_environment(settings))  # never an ephemeral server in here
    shutdown = _Shutdown()
    runtime = build_runtime(settings=settings, migrate=True)
    watch = _ApiWatch(settings.prefect_api_url) if use_prefect else None
    try:
        if watch is not None:
            watch.start()
        return asyncio.run(_serve(runtime, shutdown,
                                  prefect_ready=watch.ready.is_set if watch else lambda: False,
                                  serve_deployments=False))
    finally:
        if watch is not None:
            watch.stop()
        runtime.close()


class _ApiWatch:
    """Whether the Prefect API answers, asked in a thread every few seconds (the service's
    loop asks on every pass and must not wait on HTTP)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="prefect-api-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while True:
            if server_healthy(self.api_url):
                self.ready.set()
            else:
                self.ready.clear()
            if self._stop.wait(5.0):
                return


class _PrefectWatch:
    """Waits, in a thread, for a Prefect server that was still booting when the main job
    went on; `ready` is set when it answers. A server that dies instead is reported and the
    main job goes on without Prefect (mail matters more than the dashboard)."""

    def __init__(self, server: PrefectServer, *, ready: bool) -> None:
        self.server = server
        self.ready = threading.Event()
        if ready:
            self.ready.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="prefect-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(2.0):
            if server_healthy(self.server.api_url):
                log.info("Prefect server ready at %s after %.0f s: flow runs and deployments "
                         "start now", self.server.ui_url, self.server.booted_for)
                self.ready.set()
                return
            try:
                self.server.check_alive()
            except PrefectServerError as exc:
                log.error("%s\nweiquan goes on without Prefect: mail, reminders and the board "
                          "work; intake flow runs wait until the main job is restarted", exc)
                return


class _Shutdown:
    """What the signal handlers need to know and reach, across the phases."""

    def __init__(self) -> None:
        self.count = 0
        self.force = False
        self.server: PrefectServer | None = None
        self._final = False

    def enter_final_phase(self) -> None:
        if self._final:
            return
        self._final = True
        handler: Callable[[int, FrameType | None], None] = self._final_signal
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def _final_signal(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count >= 3:
            self.exit_now()
        self.force = True
        log.warning("%s during shutdown: killing the Prefect server", signal.Signals(signum).name)
        if self.server is not None:
            self.server.kill()

    def exit_now(self) -> None:
        log.warning("forced exit")
        if self.server is not None:
            self.server.kill()
        logging.shutdown()
        os._exit(FORCED_EXIT)  # no orphans: the server group is gone; the sink is a thread


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _load_demo_registry(ctx: Runtime) -> None:
    # The same code and files as `weiquan registry demo`: an idempotent upsert.
    from app.cli import CLI_ACTOR, DEMO_DIR
    from models.service.registry import load_registry

    with unit_of_work(ctx.sessions) as session:
        result = load_registry(session, jurisdictions=DEMO_DIR / "jurisdictions.csv",
                               contacts=DEMO_DIR / "contacts.csv", now=ctx.clock.now(),
                               actor=CLI_ACTOR)
    log.info("demo registry: jurisdictions %s added, %s updated; contacts %s added, %s updated",
             result.jurisdictions_added, result.jurisdictions_updated, result.contacts_added,
             result.contacts_updated)
    from models.service.users import load_demo_users

    with unit_of_work(ctx.sessions) as session:
        users = load_demo_users(session, path=DEMO_DIR / "users.csv", now=ctx.clock.now(),
                                actor=CLI_ACTOR)
    log.info("demo users: %s added, %s kept", users.added, users.kept)


def _warm_up_prefect() -> None:
    # The imports are the point: they fill the module cache while the server boots.
    import prefect
    import prefect.flow_engine  # noqa: F401


def _flush_prefect_clients(timeout: float = 5.0) -> None:
    """Send Prefect's queued flow-run logs and events while its server is still up.

    Prefect would flush them at interpreter exit, when the server is already stopped:
    they would be lost after the client's retries."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # a failed flush must not stop the shutdown
            log.warning("could not flush Prefect's %s", worker.__name__, exc_info=True)


def _print_banner(settings: Settings, server: PrefectServer, sink: MailSink | None,
                  board_url: str, elapsed: float, *, prefect_ready: bool = True) -> None:
    database = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    prefect_note = " (a server that was already running)" if server.reused else ""
    if not prefect_ready:
        prefect_note = " (still starting: the log says when it is ready)"
    if sink is not None:
        mail = f"sink at {sink.host}:{sink.port}, mail filed in {sink.directory}"
    else:
        mail = f"relay {settings.smtp_host}:{settings.smtp_port}"
    print(f"\nweiquan is up (ready in {elapsed:.1f} s)\n"
          f"  board:       {board_url}  (demo sign-in: see README)\n"
          f"  Prefect UI:  {server.ui_url}{prefect_note}\n"
          f"  mail:        {mail}\n"
          f"  database:    {database}\n"
          f"Ctrl-C to stop.\n", flush=True)


def _configure_logging() -> None:
    # Before prefect is imported: prefect keeps a root handler that is already there
    # instead of installing its own (which would hide our INFO lines).
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # At INFO, aiosmtpd logs every SMTP command, httpx every request to the Prefect API and
    # APScheduler every run of every job (twice a minute for the due sweep).
    for chatty in ("mail.log", "httpx", "apscheduler.executors"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
