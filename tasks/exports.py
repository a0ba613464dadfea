"""Tasks of the ledger-export flow: the export itself and its artifact — which form, which
subtree and period, how many rows, how it was protected. Never a name, phone or address,
never the file's content, never a password (the flow takes none: see flows/exports.py)."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact

from models.domain.access import Role
from models.domain.ledgers import (
    FORM_TITLES,
    PERSONAL_FORMS,
    ExportMode,
    Requester,
    parse_form,
    parse_period,
)
from models.service.exports import ExportResult, export_ledger
from models.runtime.process import current_runtime

LEDGER_EXPORT_ARTIFACT = "ledger-export"


@task(task_run_name="export form {form} under {under}")
def export_ledger_task(*, form: int, under: str, first: str | None, last: str | None, out: str,
                       actor: str) -> ExportResult:
    """As an operator of the whole registry: 附表3–5 de-identified, 附表1–2 as they are
    (they hold no parties' personal data). Bad arguments raise InputError naming the field,
    and no file is written."""
    context = current_runtime()
    ledger_form = parse_form(form)
    return export_ledger(
        context.sessions, requester=Requester(actor=actor, role=Role.OPERATOR, scope=None),
        form=ledger_form, under=under, period=parse_period(first=first, last=last),
        mode=ExportMode(deidentified=ledger_form in PERSONAL_FORMS), out=Path(out),
        now=context.clock.now())


@task(task_run_name="publish export summary")
def publish_export_summary(*, result: ExportResult, first: str | None, last: str | None) -> None:
    create_table_artifact(
        key=LEDGER_EXPORT_ARTIFACT,
        description=("The latest ledger export made as a flow run: what, for which subtree and "
                     "period, how many rows. Counts only, no personal data."),
        table=[{"form": result.form.value, "title": FORM_TITLES[result.form],
                "under": result.under, "from": first or "", "to": last or "",
                "rows": result.rows, "entries": result.entries, "mode": result.mode}],
    )
