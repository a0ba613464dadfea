"""The flow a case is owed once it has been taken in. Parameters: the case id, nothing else.

The run is named by the case number so an operator can find it in the Prefect UI; the
number is looked up from the id so no personal data ever reaches Prefect.
"""

from __future__ import annotations

from prefect import flow, runtime

from flows.runtime import flow_runtime
from models.service.intake import INTAKE_FLOW
from tasks.cases import case_number_for, load_case_brief, publish_case_card, record_flow_done


def _run_name() -> str:
    return case_number_for(runtime=flow_runtime(),
                           case_id=int(runtime.flow_run.parameters["case_id"]))


@flow(name=INTAKE_FLOW, flow_run_name=_run_name, log_prints=False, retries=0)
async def case_intake(case_id: int) -> str:
    flow_runtime()  # in a worker the flow is the entry point: its tasks need the runtime
    brief = load_case_brief(case_id)
    publish_case_card(brief)
    record_flow_done(f"{INTAKE_FLOW}:{case_id}", runtime.flow_run.id)
    return brief.number
