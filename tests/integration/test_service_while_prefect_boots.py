"""The flow service while the Prefect server is still booting (a first start on a slow
machine has taken minutes): mail goes out at once without a flow run, intake's flow run
waits untried in its trigger row, and starts once Prefect answers."""

from __future__ import annotations

import asyncio

from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from sqlalchemy import select

from app.service import run_service
from models.db.orm import FlowTrigger
from models.db.session import unit_of_work
from notifications.sink import read_sink
from tests.integration.test_due import take_in_contract


def trigger(ctx, case_id: int) -> FlowTrigger:
    with unit_of_work(ctx.sessions) as session:
        return session.scalar(select(FlowTrigger).where(FlowTrigger.case_id == case_id))


async def wait_for(condition, *, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_mail_goes_out_and_flow_runs_wait_until_prefect_answers(mail_ctx, sink):
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"dispatch_interval_seconds": 0.05})
    case_id = take_in_contract(mail_ctx, "dv_strangulation")
    ready = False
    stop = asyncio.Event()
    # A dead API: a flow run attempted now would fail and count an attempt on the trigger.
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}):
        service = asyncio.create_task(run_service(
            mail_ctx, stop=stop, prefect_ready=lambda: ready, serve_deployments=False))
        try:
            await wait_for(lambda: len(read_sink(sink.directory)) >= 4)
            await asyncio.sleep(0.3)  # several dispatch passes
            waiting = trigger(mail_ctx, case_id)
            assert (waiting.status, waiting.attempts) == ("pending", 0)

            ready = True  # Prefect answers (here: still the dead API, so the run fails)
            await wait_for(lambda: trigger(mail_ctx, case_id).attempts == 1)
        finally:
            stop.set()
            await asyncio.wait_for(service, 30)
    recipients = {m["To"] for m in read_sink(sink.directory)}
    assert {"duty.dhpolice@example.org", "fulian.dhz@example.org", "hotline12338.county@example.org",
            "secretary.donghu@example.org"} <= recipients
