"""Batch intake (`weiquan intake --batch FILE.jsonl`) on a real database: good lines stored by
the single intake's rules, bad lines refused by number and field with nothing of them
stored, repeated external_refs stored once, one owed flow run for the whole import."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app.cli import main
from models.runtime.clock import FixedClock
from models.runtime.bootstrap import Runtime, build_runtime
from models.runtime.settings import Settings
from models.db.orm import AuditEvent, Case, CaseImport, FlowTrigger, Notice, Party, VisitPlan
from models.db.session import unit_of_work
from models.intake_schema import parse_intake
from models.service.batch_intake import IMPORT_FLOW, import_intakes
from models.service.calendar import current_calendar
from models.service.intake import take_in
from tests.conftest import FIXED_NOW, SHARED, _postgres_url, point_the_command_at

INTAKE = SHARED / "contract" / "intake"


def document(name: str, **changes) -> dict:
    data = json.loads((INTAKE / f"{name}.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


def line(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def counts(ctx: Runtime) -> dict[str, int]:
    with unit_of_work(ctx.sessions) as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Case, Party, AuditEvent, Notice, VisitPlan, FlowTrigger)}


@pytest.fixture
def cli_env(monkeypatch, demo_ctx):
    point_the_command_at(monkeypatch, settings=demo_ctx.settings)
    return demo_ctx


@pytest.fixture
def mixed_file(tmp_path) -> Path:
    no_offset = document("land_rights_ordinary", external_ref="line-5",
                         received_at="2026-02-13T15:40:00", summary="第五行：不应存储")
    lines = [
        line(document("dv_strangulation")),                      # 1 stored
        '{"channel": "visit", ',                                  # 2 malformed JSON
        "",                                                       # 3 blank: skipped
        line(document("land_rights_ordinary")),                  # 4 stored (no external_ref)
        line(no_offset),                                          # 5 refused: received_at
        line(document("dv_strangulation", summary="重复")),        # 6 external_ref repeated
        line(document("land_rights_ordinary", external_ref="line-7",
                      jurisdiction="990199999999")),              # 7 refused: jurisdiction
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_batch_stores_the_good_lines_and_names_each_refused_line(cli_env, mixed_file, capsys):
    status = main(["intake", "--batch", str(mixed_file)])

    out, err = capsys.readouterr()
    assert status == 2
    assert out.strip().splitlines()[-1] == "stored 2, already known 1, refused 3"
    assert "一般个案" in out  # tiers in words, not codes
    assert "line 2: (document): malformed JSON" in err
    assert "line 5: received_at: a time must carry its UTC offset" in err
    assert "line 7: jurisdiction: 990199999999 is not in the jurisdiction registry" in err
    assert "line 6: external_ref 12338-990102-2026-000123 already stored as WQ-2026-000001" in err
    with unit_of_work(cli_env.sessions) as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert [(c.number, c.external_ref) for c in cases] == [
            ("WQ-2026-000001", "12338-990102-2026-000123"), ("WQ-2026-000002", None)]
        assert {c.summary for c in cases}.isdisjoint({"第五行：不应存储", "重复"})
        assert session.scalar(select(func.count()).select_from(Party)) == sum(
            len(c.parties) for c in cases)
        record = session.scalars(select(CaseImport)).one()
        assert (record.source, record.stored, record.known, record.refused) == (
            "cases.jsonl", 2, 1, 3)
        assert {c.import_id for c in cases} == {record.id}
        (trigger,) = session.scalars(select(FlowTrigger)).all()  # one for the import, none per case
        assert (trigger.flow, trigger.import_id, trigger.case_id, trigger.status) == (
            IMPORT_FLOW, record.id, None, "pending")


def test_json_summary_and_a_second_run_of_the_same_file_stores_nothing(cli_env, tmp_path, capsys):
    path = tmp_path / "good.jsonl"
    path.write_text(line(document("dv_strangulation")) + "\n"
                    + line(document("land_rights_ordinary", external_ref="lr-1")) + "\n",
                    encoding="utf-8")

    assert main(["intake", "--batch", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    before = counts(cli_env)
    assert main(["intake", "--batch", str(path), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)

    assert (first["stored"], first["already_known"], first["refused"]) == (2, 0, 0)
    assert [c["line"] for c in first["cases"]] == [1, 2]
    assert first["cases"][0]["at_once_notices"] == 6 and first["cases"][1]["at_once_notices"] == 0
    assert (second["stored"], second["already_known"], second["refused"]) == (0, 2, 0)
    assert [k["number"] for k in second["known"]] == [c["number"] for c in first["cases"]]
    assert counts(cli_env) == before  # no case, notice, plan or flow run more


def test_batch_from_stdin_and_usage_errors(cli_env, monkeypatch, capsys):
    import io
    import sys

    data = (line(document("land_rights_ordinary")) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["intake", "--batch", "-"]) == 0
    assert capsys.readouterr().out.strip().endswith("stored 1, already known 0, refused 0")
    assert main(["intake", "--batch", "nowhere.jsonl"]) == 2
    assert "cannot read nowhere.jsonl" in capsys.readouterr().err
    assert main(["intake", "x.json", "--batch", "y.jsonl"]) == 2
    assert main(["intake"]) == 2


def test_repeats_within_a_chunk_and_across_chunks_are_stored_once(demo_ctx):
    docs = [document("land_rights_ordinary", external_ref=f"r-{i % 3}") for i in range(7)]
    report = import_intakes(demo_ctx.sessions, source="r.jsonl",
                            lines=[(n, line(d).encode()) for n, d in enumerate(docs, start=1)],
                            limits=demo_ctx.intake_limits, now=demo_ctx.clock.now(),
                            actor="test", operator_email="op@example.org",
                            cadences=demo_ctx.settings.visit_cadences, chunk_size=2)

    assert [s.line for s in report.stored] == [1, 2, 3]
    assert [(k.line, k.number) for k in report.known] == [
        (n, report.stored[(n - 1) % 3].number) for n in (4, 5, 6, 7)]
    assert counts(demo_ctx)["cases"] == 3


@pytest.fixture
def twin_ctx(request, database_url, tmp_path) -> Iterator[Runtime]:
    """A second fresh database with the demo registry, of the same backend as demo_ctx."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "twin.db"
        shutil.copyfile(request.getfixturevalue("sqlite_demo_template"), path)
        url, drop = f"sqlite:///{path}", None
    else:
        template = request.getfixturevalue("postgres_templates")["demo"]
        name = f"wq_twin_{uuid.uuid4().hex[:10]}"
        admin = create_engine(_postgres_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url, drop = _postgres_url(name), name
    ctx = build_runtime(settings=Settings(data_dir=tmp_path / "twin", database_url=url,
                                          digests_enabled=False),
                        clock=FixedClock(FIXED_NOW), migrate=True)
    yield ctx
    ctx.close()
    if drop is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
        admin.dispose()


def stored_case(ctx: Runtime, case_id: int) -> dict:
    """Everything intake wrote for a case, with the case's own id taken out of keys."""
    with unit_of_work(ctx.sessions) as session:
        case = session.get(Case, case_id)
        notices = session.scalars(select(Notice).where(Notice.case_id == case_id)
                                  .order_by(Notice.id)).all()
        audits = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                 .order_by(AuditEvent.id)).all()
        plan = session.scalar(select(VisitPlan).where(VisitPlan.case_id == case_id))
        return {
            "case": {column: getattr(case, column) for column in (
                "tier", "tier_reason", "risk_level", "risk_reason", "response_due_at",
                "response_due_date", "deadline_provisional", "deadline_rule", "next_check_at",
                "status", "received_at")},
            "parties": [(p.role, p.name, p.phone, p.age, p.address, p.do_not_contact)
                        for p in case.parties],
            "notices": [(n.key.replace(f"case:{case_id}:", "case:ID:"), n.kind,
                         n.recipient_role, n.recipient_jurisdiction, n.contact_id, n.to_address,
                         n.reason, n.status, n.must_confirm, n.due_at, n.next_attempt_at,
                         n.last_error) for n in notices],
            "audits": [(a.kind, a.note, a.detail, a.at) for a in audits],
            "plan": plan and (plan.ledger, plan.level, plan.reason, plan.status,
                              plan.started_at, plan.next_due_at),
        }


def test_a_dv_line_is_stored_exactly_as_its_single_intake(demo_ctx, twin_ctx):
    dv = document("dv_strangulation")
    report = import_intakes(demo_ctx.sessions, source="dv.jsonl",
                            lines=[(1, line(document("land_rights_ordinary")).encode()),
                                   (2, line(dv).encode())],
                            limits=demo_ctx.intake_limits, now=FIXED_NOW, actor="test",
                            operator_email=demo_ctx.settings.operator_email,
                            cadences=demo_ctx.settings.visit_cadences)
    intake = parse_intake(line(dv), limits=twin_ctx.intake_limits, now=FIXED_NOW)
    with unit_of_work(twin_ctx.sessions) as session:
        single, created = take_in(session, intake=intake, calendar=current_calendar(session),
                                  now=FIXED_NOW, actor="test",
                                  operator_email=twin_ctx.settings.operator_email,
                                  cadences=twin_ctx.settings.visit_cadences)
        single_id = single.id

    batched = stored_case(demo_ctx, report.stored[1].case_id)
    assert created and batched == stored_case(twin_ctx, single_id)
    assert len(batched["notices"]) == 6  # police, federation, 12338, secretary, director, call 110
    assert {n[1] for n in batched["notices"]} == {"at_once", "call_110"}
    assert batched["plan"] is not None


@pytest.mark.prefect
async def test_the_service_runs_one_import_flow_named_by_file_and_count(prefect_server, demo_ctx):
    if not demo_ctx.settings.effective_database_url.startswith("sqlite"):
        pytest.skip("the Prefect wiring does not depend on the database backend")
    from prefect.client.orchestration import get_client

    from app.service import dispatch_owed_flows
    from models.runtime.process import register_runtime_factory

    register_runtime_factory(lambda: demo_ctx)
    docs = [document("dv_strangulation"), document("land_rights_ordinary")]
    report = import_intakes(demo_ctx.sessions, source="cases.jsonl",
                            lines=[(n, line(d).encode()) for n, d in enumerate(docs, start=1)],
                            limits=demo_ctx.intake_limits, now=FIXED_NOW, actor="test",
                            operator_email=demo_ctx.settings.operator_email,
                            cadences=demo_ctx.settings.visit_cadences)

    assert await dispatch_owed_flows(demo_ctx) == 1
    with unit_of_work(demo_ctx.sessions) as session:
        trigger = session.scalars(select(FlowTrigger)).one()
    assert trigger.status == "done" and trigger.flow_run_id
    async with get_client() as client:
        run = await client.read_flow_run(trigger.flow_run_id)
        artifacts = await client.read_artifacts()
    assert run.name == "import cases.jsonl (2)"
    assert run.parameters == {"import_id": report.import_id}
    assert run.state.is_completed()
    card = next(a for a in artifacts if a.key == f"case-import-{report.import_id}")
    stored = json.dumps(card.data, ensure_ascii=False)
    assert "刘某某" not in stored and "139-0000-0001" not in stored
    assert report.stored[0].number in stored and report.stored[1].number in stored
