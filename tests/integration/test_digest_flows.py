"""The digest flows and the operator's artifact under a real (test) Prefect server: runs named
by date with `as_of` as the only parameter, and the `overdue-by-jurisdiction` table — counts
by jurisdiction and escalation level, case numbers only, no personal data."""

from __future__ import annotations

import json

import pytest
from prefect.client.orchestration import get_client

from notifications.sink import read_sink
from models.runtime.process import register_runtime_factory
from tasks.sweep import OVERDUE_ARTIFACT
from tests.integration.test_due import at, take_in_contract

pytestmark = pytest.mark.prefect

# Everything personal the registry and the intake contract hold: none of it may reach Prefect.
PERSONAL = ("吴某", "139-0000-0002", "离婚后户口", "陈美华", "吴春梅", "何丽娟", "0577-", "@")


@pytest.fixture
def mail_ctx(mail_ctx):
    """The demo context with digests on (conftest keeps them off for everything else)."""
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"digests_enabled": True})
    return mail_ctx


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the Prefect wiring does not depend on the database backend")


async def artifact(key: str):
    async with get_client() as client:
        found = [a for a in await client.read_artifacts() if a.key == key]
    latest = max(found, key=lambda a: a.created)
    return latest, (json.loads(latest.data) if isinstance(latest.data, str) else latest.data)


async def test_sweep_publishes_overdue_by_jurisdiction_with_case_numbers_only(
    prefect_server, sqlite_only, mail_ctx, sink
):
    from flows.due_sweep import due_sweep

    register_runtime_factory(lambda: mail_ctx)
    take_in_contract(mail_ctx)  # 东湖村, due 10-15
    take_in_contract(mail_ctx, jurisdiction="990102001002",
                     received_at="2026-02-13T15:40:00+08:00")  # 西岭村, due 03-02
    take_in_contract(mail_ctx, jurisdiction="990102002001",
                     received_at="2026-10-14T10:00:00+08:00")  # 南山社区, due 10-23: not soon

    await due_sweep(as_of=at("2026-10-16T09:00:00"))  # the township is told of 东湖村's breach

    stored, rows = await artifact(OVERDUE_ARTIFACT)
    assert [(r["jurisdiction"], r["jurisdiction_name"], r["kind"], r["escalation_level"],
             r["overdue"], r["due_soon"], r["cases"]) for r in rows] == [
        ("990102001001", "东湖村", "response", 1, 1, 0, "WQ-2026-000001"),
        ("990102001002", "西岭村", "response", 2, 1, 0, "WQ-2026-000002"),  # up to the county
    ]
    text = json.dumps(rows, ensure_ascii=False) + (stored.description or "")
    for secret in PERSONAL:
        assert secret not in text

    await due_sweep(as_of=at("2026-10-21T09:00:00"))  # the same key shows the latest picture
    _, rows = await artifact(OVERDUE_ARTIFACT)
    assert ("990102002001", 0, 1) in [(r["jurisdiction"], r["overdue"], r["due_soon"]) for r in rows]


async def test_cadre_digest_flow_named_by_date_sends_on_a_working_day_only(
    prefect_server, sqlite_only, mail_ctx, sink
):
    from flows.digests import cadre_digest, supervisor_digest

    register_runtime_factory(lambda: mail_ctx)
    take_in_contract(mail_ctx, tier="simple", received_at="2026-09-29T10:00:00+08:00")  # overdue

    holiday = await cadre_digest(as_of=at("2026-10-05T08:30:00"))  # National Day Monday
    makeup = await cadre_digest(as_of=at("2026-10-10T08:30:00"))  # make-up Saturday
    weekly = await supervisor_digest(as_of=at("2026-10-05T08:30:00"))

    assert holiday["digests_planned"] == 0 and weekly["digests_planned"] == 0
    assert makeup["digests_planned"] == 1
    assert [m["X-Weiquan-Notice"].rsplit(":", 1)[1] for m in read_sink(sink.directory)
            if m["X-Weiquan-Notice"].startswith("digest:cadre:")] == ["2026-10-10"]
    async with get_client() as client:
        runs = {r.name: r for r in await client.read_flow_runs()}
    assert {"cadre digest 2026-10-05", "cadre digest 2026-10-10",
            "supervisor digest 2026-10-05"} <= set(runs)
    assert set(runs["cadre digest 2026-10-10"].parameters) == {"as_of"}
    assert runs["cadre digest 2026-10-10"].state.is_completed()
