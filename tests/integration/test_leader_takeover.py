"""Several service processes, one leader, on PostgreSQL: two real `weiquan serve --no-prefect`
processes; one leads the scheduler, `kill -9` it, the other takes the lease within 30 s (the
take-over time is printed) and `weiquan status` names it. Bounded: under 90 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from models.db.session import unit_of_work
from models.service.service_status import service_status
from tests.conftest import REPO
from models.runtime.bootstrap import Runtime, build_runtime

TAKE_OVER_BOUND = 30.0  # seconds from the leader's death to the standby leading
START_BOUND = 30.0  # a loaded 2-core machine takes seconds to start a Python process


class Service:
    """A `weiquan serve --no-prefect` process (`prefect=True`: `weiquan serve`) whose log is
    read as it comes."""

    def __init__(self, env: dict[str, str], *, prefect: bool = False) -> None:
        command = ["serve"] if prefect else ["serve", "--no-prefect"]
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", *command],
                                        cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)

    def said(self, words: str) -> bool:
        return any(words in line for line in self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)


def wait_until(condition, *, bound: float, what: str, services: list[Service]) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > bound:
            logs = "\n".join("".join(s.log[-20:]) for s in services)
            pytest.fail(f"{what}: not within {bound:.0f} s\n{logs}")
        time.sleep(0.1)  # polling real processes, not waiting out a deadline
    return time.monotonic() - started


def leader_pid(runtime: Runtime) -> int | None:
    with unit_of_work(runtime.sessions) as session:
        leader = service_status(session, now=datetime.now(UTC))["leader"]
    if leader is None or not leader["live"]:
        return None
    return int(leader["holder"].split(":")[1])


def leader_and_standby(env: dict[str, str], runtime: Runtime,
                       services: list[Service]) -> tuple[Service, Service]:
    """Two service processes: the first started leads, the second stands by (both are added
    to `services` as they start, for the caller to stop)."""
    first = Service(env)
    services.append(first)
    wait_until(lambda: leader_pid(runtime) == first.process.pid, bound=START_BOUND,
               what="the first process leads", services=services)
    second = Service(env)
    services.append(second)
    wait_until(lambda: second.said("flow service"), bound=START_BOUND,
               what="the second process runs", services=services)
    assert leader_pid(runtime) == first.process.pid  # the standby did not steal it
    return first, second


@pytest.fixture
def postgres_runtime(settings) -> Iterator[Runtime]:
    if not settings.effective_database_url.startswith("postgresql"):
        pytest.skip("several service processes share a PostgreSQL database")
    runtime = build_runtime(settings=settings, migrate=False)  # the template is migrated
    yield runtime
    runtime.close()


def test_a_standby_takes_over_within_30_s_after_the_leader_is_killed(postgres_runtime, settings,
                                                                   capsys):
    env = {**os.environ, "WEIQUAN_DATA_DIR": str(settings.data_dir),
           "WEIQUAN_DATABASE_URL": settings.effective_database_url,
           "WEIQUAN_DIGESTS_ENABLED": "false", "WEIQUAN_SINK_PORT": "9"}
    env.pop("WEIQUAN_SMTP_HOST", None)
    services: list[Service] = []
    try:
        first, second = leader_and_standby(env, postgres_runtime, services)

        first.process.kill()  # kill -9: no release, the lease must expire
        first.process.wait()
        took = wait_until(lambda: leader_pid(postgres_runtime) == second.process.pid,
                          bound=TAKE_OVER_BOUND, what="the standby takes over", services=services)
        with capsys.disabled():
            print(f"\nleader take-over after kill -9: {took:.1f} s "
                  f"(lease ttl {settings.lease_ttl_seconds:.0f} s, "
                  f"renewed every {settings.lease_renew_seconds:.0f} s)")
        assert second.said("leads the scheduler")

        shown = subprocess.run([sys.executable, "-m", "app.cli", "status", "--json"], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        leader = json.loads(shown.stdout)["leader"]
        assert leader["live"] and int(leader["holder"].split(":")[1]) == second.process.pid
        human = subprocess.run([sys.executable, "-m", "app.cli", "status"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=60)
        assert human.returncode == 0 and f":{second.process.pid}:" in human.stdout
        # Every service process by its heartbeat: the new leader, and the killed one silent.
        lines = human.stdout.splitlines()
        assert any(f":{second.process.pid}:" in line and ": leads, heartbeat" in line
                   for line in lines), human.stdout
        assert any(f":{first.process.pid}:" in line and "silent" in line for line in lines), \
            human.stdout
        assert "待发 0" in human.stdout
    finally:
        for service in services:
            service.stop()
