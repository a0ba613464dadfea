"""附表2/4/5 and the 情况报告 on a known data set, read back with openpyxl / python-docx."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import docx
import pytest
from sqlalchemy import select

from app.cli import main
from models.db.orm import AuditEvent, Notice
from models.db.session import unit_of_work
from models.domain.access import Role
from models.domain.errors import InputError
from models.domain.ledgers import ExportMode, LedgerForm, Requester
from models.service import casework_records as records
from models.service.calendar import current_calendar
from models.service.exports import export_ledger
from models.service.helper_log import log_helper_work
from models.service.referrals import record_referral_result, refer
from models.service.situation_report import write_situation_report
from tests.conftest import point_the_command_at
from tests.integration.ledger_data import act, at, read_xlsx, rows_of, store

PASSWORD = "ledger-password-1"
NAME, PHONE = "林小红", "139-1234-5678"
COUNTY = Requester(actor="test:county", role=Role.SUPERVISOR, scope="990102")
MEDIATOR = "tiaojie.dhz@example.org"  # 许调解, 东湖镇人民调解委员会
JUSTICE = "sifa.dhz@example.org"  # 马司法, 东湖镇司法所 (judicial assistant)


def _refer_and_answer(session, *, case, now):
    referral = refer(session, case=case, role="judicial_assistant", contact_key=JUSTICE,
                     purpose="法律援助", now=now, actor="test", calendar=current_calendar(session))
    return referral


@pytest.fixture
def forms_ctx(demo_ctx):
    """An assigned DV matter in 东湖村 (at-once reports made at intake), verified, mediated by
    许调解, referred to 马司法 who answered; a plain land case in 西岭村 (no report owed); a
    12338 referral in 南山社区 (another subtree for 990102001)."""
    dv = store(demo_ctx, jurisdiction="990102001001", received="2026-10-09T10:00",
               channel="assigned", assigned_by="县妇联", category="domestic_violence",
               risk=["suspected_dv"], summary=f"{NAME}反映丈夫多次殴打", parties=[
                   {"role": "victim", "name": NAME, "phone": PHONE, "age": 36},
                   {"role": "reporter", "name": "林母", "age": 60}])
    act(demo_ctx, dv, "2026-10-10T09:00", records.record_verification,
        verified_at=at("2026-10-10T09:00"), method="visit", with_whom="村委会、邻居",
        findings=f"邻居证实{NAME}多次受伤", veracity="true", reasonableness="reasonable",
        now=at("2026-10-10T09:00"), actor="test")
    act(demo_ctx, dv, "2026-10-12T17:00", records.record_mediation, held_on=date(2026, 10, 12),
        mediator=MEDIATOR, outcome="partial", note="双方同意分居", now=at("2026-10-12T17:00"),
        actor="test", operator_email="")
    referral_id = act(demo_ctx, dv, "2026-10-13T09:00", _refer_and_answer,
                      now=at("2026-10-13T09:00")).id
    demo_ctx.clock.at = at("2026-10-15T10:00")
    with unit_of_work(demo_ctx.sessions) as session:
        from models.db.orm import Referral
        record_referral_result(session, referral=session.get(Referral, referral_id),
                               note="已指派律师代理离婚诉讼", by="马司法", at=at("2026-10-15T10:00"),
                               actor="test")
        log_helper_work(session, contact=MEDIATOR, worked_on=date(2026, 10, 20),
                        work="为村妇女讲解人民调解法", now=at("2026-10-20T18:00"), actor="test")
    store(demo_ctx, jurisdiction="990102001002", received="2026-10-10T11:00")
    hotline = store(demo_ctx, jurisdiction="990102002001", received="2026-10-11T09:00",
                    channel="hotline_12338", summary="拖欠抚养费", parties=[
                        {"role": "victim", "name": "王某某", "phone": "138-0000-1111", "age": 30}])
    demo_ctx.clock.at = at("2026-11-02T09:00")
    demo_ctx.numbers = {"dv": dv, "hotline": hotline}
    return demo_ctx


def export(ctx, tmp_path: Path, *, form: LedgerForm, under: str = "990102001",
           password: str | None = PASSWORD, deidentified: bool = False, requester=COUNTY):
    out = tmp_path / f"form{form.value}.xlsx"
    result = export_ledger(ctx.sessions, requester=requester, form=form, under=under, period=None,
                           mode=ExportMode(password=password, deidentified=deidentified), out=out,
                           now=ctx.clock.now())
    return out, result


def test_form_2_logs_what_each_helper_did(forms_ctx, tmp_path):
    out, result = export(forms_ctx, tmp_path, form=LedgerForm.HELPERS, password=None)
    dv = forms_ctx.numbers["dv"]
    rows = rows_of(read_xlsx(out), "附表2")
    assert rows[0] == ("序号", "姓名", "联系方式", "专业职务", "主要参与的妇联维权工作任务", "时间",
                       "完成的工作")
    # 东湖镇's judicial assistant and mediator, then 东湖村's legal adviser (by jurisdiction)
    assert [r[1] for r in rows[1:] if r[1]] == ["马司法", "许调解", "周律师"]
    assert rows[1] == (1, "马司法", "0577-0000-2006\nsifa.dhz@example.org",
                       "司法助理员\n东湖镇司法所", "转介办理 1 次", "2026-10-15",
                       f"办理转介并反馈结果（{dv}：法律援助）")
    assert rows[2] == (2, "许调解", "0577-0000-2007\ntiaojie.dhz@example.org",
                       "人民调解员\n东湖镇人民调解委员会", "调解 1 次；其他 1 次", "2026-10-12",
                       f"主持调解（{dv}）：部分达成")
    assert rows[3] == ("", "", "", "", "", "2026-10-20", "为村妇女讲解人民调解法")
    assert rows[4] == (3, "周律师", "0577-0000-1005\nlawyer.donghu@example.org",
                       "村（社区）法律顾问\n东湖村法律顾问", "", "", "（待填写）")
    assert (result.entries, result.rows, result.mode) == (3, 4, "plain")


def test_form_4_lists_at_once_reports_under_the_manuals_headings(forms_ctx, tmp_path):
    out, result = export(forms_ctx, tmp_path, form=LedgerForm.URGENT)
    rows = rows_of(read_xlsx(out, password=PASSWORD), "附表4")
    assert rows[0] == ("序号", "当事人姓名", "电话", "谁发现", "案件/问题基本情况", "做了什么工作",
                       "报告时间", "报告给谁：党政领导", "报告给谁：公安机关", "报告给谁：有关部门",
                       "报告给谁：上级妇联/12338", "其他及后续情况")
    assert result.entries == 1 and len(rows) == 2
    row = rows[1]
    assert row[:4] == (1, NAME, PHONE, "上级交办，反映人：林母")
    assert row[4] == f"家庭暴力：{NAME}反映丈夫多次殴打"
    assert row[5] == ("2026-10-12 组织调解（调解人：许调解）（部分达成，双方同意分居）\n"
                      "2026-10-13 转介司法助理员：法律援助（2026-10-15 反馈：已指派律师代理离婚诉讼）")
    assert row[6] == "2026-10-09 10:01"
    with unit_of_work(forms_ctx.sessions) as session:
        roles = set(session.scalars(select(Notice.recipient_role).where(Notice.kind == "at_once")))
    assert "police_station" in roles
    assert row[8].startswith("公安派出所（")  # the police under 公安机关
    assert "妇联主席（" in row[10]  # the upper federation


def test_form_4_deidentified_carries_no_name_or_phone(forms_ctx, tmp_path):
    out, _ = export(forms_ctx, tmp_path, form=LedgerForm.URGENT, password=None, deidentified=True)
    data = out.read_bytes()
    rows = rows_of(read_xlsx(out), "附表4")
    assert rows[0][1:3] == ("个案编号", "年龄段")
    assert rows[1][1:4] == (forms_ctx.numbers["dv"], "30–39岁", "上级交办")
    assert rows[1][4] == "家庭暴力：＊＊反映丈夫多次殴打"
    for secret in (NAME, PHONE, "林母"):
        assert secret not in str(rows) and secret.encode() not in data


def test_form_5_holds_the_assigned_12338_and_public_opinion_matters(forms_ctx, tmp_path):
    out, result = export(forms_ctx, tmp_path, form=LedgerForm.ASSIGNED, under="990102")
    rows = rows_of(read_xlsx(out, password=PASSWORD), "附表5")
    dv, hotline = forms_ctx.numbers["dv"], forms_ctx.numbers["hotline"]
    assert rows[0] == ("序号", "事项名称", "事项来源", "本级接到时间", "基本情况",
                       "核实情况（是否属实）", "办理过程", "办理结果", "回访情况")
    assert result.entries == 2 and [r[1] for r in rows[1:]] == [f"家庭暴力（{dv}）",
                                                                f"土地权益（{hotline}）"]
    assert rows[1][2:5] == ("上级交办", "2026-10-09 10:00",
                            f"家庭暴力：{NAME}反映丈夫多次殴打\n交办单位：县妇联")
    assert rows[1][5] == (f"2026-10-10 09:00 走访（村委会、邻居）：邻居证实{NAME}多次受伤\n"
                          "结论：属实，诉求合理")
    assert rows[1][7].startswith("未答复（答复期限 ")
    assert rows[2][2] == "12338转介" and rows[2][5] == "未核实"
    # 990102001 holds only the assigned matter: 南山社区's 12338 matter is another subtree
    out, result = export(forms_ctx, tmp_path, form=LedgerForm.ASSIGNED, under="990102001")
    assert result.entries == 1
    assert "王某某" not in str(rows_of(read_xlsx(out, password=PASSWORD), "附表5"))


def test_forms_4_and_5_need_a_password_or_deidentification(forms_ctx, tmp_path):
    for form in (LedgerForm.URGENT, LedgerForm.ASSIGNED):
        with pytest.raises(InputError) as refused:
            export(forms_ctx, tmp_path, form=form, password=None)
        assert refused.value.field == "password"
    assert list(tmp_path.iterdir()) == [] or all(p.suffix != ".xlsx" for p in tmp_path.iterdir())


def test_a_helper_entry_is_refused_for_a_non_helper_or_a_future_day(forms_ctx):
    with unit_of_work(forms_ctx.sessions) as session:
        with pytest.raises(InputError) as refused:
            log_helper_work(session, contact="secretary.donghu@example.org", worked_on=date(2026, 10, 1),
                            work="x", now=forms_ctx.clock.now(), actor="test")
        assert refused.value.field == "contact" and "not a helper" in refused.value.reason
        with pytest.raises(InputError) as refused:
            log_helper_work(session, contact=MEDIATOR, worked_on=date(2026, 12, 1), work="x",
                            now=forms_ctx.clock.now(), actor="test")
        assert refused.value.field == "on"


# --- the situation report ------------------------------------------------------------------------

def _paragraphs(path: Path) -> list[str]:
    return [p.text for p in docx.Document(str(path)).paragraphs]


def test_the_report_follows_the_manuals_outline_with_the_gaps_marked(forms_ctx, tmp_path):
    out = tmp_path / "report.docx"
    written = write_situation_report(forms_ctx.sessions, requester=COUNTY,
                                     case_key=forms_ctx.numbers["dv"], out=out, now=forms_ctx.clock.now())
    text = _paragraphs(out)
    dv = forms_ctx.numbers["dv"]
    assert text[0] == f"关于上级交办事项（{dv}）办理情况的报告"
    headings = [t for t in text if t[:2] in ("一、", "二、", "三、")]
    assert headings == ["一、交办事项基本情况", "二、核实了解到的情况", "三、办理情况"]
    assert "时间：2026年10月9日（上级交办）" in text
    assert "交办单位：县妇联" in text
    assert f"问题：家庭暴力：{NAME}反映丈夫多次殴打" in text
    assert "1. 时间、方式、对象：2026年10月10日，走访，核实对象：村委会、邻居" in text
    assert f"2. 了解到的实际情况：邻居证实{NAME}多次受伤" in text
    assert "3. 结论：属实；诉求合理" in text
    assert "1. 已提供的帮助及效果：2026年10月12日，组织调解（调解人：许调解）；效果：部分达成，双方同意分居" in text
    assert "2026年10月13日，转介司法助理员：法律援助；效果：2026-10-15 反馈：已指派律师代理离婚诉讼" in text
    assert "2. 下一步计划：列入高风险家庭台账，下次回访 2026-10-16" in text
    assert "答复当事人（2026-10-19前）" in text
    assert "3. 意见建议：【待填写：意见建议】" in text
    assert text[-1] == "【待填写：报告日期】"
    assert written.gaps == 2
    styles = docx.Document(str(out)).styles
    from docx.oxml.ns import qn
    assert styles["Normal"].element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋"
    with unit_of_work(forms_ctx.sessions) as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.kind == "situation_report_written")).one()
        assert (event.actor, event.detail) == ("test:county", {"format": "docx", "gaps": 2})


def test_an_unverified_matter_leaves_section_two_to_the_cadre(forms_ctx, tmp_path):
    out = tmp_path / "r.docx"
    written = write_situation_report(forms_ctx.sessions, requester=COUNTY,
                                     case_key=forms_ctx.numbers["hotline"], out=out,
                                     now=forms_ctx.clock.now())
    text = _paragraphs(out)
    assert "交办单位：12338妇女维权热线" in text
    assert "1. 时间、方式、对象：【待填写：核实的时间、方式、对象】" in text
    assert "3. 结论：【待填写：是否属实、诉求是否合理】" in text
    assert "1. 已提供的帮助及效果：【待填写：已提供的帮助及效果】" in text
    assert written.gaps == 6


def test_the_report_is_refused_outside_the_scope_and_writes_nothing(forms_ctx, tmp_path):
    village = Requester(actor="test:v", role=Role.CADRE, scope="990102001001")
    with pytest.raises(InputError) as refused:
        write_situation_report(forms_ctx.sessions, requester=village,
                               case_key=forms_ctx.numbers["hotline"], out=tmp_path / "r.docx",
                               now=forms_ctx.clock.now())
    assert refused.value.field == "case" and "outside your jurisdiction" in refused.value.reason
    assert list(tmp_path.glob("*.docx")) == []


@pytest.fixture
def cli_forms(monkeypatch, forms_ctx):
    point_the_command_at(monkeypatch, settings=forms_ctx.settings)
    return forms_ctx


def test_the_commands_write_the_report_and_log_work(cli_forms, tmp_path, capsys):
    out = tmp_path / "r.docx"
    assert main(["report", "situation", cli_forms.numbers["dv"], "--out", str(out)]) == 0
    assert "情况报告" in capsys.readouterr().out and out.exists()
    assert main(["ledger", "log", MEDIATOR, "--on", "2026-10-21", "--work", "陪同当事人出庭"]) == 0
    assert "许调解" in capsys.readouterr().out
    assert main(["ledger", "log", MEDIATOR, "--on", "2026-13-01", "--work", "x"]) == 2
    assert "--on:" in capsys.readouterr().err
    assert main(["report", "situation", "WQ-0000-000000", "--out", str(tmp_path / "x.docx")]) == 2
    assert "case: no case" in capsys.readouterr().err
    assert not (tmp_path / "x.docx").exists()
