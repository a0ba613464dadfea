"""The main job serves the flows of prefect.yaml as Prefect deployments, without the ceremony
(no work pool, no `prefect deploy`, no worker): a Prefect Runner in a thread of the main job
registers the same deployments — same names, entrypoints, descriptions — with the main job's
Prefect server, so the UI lists them and an operator's "Run" (a sweep now, a digest again, a
case's intake flow) is executed by the main job, in a subprocess as a worker would.

Schedules are not registered here: in the main job the flow service is the clock (it wakes the
due sweep at the next due instant and the digests at 08:30 of working days, and does so even
while Prefect is down). prefect.yaml's schedules are for running with a worker instead; use
one or the other against a server, not both.

The Runner runs in its own thread and event loop because `Runner.start()` in the main thread
installs its own SIGTERM handler, which would take over the main job's orderly shutdown.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from models.runtime.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
RUNNER_NAME = "weiquan-main-job"
SERVED_NOTE = ("Served by the main job (weiquan up): its flow service starts this on time; "
               "Run starts one now.")


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # "flows/due_sweep.py:due_sweep"
    description: str
    schedules: tuple[dict[str, Any], ...]


def deployment_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [DeploymentSpec(name=d["name"], entrypoint=d["entrypoint"],
                           description=" ".join(str(d.get("description", "")).split()),
                           schedules=tuple(d.get("schedules") or ()))
            for d in config["deployments"]]


def load_flow(entrypoint: str) -> Any:
    path, name = entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


class ServedDeployments:
    """`start()` returns at once; the deployments appear when the Prefect server answers.
    `stop()` stops the runner (a run it started is left to finish in its own process)."""

    def __init__(self, specs: list[DeploymentSpec] | None = None) -> None:
        self.specs = specs if specs is not None else deployment_specs()
        self.registered: list[str] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: Any = None
        self._stopping = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prefect-runner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:  # the dashboard must never take the main job down
            log.exception("serving the Prefect deployments failed; the flow service goes on")

    async def _serve(self) -> None:
        from prefect.runner import Runner

        self._loop = asyncio.get_running_loop()
        runner = Runner(name=RUNNER_NAME, pause_on_shutdown=False)
        for spec in self.specs:
            if self._stopping:
                return
            await runner.aadd_flow(load_flow(spec.entrypoint), name=spec.name,
                                   description=f"{spec.description} {SERVED_NOTE}".strip())
            self.registered.append(spec.name)
        log.info("Prefect deployments served by the main job: %s", ", ".join(self.registered))
        self._runner = runner
        if not self._stopping:
            await runner.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        self._stopping = True
        runner, loop = self._runner, self._loop
        if runner is not None and loop is not None and runner.started:
            try:
                asyncio.run_coroutine_threadsafe(runner.astop(), loop).result(timeout)
            except (FutureTimeout, RuntimeError, Exception):  # noqa: BLE001 - best effort
                log.warning("the Prefect runner did not stop cleanly", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)
