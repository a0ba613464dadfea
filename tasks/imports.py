"""Tasks on a batch import: its brief and its artifact. Counts, codes and case numbers only."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from models.db.session import unit_of_work
from models.service.batch_intake import ImportBrief, import_brief
from models.service.views import local_iso
from models.runtime.bootstrap import Runtime
from models.runtime.process import current_runtime


def import_run_name(*, runtime: Runtime, import_id: int) -> str:
    with unit_of_work(runtime.sessions) as session:
        brief = import_brief(session, import_id=import_id)
    return brief.run_name if brief is not None else f"import-{import_id}"


@task(task_run_name="load import {import_id}")
def load_import_brief(import_id: int) -> ImportBrief:
    with unit_of_work(current_runtime().sessions) as session:
        brief = import_brief(session, import_id=import_id)
    if brief is None:
        raise LookupError(f"import id {import_id} does not exist")
    return brief


@task(task_run_name="publish import card {brief.import_id}")
def publish_import_card(brief: ImportBrief) -> None:
    span = f"{brief.numbers[0]} … {brief.numbers[-1]}" if brief.numbers else "—"
    counts = "\n".join(f"| tier {tier} | {count} |" for tier, count in sorted(brief.tiers.items()))
    risks = "\n".join(f"| risk {level} | {count} |"
                      for level, count in sorted(brief.risk_levels.items()))
    create_markdown_artifact(
        key=f"case-import-{brief.import_id}",
        description=f"Import {brief.import_id}: what was stored (no personal data)",
        markdown=(
            f"### {brief.run_name}\n\n"
            f"| field | value |\n|---|---|\n"
            f"| stored | {brief.stored} |\n| already known | {brief.known} |\n"
            f"| refused | {brief.refused} |\n| cases | {span} |\n"
            f"{counts}\n{risks}\n"
            f"| provisional deadlines | {brief.provisional} |\n"
            f"| earliest response due | {local_iso(brief.earliest_due_at) or '—'} |\n"
        ),
    )
