"""The ledger export as a Prefect flow (`ledger-export`): writes a form (附表1–5) for a
subtree and period into a file on the machine that runs the flow, and publishes a small table
artifact — which form, which subtree and period, how many rows, how it was protected — so the
dashboard lists the exports made this way. The export is audited like any other (who, what,
scope, rows), as `prefect:<flow run id>`.

Passwords never go to Prefect. A flow's parameters are stored in Prefect's database, shown in
its UI and copied into every run of a deployment; a password passed as one would sit there in
clear beside the file it unlocks. So this flow takes no password and makes only exports that
need none: 附表1 and 附表2 as they are (no parties' personal data), 附表3–5 de-identified
(case number, age band, village; no names, phones or addresses). An encrypted export of
附表3–5 is made where the password is typed and kept nowhere: `weiquan ledger export
--password-stdin` or the board's download.

Who runs it: Prefect's UI and API have no accounts; whoever reaches them operates the
machine. The flow acts as an operator of the whole registry, and operators get de-identified
ledgers only (models.domain.ledgers.check_export), so the rule holds whoever presses Run.

Parameters: `form` (1–5), `under` (a division code), `out` (an .xlsx path on the machine that
runs the flow; its directory must exist), `first` and `last` (YYYY-MM-DD, both or neither).
"""

# No `from __future__ import annotations`: a flow served by the main job's runner is
# pickled into a subprocess, where pydantic must find the parameter types themselves.

from prefect import flow, runtime

from flows.runtime import flow_runtime

from tasks.exports import export_ledger_task, publish_export_summary

LEDGER_EXPORT_FLOW = "ledger-export"


def _run_name() -> str:
    parameters = runtime.flow_run.parameters
    return f"ledger export form {parameters['form']} under {parameters['under']}"


@flow(name=LEDGER_EXPORT_FLOW, flow_run_name=_run_name, retries=0)
def ledger_export(*, form: int, under: str, out: str, first: str | None = None,
                  last: str | None = None) -> dict[str, object]:
    flow_runtime()  # in a worker the flow is the entry point: this builds the tasks' runtime
    result = export_ledger_task(form=form, under=under, first=first, last=last, out=out,
                                actor=f"prefect:{runtime.flow_run.id}")
    publish_export_summary(result=result, first=first, last=last)
    return {"form": result.form.value, "under": result.under, "rows": result.rows,
            "entries": result.entries, "mode": result.mode}
