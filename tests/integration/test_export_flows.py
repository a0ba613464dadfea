"""The flows of the records under a real (test) Prefect server: `ledger-export` writes a
de-identified form and publishes what, scope and rows — no names, phones or addresses, and no
password anywhere — and `monthly-statistics` sends the supervisors' mails on the month's first
working day only."""

from __future__ import annotations

import json
import zipfile

import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import select

from models.db.orm import AuditEvent
from models.db.session import unit_of_work
from models.domain.errors import InputError
from models.runtime.process import register_runtime_factory
from tasks.exports import LEDGER_EXPORT_ARTIFACT
from tests.integration.ledger_data import at, read_xlsx, rows_of
from tests.integration.test_digest_flows import artifact, sqlite_only  # noqa: F401 - fixture
from tests.integration.test_exports import (  # noqa: F401 - fixtures
    ADDRESS,
    NAME,
    OTHER_ADDRESS,
    OTHER_NAME,
    OTHER_PHONE,
    PHONE,
    ledger_ctx,
    out_dir,
)
from tests.integration.test_monthly_statistics import all_monthly, september  # noqa: F401

pytestmark = pytest.mark.prefect

PERSONAL = (NAME, PHONE, ADDRESS, OTHER_NAME, OTHER_PHONE, OTHER_ADDRESS, "张大强")


async def flow_runs() -> dict:
    async with get_client() as client:
        return {r.name: r for r in await client.read_flow_runs()}


async def test_ledger_export_flow_writes_form_3_deidentified_and_publishes_counts_only(
    prefect_server, sqlite_only, ledger_ctx, out_dir
):
    from flows.exports import ledger_export

    register_runtime_factory(lambda: ledger_ctx)
    out = out_dir / "form3.xlsx"
    outcome = ledger_export(form=3, under="990102", out=str(out), first="2026-10-01",
                            last="2026-10-31")

    book = read_xlsx(out)  # no password: de-identified
    visits = len(rows_of(book, "走访明细")) - 1
    assert outcome == {"form": 3, "under": "990102", "rows": visits, "entries": 2,
                       "mode": "deidentified"}
    assert visits == 3  # 东湖村's family's two visits; 南山社区's child, not visited yet
    stored, rows = await artifact(LEDGER_EXPORT_ARTIFACT)
    assert rows == [{"form": 3, "title": "附表3：需要重点关注的家庭及妇女儿童台账",
                     "under": "990102", "from": "2026-10-01", "to": "2026-10-31", "rows": 3,
                     "entries": 2, "mode": "deidentified"}]
    run = (await flow_runs())["ledger export form 3 under 990102"]
    assert run.state.is_completed()
    assert set(run.parameters) == {"form", "under", "out", "first", "last"}
    with zipfile.ZipFile(out) as workbook:
        inside = "".join(workbook.read(n).decode("utf-8") for n in workbook.namelist()
                         if n.endswith(".xml"))
    published = json.dumps(rows, ensure_ascii=False) + (stored.description or "") + json.dumps(
        run.parameters, ensure_ascii=False)
    for secret in PERSONAL:
        assert secret not in published and secret not in inside
    with unit_of_work(ledger_ctx.sessions) as session:
        audit = session.scalar(select(AuditEvent).where(AuditEvent.kind == "ledger_exported"))
    assert audit.actor == f"prefect:{run.id}"
    assert (audit.detail["under"], audit.detail["rows"], audit.detail["mode"]) == (
        "990102", 3, "deidentified")


def test_a_bad_argument_fails_the_run_naming_the_field_and_writes_nothing(
    prefect_server, sqlite_only, ledger_ctx, out_dir
):
    from flows.exports import ledger_export

    register_runtime_factory(lambda: ledger_ctx)
    with pytest.raises(InputError) as refused:
        ledger_export(form=4, under="990102", out=str(out_dir / "form4.xlsx"),
                      first="2026-10-31", last="2026-10-01")
    assert refused.value.field == "from"
    assert list(out_dir.iterdir()) == []


async def test_monthly_statistics_flow_sends_on_the_months_first_working_day_only(
    prefect_server, sqlite_only, september, sink
):
    from flows.digests import monthly_statistics

    register_runtime_factory(lambda: september)
    holiday = await monthly_statistics(as_of=at("2023-10-02T08:30"))  # National Day Monday
    makeup = await monthly_statistics(as_of=at("2023-10-07T08:30"))  # make-up Saturday
    again = await monthly_statistics(as_of=at("2023-10-07T09:30"))

    assert (holiday["statistics_planned"], makeup["statistics_planned"],
            again["statistics_planned"]) == (0, 3, 0)
    assert sorted(m["To"] for m in all_monthly(sink)) == [
        "sup.county@example.org", "sup.dhz@example.org", "sup.ns@example.org"]
    runs = await flow_runs()
    assert {"monthly statistics 2023-10-02", "monthly statistics 2023-10-07"} <= set(runs)
    assert set(runs["monthly statistics 2023-10-07"].parameters) == {"as_of"}
