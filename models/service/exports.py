"""Exporting the ledgers (记, 000 工作表格) as print-ready workbooks, guarded and audited.

`export_ledger` checks who asks and for what (`models.domain.ledgers.check_export`), streams
the rows from the database in id order (`yield_per`: a server-side cursor on PostgreSQL,
batches on SQLite) into a constant-memory workbook, encrypts it when it carries personal
data, records the export in the audit trail (who, which form, which subtree and period, how
many rows, encrypted or de-identified) and only then puts the file in place. There is no row
cap: memory stays bounded by the batch, not the ledger.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case as sql_case, or_, select
from sqlalchemy.orm import Session, sessionmaker

from models.db import repositories as repo
from models.db.orm import Case, Contact, Jurisdiction, Party, Visit, VisitPlan
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.domain.ledgers import (
    CONTACT_ROWS,
    FORM_TITLES,
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
    scrub,
)
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
from models.service.stats import StatsReport, statistics
from models.service.visits import VISIT_MODES
from models.service.xlsx import SheetSpec, StreamingWorkbook, staged_output, workbook_into

log = logging.getLogger(__name__)

BATCH = 1000  # rows fetched at a time


@dataclass(frozen=True)
class ExportResult:
    form: LedgerForm
    under: str
    rows: int  # data rows on the flat sheet (附表3: one per visit) or the form (附表1)
    entries: int  # families (附表3) or jurisdictions (附表1)
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
                else:
                    entries, rows = _families_form(session, book, under=code, period=period,
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


# --- statistics ---------------------------------------------------------------------------------

def export_statistics(sessions: sessionmaker[Session], *, requester: Requester, under: str,
                      period: Period, out: Path, now: datetime, checklist: bool = False) -> StatsReport:
    """The statistics (or the 001 checklist filled from them) as xlsx. Counts only — no
    personal data, so no password — but audited like every export."""
    code = check_statistics(requester, under=under)
    with staged_output(out) as partial:
        with unit_of_work(sessions) as session:
            report = statistics(session, under=code, period=period, now=now)
            with workbook_into(partial, password=None) as book:
                if checklist:
                    _checklist_sheet(book, report)
                else:
                    _stats_sheets(book, report)
            repo.add_audit(session, case_id=None, at=now, actor=requester.actor,
                           kind="statistics_exported",
                           note="对照检查表" if checklist else "统计表",
                           detail={"under": code, "from": period.first.isoformat(),
                                   "to": period.last.isoformat(), "rows": len(report.nodes),
                                   "checklist": checklist, "format": "xlsx"})
    return report


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
