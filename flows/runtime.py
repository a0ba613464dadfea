"""A flow's runtime. In the service (or a test) the entry point has registered its own; in a
Prefect worker's subprocess the flow module is the entry point, so the flow builds the
runtime from WEIQUAN_ settings itself — once per process, never migrating (the service or
`weiquan db upgrade` owns the schema)."""

from __future__ import annotations

from functools import cache

from models.runtime.bootstrap import Runtime, build_runtime
from models.runtime.process import current_runtime, has_runtime_factory, register_runtime_factory


@cache
def _bootstrapped() -> Runtime:
    return build_runtime(migrate=False)


def flow_runtime() -> Runtime:
    if not has_runtime_factory():
        register_runtime_factory(_bootstrapped)
    return current_runtime()
