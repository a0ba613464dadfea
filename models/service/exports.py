"""Exporting the ledgers (记, 000 工作表格) as print-ready workbooks, guarded and audited.

`export_ledger` checks who asks and for what (`models.domain.ledgers.check_export`), streams
the rows from the database in id order (`yield_per`: a server-side cursor on PostgreSQL,
batches on SQLite) into a constant-memory workbook, encrypts it when it carries personal
data, records the export in the audit trail (who, which form, which subtree and period, how
many rows, encrypted or de-identified) and only then puts the file in place. There is no row
cap: memory stays bounded by the batch, not the ledger.
"""

from __future__ import annotations

import collections
import itertools
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case as sql_case, exists, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from models.db import repositories as repo
from models.db.orm import Case, Contact, Jurisdiction, Notice, Party, Visit, VisitPlan
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.domain.ledgers import (
    CONTACT_ROWS,
    FORM_TITLES,
    HELPER_ROLES,
    REPORTED_TO,
    Column,
    ExportMode,
    LedgerForm,
    Period,
    Requester,
    age_band,
    check_export,
    check_statistics,
    cjk_width,
    found_by,
    how_found,
    in_words,
    reported_to,
    scrub,
)
from models.domain.found_families import NO_ANSWER_OWED
from models.domain.jurisdiction import is_within
from models.domain.notice_kinds import NoticeKind
from models.domain.procedure import STATUS_LABELS
from models.domain.situation_report import ReportFacts, report_source
from models.domain.statistics import (
    CHECKLIST,
    TABLE,
    breakdown,
    checklist_answer,
    checklist_count,
    label as stat_label,
    table_value,
)
from models.domain.visits import Ledger
from models.domain.vocabulary import vocabulary
from models.service.helper_log import WorkEntry, helper_work
from models.service.situation_report import case_facts
from models.service.stats import StatsReport, statistics
from models.service.visits import VISIT_MODES
from models.service.xlsx import SheetSpec, StreamingWorkbook, staged_output, workbook_into

log = logging.getLogger(__name__)

BATCH = 1000  # rows fetched at a time


@dataclass(frozen=True)
class ExportResult:
    form: LedgerForm
    under: str
    rows: int  # data rows on the flat sheet (附表3: one per visit) or the form
    entries: int  # families (附表3), jurisdictions (附表1), helpers (附表2), cases (附表4/5)
    mode: str  # encrypted | deidentified | plain
    path: Path


def export_ledger(sessions: sessionmaker[Session], *, requester: Requester, form: LedgerForm,
                  under: str, period: Period | None, mode: ExportMode, out: Path,
                  now: datetime) -> ExportResult:
    """Write the form for the subtree into `out` (.xlsx). Bad arguments raise InputError and
    write nothing; so does any failure on the way (the file is renamed into place last)."""
    code = check_export(requester, form=form, under=under, mode=mode)
    with staged_output(out) as partial:
        with unit_of_work(sessions) as session:
            if repo.get_jurisdiction(session, code) is None:
                raise InputError(field="under", reason=f"{code} is not in the jurisdiction registry")
            with workbook_into(partial, password=mode.password) as book:
                if form == LedgerForm.CONTACTS:
                    entries, rows = _contacts_form(session, book, under=code)
                elif form == LedgerForm.HELPERS:
                    entries, rows = _helpers_form(session, book, under=code, period=period)
                elif form == LedgerForm.FOCUS_FAMILIES:
                    entries, rows = _families_form(session, book, under=code, period=period,
                                                   deidentified=mode.deidentified)
                elif form == LedgerForm.URGENT:
                    entries, rows = _urgent_form(session, book, under=code, period=period,
                                                 deidentified=mode.deidentified)
                else:
                    entries, rows = _assigned_form(session, book, under=code, period=period,
                                                   deidentified=mode.deidentified)
            detail: dict[str, Any] = {"form": form.value, "under": code, "rows": rows,
                                      "entries": entries, "mode": mode.label, "format": "xlsx"}
            if period is not None:
                detail.update({"from": period.first.isoformat(), "to": period.last.isoformat()})
            repo.add_audit(session, case_id=None, at=now, actor=requester.actor,
                           kind="ledger_exported", note=FORM_TITLES[form], detail=detail)
    log.info("form %s exported by %s for %s: %s rows (%s)", form.value, requester.actor, code,
             rows, mode.label)
    return ExportResult(form=form, under=code, rows=rows, entries=entries, mode=mode.label,
                        path=out)


# --- 附表1 ----------------------------------------------------------------------------------

CONTACT_COLUMNS = (
    Column("类别", cjk_width(12)), Column("部门/人员", cjk_width(6)), Column("职务", cjk_width(12)),
    Column("姓名", cjk_width(7)), Column("联系电话", 18), Column("电子邮箱", 30),
)


def _contacts_form(session: Session, book: StreamingWorkbook, *, under: str) -> tuple[int, int]:
    """The manual's rows for every jurisdiction in the subtree, each filled from the registry
    or left empty (marked) for the office to write in."""
    sheet = book.sheet(SheetSpec("附表1", FORM_TITLES[LedgerForm.CONTACTS], CONTACT_COLUMNS))
    nodes = session.execute(select(Jurisdiction.code, Jurisdiction.name)
                            .where(Jurisdiction.code.startswith(under))
                            .order_by(Jurisdiction.code)).all()
    contacts = session.execute(
        select(Contact.jurisdiction_code, Contact.role, Contact.name, Contact.post, Contact.phone,
               Contact.email)
        .where(Contact.jurisdiction_code.startswith(under))
        .order_by(Contact.jurisdiction_code, Contact.id)
        .execution_options(yield_per=BATCH))
    by_node = itertools.groupby(contacts, key=lambda c: c.jurisdiction_code)
    pending = next(by_node, None)
    rows = 0
    for node in nodes:
        held: list[Any] = []
        if pending is not None and pending[0] == node.code:
            held = list(pending[1])
            pending = next(by_node, None)
        sheet.row([f"{node.name}（{node.code}）"], style="band")
        section = None
        for layout in CONTACT_ROWS:
            found = [c for c in held if c.role in layout.roles]
            first_column = layout.section if layout.section != section else ""
            section = layout.section
            if not found:
                sheet.row([first_column, layout.label, "", "", "", ""], style="to_fill")
            for contact in found:
                sheet.row([first_column, layout.label, contact.post, contact.name, contact.phone,
                           contact.email])
                first_column = ""
            rows += max(1, len(found))
    return len(nodes), rows


# --- 附表3 ----------------------------------------------------------------------------------

LAYOUT_PERSONAL = ("序号", "姓名", "年龄", "联系方式：电话、住址", "重点关注原因", "如何发现")
LAYOUT_DEIDENTIFIED = ("序号", "个案编号", "年龄段", "村（社区）", "重点关注原因", "如何发现")
LAYOUT_VISIT = ("", "入户走访时间", "走访方式、走访人", "基本情况：困难和需求",
                "家庭中妇女儿童身心健康和情绪状态", "开展的关爱帮扶工作")
LAYOUT_WIDTHS = (6, cjk_width(8), cjk_width(8), cjk_width(15), cjk_width(15), cjk_width(15))

FLAT_ENTRY_PERSONAL = (("个案编号", 16), ("辖区", cjk_width(6)), ("台账类别", cjk_width(6)),
                       ("姓名", cjk_width(5)), ("年龄", 6), ("电话", 15), ("住址", cjk_width(10)))
FLAT_ENTRY_DEIDENTIFIED = (("个案编号", 16), ("村（社区）", cjk_width(6)),
                           ("台账类别", cjk_width(6)), ("年龄段", cjk_width(5)))
FLAT_REST = (("重点关注原因", cjk_width(12)), ("如何发现", cjk_width(3)),
             ("入户走访时间", 17), ("走访方式", cjk_width(6)), ("走访人", cjk_width(5)),
             ("单独会见", cjk_width(3)), ("困难和需求", cjk_width(12)),
             ("身心健康和情绪状态", cjk_width(12)), ("关爱帮扶工作", cjk_width(12)))


def _family_rows(session: Session, *, under: str, period: Period | None) -> Iterator[Any]:
    """One row per visit (a family without visits in the period: one row without a visit),
    families in plan id order, visits by time. The family's person is her victim party (the
    first party when none is marked victim)."""
    person = (select(Party.id).where(Party.case_id == Case.id)
              .order_by(sql_case((Party.role == "victim", 0), else_=1), Party.id)
              .limit(1).correlate(Case).scalar_subquery())
    visit_on = Visit.plan_id == VisitPlan.id
    stmt = (
        select(VisitPlan.id.label("plan_id"), VisitPlan.ledger, VisitPlan.reason,
               Case.id.label("case_id"), Case.number, Case.channel, Case.jurisdiction_code,
               Jurisdiction.name.label("place"), Party.name, Party.age, Party.phone, Party.address,
               Visit.id.label("visit_id"), Visit.visited_at, Visit.mode, Visit.visited_by,
               Visit.met_alone, Visit.needs, Visit.condition, Visit.help_given)
        .join(Case, Case.id == VisitPlan.case_id)
        .join(Jurisdiction, Jurisdiction.code == Case.jurisdiction_code)
        .outerjoin(Party, Party.id == person)
        .where(Case.jurisdiction_code.startswith(under))
        .order_by(VisitPlan.id, Visit.visited_at, Visit.id)
    )
    if period is not None:
        visit_on = and_(visit_on, Visit.visited_at >= period.start, Visit.visited_at < period.end)
        # On the ledger at some time in the period.
        stmt = stmt.where(VisitPlan.started_at < period.end,
                          or_(VisitPlan.ended_at.is_(None), VisitPlan.ended_at >= period.start))
    stmt = stmt.outerjoin(Visit, visit_on)
    yield from session.execute(stmt.execution_options(yield_per=BATCH))


def _families_form(session: Session, book: StreamingWorkbook, *, under: str,
                   period: Period | None, deidentified: bool) -> tuple[int, int]:
    title = FORM_TITLES[LedgerForm.FOCUS_FAMILIES]
    layout = book.sheet(SheetSpec("附表3", title, [
        Column(h, w) for h, w in zip(LAYOUT_DEIDENTIFIED if deidentified else LAYOUT_PERSONAL,
                                     LAYOUT_WIDTHS, strict=True)]))
    flat_entry = FLAT_ENTRY_DEIDENTIFIED if deidentified else FLAT_ENTRY_PERSONAL
    flat = book.sheet(SheetSpec("走访明细", f"{title}（走访明细）",
                                [Column(h, w) for h, w in (*flat_entry, *FLAT_REST)]))
    entries = 0
    for _, group in itertools.groupby(_family_rows(session, under=under, period=period),
                                      key=lambda r: r.plan_id):
        entries += 1
        rows = list(group)  # one family's visits: a handful
        family = rows[0]
        secrets = _party_secrets(session, family.case_id) if deidentified else []
        reason = scrub(f"{_ledger_label(family.ledger)}：{in_words(family.reason)}", secrets=secrets)
        if deidentified:
            entry = (entries, family.number, age_band(family.age), family.place)
            flat_family: tuple = (family.number, family.place, _ledger_label(family.ledger),
                                  age_band(family.age))
        else:
            contact = "\n".join(p for p in (family.phone, family.address) if p)
            entry = (entries, family.name or "", family.age, contact)
            flat_family = (family.number, family.place, _ledger_label(family.ledger),
                           family.name or "", family.age, family.phone or "", family.address or "")
        layout.row([*entry, reason, how_found(family.channel)], style="band")
        layout.row(LAYOUT_VISIT, style="subheader")
        visits = [r for r in rows if r.visit_id is not None]
        if not visits:
            layout.row(["", "（本期无走访记录）"])
            flat.row([*flat_family, reason, found_by(family.channel)])
        for visit in visits:
            when = visit.visited_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            notes = [scrub(t or "", secrets=secrets) for t in (visit.needs, visit.condition, visit.help_given)]
            how = VISIT_MODES.get(visit.mode, visit.mode)
            by = scrub(visit.visited_by, secrets=secrets)
            layout.row(["", when, f"{how}\n{by}", *notes])
            flat.row([*flat_family, reason, found_by(family.channel), when, how, by,
                      "是" if visit.met_alone else "否", *notes])
    return entries, flat.data_rows


def _ledger_label(ledger: str) -> str:
    try:
        return vocabulary().label("ledgers", Ledger(ledger).value)
    except ValueError:
        return ledger


def _party_secrets(session: Session, case_id: int) -> list[str]:
    """Every name, phone and address of the case's parties, to keep out of free text."""
    rows = session.execute(select(Party.name, Party.phone, Party.address)
                           .where(Party.case_id == case_id)).all()
    return [value for row in rows for value in row if value]


# --- 附表2 ----------------------------------------------------------------------------------

HELPER_COLUMNS = (
    Column("序号", 6), Column("姓名", cjk_width(5)), Column("联系方式", 18),
    Column("专业职务", cjk_width(8)), Column("主要参与的妇联维权工作任务", cjk_width(12)),
    Column("时间", 12), Column("完成的工作", cjk_width(18)),
)


def _helpers_form(session: Session, book: StreamingWorkbook, *, under: str,
                  period: Period | None) -> tuple[int, int]:
    """Each helper of the subtree (registry experts and volunteers) with her work log under
    her: what the software saw her do and what a cadre typed; an empty log is left to fill."""
    sheet = book.sheet(SheetSpec("附表2", FORM_TITLES[LedgerForm.HELPERS], HELPER_COLUMNS))
    helpers = session.execute(
        select(Contact.id, Contact.name, Contact.phone, Contact.email, Contact.post, Contact.role)
        .where(Contact.jurisdiction_code.startswith(under), Contact.role.in_(HELPER_ROLES))
        .order_by(Contact.jurisdiction_code, Contact.id)).all()
    logs = helper_work(session, contact_ids=[h.id for h in helpers], period=period)
    voc = vocabulary()
    for number, helper in enumerate(helpers, start=1):
        entries = logs[helper.id]
        contact = "\n".join(p for p in (helper.phone, helper.email) if p)
        role = voc.label("contact_roles", helper.role)
        post = f"{role}\n{helper.post}" if helper.post else role
        first = [number, helper.name, contact, post, _tasks(entries)]
        if not entries:
            sheet.row([*first, "", "（待填写）"], style="to_fill")
        for index, entry in enumerate(entries):
            lead = first if index == 0 else ["", "", "", "", ""]
            sheet.row([*lead, entry.on.isoformat(), entry.done])
    return len(helpers), sheet.data_rows


def _tasks(entries: list[WorkEntry]) -> str:
    """主要参与的任务: what her log shows she took part in, counted."""
    counts = collections.Counter(entry.task for entry in entries)
    return "；".join(f"{task} {n} 次" for task, n in counts.items())


# --- 附表4 and 附表5 -------------------------------------------------------------------------

def _case_person(session: Session, case_id: int) -> Any:
    """The matter's person: her victim party (the first party when none is marked victim)."""
    return session.execute(select(Party.name, Party.phone, Party.age).where(Party.case_id == case_id)
                           .order_by(sql_case((Party.role == "victim", 0), else_=1), Party.id)
                           .limit(1)).first()


def _cases_of(session: Session, *, under: str, period: Period | None, where: Any) -> Iterator[Case]:
    stmt = (select(Case).where(Case.jurisdiction_code.startswith(under), where)
            .order_by(Case.received_at, Case.id))
    if period is not None:
        stmt = stmt.where(Case.received_at >= period.start, Case.received_at < period.end)
    yield from session.scalars(stmt.execution_options(yield_per=BATCH))


def _help_lines(facts: ReportFacts) -> str:
    return "\n".join(f"{h.on.isoformat()} {h.what}" + (f"（{h.effect}）" if h.effect else "")
                      for h in facts.help)


def _when(instant: datetime | None) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if instant else ""


URGENT_PERSONAL = (("当事人姓名", cjk_width(5)), ("电话", 15))
URGENT_DEIDENTIFIED = (("个案编号", 16), ("年龄段", cjk_width(5)))
URGENT_REST = (("谁发现", cjk_width(6)), ("案件/问题基本情况", cjk_width(14)),
               ("做了什么工作", cjk_width(14)), ("报告时间", 17),
               *((f"报告给谁：{heading}", cjk_width(7)) for heading in REPORTED_TO),
               ("其他及后续情况", cjk_width(12)))


def _urgent_form(session: Session, book: StreamingWorkbook, *, under: str, period: Period | None,
                 deidentified: bool) -> tuple[int, int]:
    """Every case reported at once (第一时间报告) in the subtree: who was told under the
    manual's four headings, when sent and when confirmed."""
    lead = URGENT_DEIDENTIFIED if deidentified else URGENT_PERSONAL
    sheet = book.sheet(SheetSpec("附表4", FORM_TITLES[LedgerForm.URGENT],
                                 [Column("序号", 6), *(Column(h, w) for h, w in (*lead, *URGENT_REST))]))
    reported = exists().where(Notice.case_id == Case.id, Notice.kind == NoticeKind.AT_ONCE)
    voc = vocabulary()
    count = 0
    for case in _cases_of(session, under=under, period=period, where=reported):
        count += 1
        person = _case_person(session, case.id)
        secrets = _party_secrets(session, case.id) if deidentified else []
        facts = case_facts(session, case)
        notices = session.scalars(select(Notice).where(Notice.case_id == case.id,
                                                       Notice.kind == NoticeKind.AT_ONCE)
                                  .order_by(Notice.created_at, Notice.id)).all()
        told: dict[str, list[str]] = {heading: [] for heading in REPORTED_TO}
        for notice in notices:
            upper = notice.recipient_jurisdiction != case.jurisdiction_code and is_within(
                case.jurisdiction_code, under=notice.recipient_jurisdiction)
            state = (f"已发送 {_when(notice.sent_at)}" if notice.sent_at else
                     voc.label("notice_statuses", notice.status.value))
            if notice.acknowledged_at:
                state += f"，已确认 {_when(notice.acknowledged_at)}"
            told[reported_to(notice.recipient_role, upper=upper)].append(
                f"{voc.label('contact_roles', notice.recipient_role)}（{state}）")
        who = voc.label("channels", case.channel)
        if deidentified:
            first: list[Any] = [case.number, age_band(person.age if person else None)]
        else:
            first = [person.name or "" if person else "", person.phone or "" if person else ""]
            reporter = session.scalar(select(Party.name).where(Party.case_id == case.id,
                                                               Party.role == "reporter").limit(1))
            if reporter:
                who += f"，反映人：{reporter}"
        later = "；".join(p for p in (STATUS_LABELS[case.status],
                                      f"{_when(case.responded_at)} 已答复" if case.responded_at else "",
                                      f"结案回访：{facts.outcome}" if facts.outcome else "",
                                      *facts.next_steps) if p)
        sheet.row([count, *first, who, scrub(facts.problem, secrets=secrets),
                   scrub(_help_lines(facts), secrets=secrets), _when(notices[0].created_at),
                   *("\n".join(told[h]) for h in REPORTED_TO), scrub(later, secrets=secrets)])
    return count, sheet.data_rows


ASSIGNED_COLUMNS = (
    Column("序号", 6), Column("事项名称", cjk_width(10)), Column("事项来源", cjk_width(5)),
    Column("本级接到时间", 17), Column("基本情况", cjk_width(14)),
    Column("核实情况（是否属实）", cjk_width(12)), Column("办理过程", cjk_width(14)),
    Column("办理结果", cjk_width(10)), Column("回访情况", cjk_width(10)),
)


def _assigned_form(session: Session, book: StreamingWorkbook, *, under: str, period: Period | None,
                   deidentified: bool) -> tuple[int, int]:
    """Matters assigned from above, 12338 referrals and public-opinion matters (the channel, or
    public-opinion signs on a matter that came another way)."""
    sheet = book.sheet(SheetSpec("附表5", FORM_TITLES[LedgerForm.ASSIGNED], ASSIGNED_COLUMNS))
    voc = vocabulary()
    count = 0
    for case in _cases_of(session, under=under, period=period, where=true()):
        source = report_source(channel=case.channel, risk_indicators=case.risk_indicators)
        if source is None:
            continue
        count += 1
        secrets = _party_secrets(session, case.id) if deidentified else []
        facts = case_facts(session, case)
        basic = facts.problem + (f"\n交办单位：{case.assigned_by}" if case.assigned_by else "")
        checked = "\n".join(f"{_when(v.at)} {v.method}（{v.with_whom}）：{v.findings}\n"
                            f"结论：{v.veracity}，{v.reasonableness}" for v in facts.verifications) or "未核实"
        if case.responded_at is not None:
            result = f"{_when(case.responded_at)} 已答复"
        elif case.status.value == "not_accepted":
            result = STATUS_LABELS[case.status]
        elif case.response_due_at is None:
            result = NO_ANSWER_OWED
        else:
            result = f"未答复（答复期限 {_when(case.response_due_at)}）"
        result += f"；{STATUS_LABELS[case.status]}" if case.status.value != "not_accepted" else ""
        sheet.row([count, f"{voc.label('categories', case.category)}（{case.number}）", source,
                   _when(case.received_at), scrub(basic, secrets=secrets),
                   scrub(checked, secrets=secrets), scrub(_help_lines(facts), secrets=secrets),
                   result, scrub(facts.outcome or ("；".join(facts.next_steps) or "未回访"),
                                 secrets=secrets)])
    return count, sheet.data_rows


# --- statistics ---------------------------------------------------------------------------------

STATISTICS_NAMES = {False: "统计表", True: "对照检查表"}  # the file and the audit name them so


def export_statistics(sessions: sessionmaker[Session], *, requester: Requester, under: str,
                      period: Period, out: Path, now: datetime, checklist: bool = False) -> StatsReport:
    """The statistics (or the 001 checklist filled from them) as xlsx. Counts only — no
    personal data, so no password — but audited like every export."""
    code = check_statistics(requester, under=under)
    with staged_output(out) as partial:
        with unit_of_work(sessions) as session:
            report = statistics(session, under=code, period=period, now=now)
            _write_statistics(partial, report, checklist=checklist)
            _audit_statistics(session, report=report, actor=requester.actor, now=now,
                              checklist=checklist)
    return report


def statistics_xlsx(session: Session, *, under: str, period: Period, now: datetime, actor: str,
                    mailed_as: str) -> tuple[StatsReport, bytes]:
    """The statistics workbook as bytes, for a mail attachment (the supervisors' monthly
    statistics). Audited as an export like a download: the counts leave the system for a
    mailbox, and the office is audited on who received which counts — `actor` is who made it
    (the system, on its schedule) and `mailed_as` the notice that carries it (its key names
    the recipient). A retry renders again and is audited again: each copy handed to the mail
    server is one export."""
    report = statistics(session, under=under, period=period, now=now)
    with tempfile.TemporaryDirectory(prefix="weiquan-stats-") as private:
        partial = Path(private) / "stats.xlsx"
        _write_statistics(partial, report, checklist=False)
        data = partial.read_bytes()
    _audit_statistics(session, report=report, actor=actor, now=now, checklist=False,
                      mailed_as=mailed_as)
    return report, data


def statistics_filename(report: StatsReport, *, checklist: bool = False) -> str:
    return (f"{STATISTICS_NAMES[checklist]}_{report.under}_{report.period.first.isoformat()}_"
            f"{report.period.last.isoformat()}.xlsx")


def _write_statistics(partial: Path, report: StatsReport, *, checklist: bool) -> None:
    with workbook_into(partial, password=None) as book:
        if checklist:
            _checklist_sheet(book, report)
        else:
            _stats_sheets(book, report)


def _audit_statistics(session: Session, *, report: StatsReport, actor: str, now: datetime,
                      checklist: bool, mailed_as: str | None = None) -> None:
    detail: dict[str, Any] = {"under": report.under, "from": report.period.first.isoformat(),
                              "to": report.period.last.isoformat(), "rows": len(report.nodes),
                              "checklist": checklist, "format": "xlsx"}
    if mailed_as is not None:
        detail["mailed_as"] = mailed_as
    repo.add_audit(session, case_id=None, at=now, actor=actor, kind="statistics_exported",
                   note=STATISTICS_NAMES[checklist], detail=detail)


def _period_title(report: StatsReport) -> str:
    return (f"{report.name}（{report.under}） {report.period.first.isoformat()} 至 "
            f"{report.period.last.isoformat()}")


def _stats_sheets(book: StreamingWorkbook, report: StatsReport) -> None:
    title = f"维权服务工作统计 {_period_title(report)}"
    table = book.sheet(SheetSpec("统计", title, [
        Column("辖区", cjk_width(8)), Column("层级", cjk_width(3)),
        *(Column(stat_label(key), cjk_width(5)) for key in TABLE)]))
    levels = vocabulary().groups["levels"]
    for node in report.nodes:
        table.row([f"{node.name}（{node.code}）", levels.get(node.level, node.level),
                   *(table_value(node.tally, key) for key in TABLE)],
                  style="band" if node.code == report.under else "body")
    kinds = book.sheet(SheetSpec("分类", f"按来源、类别、类型 {_period_title(report)}", [
        Column("分类", cjk_width(6)), Column("项目", cjk_width(14)), Column("件数", 10)]))
    for group, label, count in breakdown(report.root.tally):
        kinds.row([group, label, count])


def _checklist_sheet(book: StreamingWorkbook, report: StatsReport) -> None:
    sheet = book.sheet(SheetSpec("对照检查表", f"妇联组织维权服务工作标准（试行）对照检查表 {_period_title(report)}", [
        Column("服务内容", cjk_width(11)), Column("工作标准", cjk_width(24)),
        Column("现实情况（在括号内打√）", cjk_width(8)), Column("数量", 10),
        Column("前一栏选择“是”或“有”则填写本栏", cjk_width(14))]))
    for row in CHECKLIST:
        standard = ("*" if row.basic else "") + row.standard
        count = checklist_count(row, report.root.tally)
        if count is None:
            sheet.row([row.item, standard, "", "", f"（请填写：{row.fill}）"], style="to_fill")
        else:
            sheet.row([row.item, standard, checklist_answer(row, count), count,
                       f"系统统计（{row.fill}）"])
