"""Run names an operator can read: the flow's kind and the time it runs as of (Asia/Shanghai).
Never a parameter that could carry personal data: the flows here take `as_of` only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prefect import runtime

from models.domain.calendar import SHANGHAI
from flows.runtime import flow_runtime


def run_instant() -> datetime:
    """The run's `as_of` (a datetime when called in-process, an ISO string from a deployment),
    else its scheduled start time."""
    as_of = runtime.flow_run.parameters.get("as_of")
    if isinstance(as_of, str):
        as_of = datetime.fromisoformat(as_of)
    when = as_of or runtime.flow_run.scheduled_start_time or flow_runtime().clock.now()
    return when.astimezone(SHANGHAI)


def named(prefix: str, fmt: str = "%Y-%m-%d") -> Callable[[], str]:
    def run_name() -> str:
        return f"{prefix} {run_instant().strftime(fmt)}"

    return run_name
