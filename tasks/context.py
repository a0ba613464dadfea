"""The application context that flows and tasks run in.

Flow parameters carry ids only, so a task finds the database through the process's context:
the service (or a test) installs its own with `use_context`; a flow run started elsewhere
(a Prefect worker) builds one from WEIQUAN_ settings on first use.
"""

from __future__ import annotations

from app.context import AppContext, build_context

_context: AppContext | None = None


def use_context(context: AppContext | None) -> None:
    global _context
    _context = context


def app_context() -> AppContext:
    global _context
    if _context is None:
        _context = build_context()
    return _context
