"""The flow a batch import is owed: one run for the whole import, not one per case.
Parameter: the import's id, nothing else; the run is named by the file and the number of
cases stored (`import cases.jsonl (1000)`), looked up from the id."""

from __future__ import annotations

from prefect import flow, runtime

from flows.runtime import flow_runtime
from models.service.batch_intake import IMPORT_FLOW
from tasks.cases import record_flow_done
from tasks.imports import import_run_name, load_import_brief, publish_import_card


def _run_name() -> str:
    return import_run_name(runtime=flow_runtime(),
                           import_id=int(runtime.flow_run.parameters["import_id"]))


@flow(name=IMPORT_FLOW, flow_run_name=_run_name, log_prints=False, retries=0)
async def case_import(import_id: int) -> int:
    flow_runtime()  # in a worker the flow is the entry point: its tasks need the runtime
    brief = load_import_brief(import_id)
    publish_import_card(brief)
    record_flow_done(f"{IMPORT_FLOW}:{import_id}", runtime.flow_run.id)
    return brief.stored
