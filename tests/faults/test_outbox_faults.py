"""The outbox under an operator's bad day, with real processes and a real SMTP sink on
loopback (tests/faults/smtp_sink.py), no Prefect server:

* `kill -9` of a sending `weiquan run-due` in the middle of a batch, then a run 61 s later
  (injected time): every notice goes out, at most the one mail in flight goes twice, with
  the same Message-ID, and the dead process's claims do not wait beyond their ≤ 60 s lease;
* a relay that answers 451 for a while, then accepts, with the service running on the real
  clock: every at-once notice goes out exactly once, none is marked failed for a transient
  fault, and all are out ≤ 10 s after the relay accepts again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.db.orm import Notice
from models.db.session import unit_of_work
from tests.conftest import REPO
from tests.faults.smtp_sink import ControlledSink
from tests.integration.test_due import take_in_contract

pytestmark = pytest.mark.faults

RECEIVED = datetime.fromisoformat("2026-09-30T10:15:00+08:00")  # the DV contract document's
BOUND = 60.0  # seconds any one wait in these tests may take, on a loaded 2-core machine

# The flow service as `weiquan up` runs it while Prefect is down: sweeps without flow runs.
SERVICE = """
import asyncio, signal
from models.runtime.bootstrap import build_runtime
from app.service import run_service
from models.runtime.settings import load_settings

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    ctx = build_runtime(settings=load_settings(), migrate=True)
    await run_service(ctx, stop=stop, prefect_ready=lambda: False, serve_deployments=False)
    ctx.close()

asyncio.run(main())
"""


@pytest.fixture
def sink_factory() -> Iterator[Callable[..., ControlledSink]]:
    started: list[ControlledSink] = []

    def start(**options: object) -> ControlledSink:
        sink = ControlledSink(**options).start()  # type: ignore[arg-type]
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


def environment(settings, sink: ControlledSink, **extra: str) -> dict[str, str]:
    env = {**os.environ, "WEIQUAN_DATA_DIR": str(settings.data_dir),
           "WEIQUAN_DATABASE_URL": settings.effective_database_url,
           "WEIQUAN_SINK_HOST": "127.0.0.1", "WEIQUAN_SINK_PORT": str(sink.port),
           "WEIQUAN_DIGESTS_ENABLED": "false", **extra}
    env.pop("WEIQUAN_SMTP_HOST", None)
    return env


def run_due(env: dict[str, str], as_of: datetime) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "run-due", "--as-of", as_of.isoformat()],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_until(condition: Callable[[], bool], *, what: str, process: subprocess.Popen | None = None,
               timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"process ended (exit {process.returncode}) before {what}: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.02)


def stop_service(service: subprocess.Popen[str]) -> None:
    """SIGTERM (an orderly stop), and SIGKILL if that takes longer than BOUND."""
    service.send_signal(signal.SIGTERM)
    try:
        service.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        service.kill()
        service.communicate()


def notices(ctx) -> dict[str, str]:
    """Every notice's key and status."""
    with unit_of_work(ctx.sessions) as session:
        return {key: status for key, status in session.execute(select(Notice.key, Notice.status))}


def take_in_dv_cases(ctx, count: int, *, prefix: str, **changes: object) -> dict[str, str]:
    for index in range(count):
        take_in_contract(ctx, "dv_strangulation", external_ref=f"{prefix}-{index}", **changes)
    queued = notices(ctx)
    # Intake queues only at-once notices (reports to the police, the hotline, …): ~6 a case.
    assert set(queued.values()) == {"queued"} and len(queued) >= 5 * count, queued
    return queued


def test_kill_9_mid_batch_repeats_at_most_the_mail_in_flight(demo_ctx, settings, sink_factory):
    # Slow enough that the process is certainly in the middle of the batch when it dies.
    sink = sink_factory(delay=0.01)
    at_once = take_in_dv_cases(demo_ctx, 50, prefix="kill")
    # One connection: "the one mail in flight" is one mail (a pool has one per connection).
    env = environment(settings, sink, WEIQUAN_SMTP_CONNECTIONS="1")
    killed_at = RECEIVED + timedelta(minutes=2)

    first = run_due(env, killed_at)
    try:
        wait_until(lambda: sink.accepted >= 40, what="the first mails reach the sink", process=first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=BOUND)
    assert first.returncode == -signal.SIGKILL
    assert sink.accepted < len(at_once), "the batch was over before the kill: nothing tested"

    # A lease is at most 60 s: whatever the dead process held is free again 61 s later.
    second = run_due(env, killed_at + timedelta(seconds=61))
    _, err = second.communicate(timeout=BOUND)
    assert second.returncode == 0, err[-2000:]

    # The runs also planned what the cases owe next (visit reminders): all of it went out.
    statuses = notices(demo_ctx)
    assert set(at_once) <= set(statuses) and set(statuses.values()) == {"sent"}, Counter(
        statuses.values())
    assert set(sink.message_ids_by_key) == set(statuses)  # every notice delivered
    # A repeated mail is the same message (one Message-ID per notice), and at most one
    # (the mail in flight when the process died) was repeated.
    assert all(len(ids) == 1 for ids in sink.message_ids_by_key.values())
    repeated = {mid: n for mid, n in sink.by_message_id.items() if n > 1}
    assert sum(n - 1 for n in repeated.values()) <= 1, repeated


def test_refused_then_accepted_at_once_mail_goes_out_once_within_10_s(demo_ctx, settings,
                                                                       sink_factory):
    sink = sink_factory(refusing=True)
    now = datetime.now(UTC)
    # Received a moment ago, on the real clock the service runs on.
    at_once = take_in_dv_cases(demo_ctx, 20, prefix="outage",
                               received_at=(now - timedelta(minutes=2)).isoformat())
    service = subprocess.Popen([sys.executable, "-c", SERVICE], cwd=REPO,
                               env=environment(settings, sink), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: sink.refused >= len(at_once), process=service,
                   what="every at-once notice tried once and refused")
        first_refusal = time.monotonic()
        # The outage goes on a little: retries are refused too (an outage, not one 451).
        wait_until(lambda: time.monotonic() - first_refusal >= 3.0, what="the outage")
        back = sink.accept()
        # Three times the promise: long enough to tell "late" from "never", and no longer.
        wait_until(lambda: set(sink.message_ids_by_key) >= set(at_once), process=service,
                   what="every at-once notice delivered after the relay accepts again",
                   timeout=30.0)
        last = max(sink.accepted_at)
    finally:
        stop_service(service)

    assert last - back <= 10.0, f"the last at-once mail went out {last - back:.1f} s after"
    assert Counter(sink.by_message_id.values()) == {1: len(at_once)}  # each exactly once
    statuses = {key: status for key, status in notices(demo_ctx).items() if key in at_once}
    assert statuses == dict.fromkeys(at_once, "sent")  # none failed for a transient fault
