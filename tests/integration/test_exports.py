"""The ledgers as exported files, read back: columns and rows in the manual's words, only the
asker's subtree, encrypted or de-identified, formulas kept as text, refused arguments write
nothing, every export audited."""

from __future__ import annotations

import zipfile
from pathlib import Path

import msoffcrypto
import pytest
from sqlalchemy import select

from app.cli import main
from models.db.orm import AuditEvent
from models.db.session import unit_of_work
from models.domain.access import Role
from models.domain.errors import InputError
from models.domain.ledgers import ExportMode, LedgerForm, Period, Requester, parse_period
from models.service import visits
from models.service.exports import export_ledger
from tests.conftest import point_the_command_at
from tests.integration.ledger_data import act, at, read_xlsx, rows_of, store

PASSWORD = "ledger-password-1"
NAME, PHONE, ADDRESS = "林小红", "139-1234-5678", "东湖村三组12号"
OTHER_NAME, OTHER_PHONE, OTHER_ADDRESS = "王某某", "138-0000-1111", "南山社区5栋"
INJECTION = '=HYPERLINK("http://evil.example","点此")'

COUNTY = Requester(actor="test:county", role=Role.SUPERVISOR, scope="990102")


@pytest.fixture
def out_dir(tmp_path) -> Path:
    """Where exports go: empty, apart from the database's directory."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


@pytest.fixture
def ledger_ctx(demo_ctx):
    """东湖村: a DV family (high-risk ledger) visited twice; 南山社区: a child found by
    screening (high-risk ledger, not visited); 西岭村: a land case (no ledger)."""
    dv = store(demo_ctx, jurisdiction="990102001001", received="2026-10-09T10:00",
               category="domestic_violence", parties=[
                   {"role": "victim", "name": NAME, "phone": PHONE, "address": ADDRESS, "age": 36},
                   {"role": "respondent", "name": "张大强", "age": 40}])
    for when, needs, condition, help_given in (
            ("2026-10-12T15:00", INJECTION, f"{NAME}情绪稳定，孩子正常上学", "+讲解人身安全保护令"),
            ("2026-10-19T16:30", "法律咨询", "张大强已搬离", "联系司法所")):
        act(demo_ctx, dv, when, visits.record_visit, visited_at=at(when), visited_by="陈美华",
            mode="home", met_alone=True, needs=needs, condition=condition, help_given=help_given,
            now=at(when), actor="test")
    store(demo_ctx, jurisdiction="990102002001", received="2026-10-10T09:00",
          category="child_abuse", channel="screening", parties=[
              {"role": "child", "name": OTHER_NAME, "phone": OTHER_PHONE,
               "address": OTHER_ADDRESS, "age": 9}])
    store(demo_ctx, jurisdiction="990102001002", received="2026-10-10T11:00")
    demo_ctx.clock.at = at("2026-11-02T09:00")
    demo_ctx.numbers = {"dv": dv}
    return demo_ctx


def export(ctx, tmp_path: Path, *, requester=COUNTY, form=LedgerForm.FOCUS_FAMILIES,
           under="990102001", period: Period | None = None, password: str | None = PASSWORD,
           deidentified: bool = False, name: str = "ledger.xlsx"):
    out = tmp_path / name
    result = export_ledger(ctx.sessions, requester=requester, form=form, under=under,
                           period=period, out=out,
                           mode=ExportMode(password=password, deidentified=deidentified),
                           now=ctx.clock.now())
    return out, result


def test_form_3_lays_each_family_out_with_its_visits_under_it(ledger_ctx, tmp_path):
    out, result = export(ledger_ctx, tmp_path)
    assert (result.entries, result.rows, result.mode) == (1, 2, "encrypted")
    book = read_xlsx(out, password=PASSWORD)
    assert book.sheetnames == ["附表3", "走访明细"]
    rows = rows_of(book, "附表3")
    assert rows[0] == ("序号", "姓名", "年龄", "联系方式：电话、住址", "重点关注原因", "如何发现")
    number, name, age, contact, reason, found = rows[1]
    assert (number, name, age, contact, found) == (1, NAME, 36, f"{PHONE}\n{ADDRESS}",
                                                   "排查（ ） 求助（√）")
    assert reason.startswith("高风险家庭：")
    assert rows[2] == ("", "入户走访时间", "走访方式、走访人", "基本情况：困难和需求",
                       "家庭中妇女儿童身心健康和情绪状态", "开展的关爱帮扶工作")
    assert rows[3] == ("", "2026-10-12 15:00", "入户走访\n陈美华", INJECTION,
                       f"{NAME}情绪稳定，孩子正常上学", "+讲解人身安全保护令")
    assert rows[4][1] == "2026-10-19 16:30"
    assert len(rows) == 5
    flat = rows_of(book, "走访明细")
    assert flat[0][:7] == ("个案编号", "辖区", "台账类别", "姓名", "年龄", "电话", "住址")
    assert [r[9] for r in flat[1:]] == ["2026-10-12 15:00", "2026-10-19 16:30"]
    assert {r[3] for r in flat[1:]} == {NAME}
    assert {r[8] for r in flat[1:]} == {"求助"}


def test_the_file_is_encrypted_and_the_print_layout_is_set(ledger_ctx, tmp_path):
    out, _ = export(ledger_ctx, tmp_path)
    with out.open("rb") as handle:
        assert msoffcrypto.OfficeFile(handle).is_encrypted()
    assert NAME.encode() not in out.read_bytes() and NAME.encode("utf-16-le") not in out.read_bytes()
    sheet = read_xlsx(out, password=PASSWORD)["附表3"]
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.page_setup.paperSize == 9  # A4
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["D"].width > sheet.column_dimensions["A"].width


def test_another_subtree_is_never_in_the_file(ledger_ctx, tmp_path):
    out, result = export(ledger_ctx, tmp_path, password=None, deidentified=True)
    assert result.entries == 1
    county, _ = export(ledger_ctx, tmp_path, under="990102", name="county.xlsx")
    everything = rows_of(read_xlsx(county, password=PASSWORD), "附表3")
    assert {r[1] for r in everything if isinstance(r[0], int)} == {NAME, OTHER_NAME}
    township = rows_of(read_xlsx(export(ledger_ctx, tmp_path, name="t.xlsx")[0], password=PASSWORD),
                       "走访明细")
    assert not any(OTHER_NAME in str(cell) or OTHER_PHONE in str(cell) for row in township for cell in row)


def test_formula_like_text_stays_text(ledger_ctx, tmp_path):
    out, _ = export(ledger_ctx, tmp_path, password=None, deidentified=True)
    book = read_xlsx(out)
    cell = book["附表3"]["D4"]
    assert (cell.value, cell.data_type) == (INJECTION, "s")
    assert cell.quotePrefix
    with zipfile.ZipFile(out) as archive:
        for member in archive.namelist():
            if member.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(member)


def test_deidentified_has_number_age_band_and_village_and_no_personal_bytes(ledger_ctx, tmp_path):
    out, result = export(ledger_ctx, tmp_path, password=None, deidentified=True)
    assert result.mode == "deidentified"
    rows = rows_of(read_xlsx(out), "附表3")
    assert rows[0] == ("序号", "个案编号", "年龄段", "村（社区）", "重点关注原因", "如何发现")
    assert rows[1][:4] == (1, ledger_ctx.numbers["dv"], "30–39岁", "东湖村")
    assert rows[3][4] == "＊＊情绪稳定，孩子正常上学"
    assert rows[4][4] == "＊＊已搬离"  # the respondent's name is scrubbed too
    with zipfile.ZipFile(out) as archive:
        blob = b"".join(archive.read(member) for member in archive.namelist())
    for secret in (NAME, PHONE, ADDRESS, "张大强"):
        assert secret.encode("utf-8") not in blob, secret


def test_a_period_keeps_the_visits_made_in_it(ledger_ctx, tmp_path):
    out, result = export(ledger_ctx, tmp_path, period=Period(first=at("2026-10-15").date(),
                                                             last=at("2026-10-31").date()))
    assert (result.entries, result.rows) == (1, 1)
    flat = rows_of(read_xlsx(out, password=PASSWORD), "走访明细")
    assert [r[9] for r in flat[1:]] == ["2026-10-19 16:30"]


@pytest.mark.parametrize(("requester", "under", "mode", "field"), [
    (COUNTY, "990102001", ExportMode(), "password"),
    (COUNTY, "990102001", ExportMode(password="short"), "password"),
    (Requester(actor="x", role=Role.SUPERVISOR, scope="990102001"), "990102002", ExportMode(password=PASSWORD), "under"),
    (Requester(actor="x", role=Role.CADRE, scope="990102001001"), "990102001", ExportMode(password=PASSWORD), "under"),
    (Requester(actor="x", role=Role.OPERATOR, scope="990102"), "990102", ExportMode(password=PASSWORD), "deidentified"),
    (COUNTY, "99010x", ExportMode(password=PASSWORD), "under"),
])
def test_refused_exports_name_the_field_and_write_nothing(ledger_ctx, out_dir, requester, under, mode, field):
    with pytest.raises(InputError) as refused:
        export(ledger_ctx, out_dir, requester=requester, under=under,
               password=mode.password, deidentified=mode.deidentified)
    assert refused.value.field == field
    assert list(out_dir.iterdir()) == []


def test_a_cadre_exports_her_village_and_an_operator_a_deidentified_ledger(ledger_ctx, tmp_path):
    cadre = Requester(actor="x", role=Role.CADRE, scope="990102001001")
    assert export(ledger_ctx, tmp_path, requester=cadre, under="990102001001")[1].entries == 1
    ops = Requester(actor="x", role=Role.OPERATOR, scope="990102")
    assert export(ledger_ctx, tmp_path, requester=ops, under="990102", password=None,
                  deidentified=True, name="ops.xlsx")[1].entries == 2


def test_every_export_is_audited_with_who_what_scope_and_rows(ledger_ctx, tmp_path):
    export(ledger_ctx, tmp_path)
    with unit_of_work(ledger_ctx.sessions) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == "ledger_exported")).one()
        assert event.actor == "test:county"
        assert event.detail == {"form": 3, "under": "990102001", "rows": 2, "entries": 1,
                                "mode": "encrypted", "format": "xlsx"}


def test_form_1_has_the_manuals_rows_filled_from_the_registry(ledger_ctx, tmp_path):
    out, result = export(ledger_ctx, tmp_path, form=LedgerForm.CONTACTS, under="990102001001",
                         password=None)
    assert (result.entries, result.mode) == (1, "plain")
    rows = rows_of(read_xlsx(out), "附表1")
    assert rows[0] == ("类别", "部门/人员", "职务", "姓名", "联系电话", "电子邮箱")
    assert rows[1][0] == "东湖村（990102001001）"
    assert rows[2] == ("主要领导联系方式", "书记", "东湖村党支部书记", "王建国", "0577-0000-1001",
                       "secretary.donghu@example.org")
    labels = [r[1] for r in rows[2:]]
    assert labels[:6] == ["书记", "主任", "妇联主席", "公安", "检察院", "法院"]
    assert ("妇女维权有关部门联系方式", "公安", "", "", "", "") in rows  # nobody registered: left to fill
    assert ("", "民政", "东湖村儿童福利主任", "赵小芳", "0577-0000-1004",
            "ertong.donghu@example.org") in rows
    assert ("志愿者及专家联系方式", "律师", "东湖村法律顾问", "周律师", "0577-0000-1005",
            "lawyer.donghu@example.org") in rows


# --- the command ---------------------------------------------------------------------------------

@pytest.fixture
def cli_ledger(monkeypatch, ledger_ctx):
    point_the_command_at(monkeypatch, settings=ledger_ctx.settings)
    return ledger_ctx


@pytest.mark.parametrize(("args", "says"), [
    (["--form", "3", "--under", "990102"], "--password-stdin: form 3 holds names"),
    (["--form", "3", "--under", "990102", "--deidentified", "--from", "2026-10-31",
      "--to", "2026-10-01"], "--from: 2026-10-31 is after --to 2026-10-01"),
    (["--form", "1", "--under", "990102002", "--as", "nobody"], "--as: no active user"),
    (["--form", "1", "--under", "12"], "--under: 12 is not in the jurisdiction registry"),
])
def test_the_command_refuses_with_exit_2_naming_the_field(cli_ledger, out_dir, capsys, args, says):
    out = out_dir / "x.xlsx"
    assert main(["ledger", "export", *args, "--out", str(out)]) == 2
    assert says in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []


def test_an_unknown_form_is_a_usage_error(cli_ledger, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["ledger", "export", "--form", "6", "--under", "990102", "--deidentified",
              "--out", str(tmp_path / "x.xlsx")])
    assert exited.value.code == 2
    assert "--form: invalid choice: 6" in capsys.readouterr().err


def test_the_command_reads_the_password_from_stdin(cli_ledger, tmp_path, capsys, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    out = tmp_path / "f3.xlsx"
    assert main(["ledger", "export", "--form", "3", "--under", "990102", "--password-stdin",
                 "--out", str(out)]) == 0
    assert "2 户，3 行，已加密" in capsys.readouterr().out
    assert rows_of(read_xlsx(out, password=PASSWORD), "附表3")[1][1] == NAME


def test_as_a_user_her_scope_applies(cli_ledger, tmp_path, capsys):
    from models.service import users

    with unit_of_work(cli_ledger.sessions) as session:
        users.add_user(session, username="dhz", password="dhz-password", role="supervisor",
                       jurisdiction_code="990102001", now=cli_ledger.clock.now(), actor="test")
    out = tmp_path / "f.xlsx"
    assert main(["ledger", "export", "--form", "3", "--under", "990102", "--deidentified",
                 "--as", "dhz", "--out", str(out)]) == 2
    assert "--under: 990102 is outside your jurisdiction (990102001)" in capsys.readouterr().err
    assert main(["ledger", "export", "--form", "3", "--under", "990102001", "--deidentified",
                 "--as", "dhz", "--out", str(out)]) == 0
    with unit_of_work(cli_ledger.sessions) as session:
        actor = session.scalars(select(AuditEvent.actor)
                                .where(AuditEvent.kind == "ledger_exported")).one()
    assert actor.endswith(" as dhz")


def test_parse_period_needs_both_ends():
    with pytest.raises(InputError) as refused:
        parse_period(first="2026-10-01", last=None)
    assert refused.value.field == "to"
