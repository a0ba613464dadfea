"""Fuzzing's settings and its database.

One Hypothesis profile, sized by the environment: WEIQUAN_FUZZ_EXAMPLES examples per property
(1,000 by default, as CI runs it; `WEIQUAN_FUZZ_EXAMPLES=10000 ./test.sh tests/fuzz` for the
long run). Derandomized, so that CI explores the same documents every time and a failure seen
there reproduces here; no example database is written into the checkout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from app.clock import FixedClock
from app.context import AppContext, build_context
from app.settings import Settings
from tests.conftest import FIXED_NOW, backends, database_copy

EXAMPLES = int(os.environ.get("WEIQUAN_FUZZ_EXAMPLES", "1000"))

settings.register_profile(
    "weiquan-fuzz", max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    # Huge strings and deep documents are the point here, not a sign of a slow strategy.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example])
settings.load_profile("weiquan-fuzz")


@pytest.fixture(scope="module", params=backends())
def fuzz_ctx(request, tmp_path_factory, sqlite_demo_template,
             postgres_templates) -> Iterator[AppContext]:
    """One database (demo registry) per module: Hypothesis runs every example of a property
    inside one test call, so a function-scoped database would be shared across them anyway."""
    directory = tmp_path_factory.mktemp("fuzz")
    with database_copy(request.param, directory=directory, sqlite_template=sqlite_demo_template,
                       postgres_template=postgres_templates["demo"] if postgres_templates else None
                       ) as url:
        context = build_context(Settings(data_dir=directory / "data", database_url=url,
                                         digests_enabled=False), clock=FixedClock(FIXED_NOW))
        yield context
        context.close()
