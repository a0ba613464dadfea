"""The runtime of this process, for code that cannot be handed it: Prefect tasks and flows
(their parameters carry ids only, and a runtime — an engine, a sender — is no parameter).

The entry point registers a factory once: the service registers the runtime it built, a test
its own, and a flow started by a Prefect worker — where the flow itself is the entry point —
registers the bootstrap (flows/runtime.py). Nothing here builds or migrates anything.
"""

from __future__ import annotations

from collections.abc import Callable

from models.runtime.bootstrap import Runtime

RuntimeFactory = Callable[[], Runtime]

# The one process-level seam: set by the entry point, read by tasks.
_factory: RuntimeFactory | None = None


class NoRuntimeError(RuntimeError):
    pass


def register_runtime_factory(factory: RuntimeFactory | None) -> None:
    """Install (or, with None, remove) this process's runtime factory."""
    global _factory
    _factory = factory


def has_runtime_factory() -> bool:
    return _factory is not None


def current_runtime() -> Runtime:
    if _factory is None:
        raise NoRuntimeError("no runtime registered in this process: its entry point must call "
                             "models.runtime.process.register_runtime_factory (flows do it themselves)")
    return _factory()
