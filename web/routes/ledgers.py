"""台账 and 统计 on the board: the user's own subtree, the same rules and audit as the command.

Downloads are POSTs carrying the session's CSRF token (an export writes an audit row, and a
ledger with personal data needs the password typed on the page). The file is written into a
private temporary directory, streamed back and removed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from models.db.orm import Contact, Jurisdiction
from models.db.session import unit_of_work
from models.domain.access import CASEWORK_ROLES, Role
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError, Problem, parse_date
from models.domain.found_families import FoundBy, found_by_label
from models.domain.ledgers import (
    FORM_TITLES,
    HELPER_ROLES,
    MIN_EXPORT_PASSWORD_CHARS,
    PERSONAL_FORMS,
    ExportMode,
    Period,
    Requester,
    check_statistics,
    parse_form,
    parse_period,
)
from models.domain.vocabulary import vocabulary
from models.domain.statistics import PRESETS, TABLE, breakdown, label, preset_period, table_value
from models.service.exports import export_ledger, export_statistics, statistics_filename
from models.intake_schema import parse_found_family
from models.service.found_families import add_found_family
from models.service.helper_log import log_helper_work
from models.service.situation_report import write_situation_report
from models.service.stats import statistics
from models.service.xlsx import XLSX_MEDIA_TYPE as XLSX
from web.deps import Viewer, context_of, current_viewer, render
from web.routes.cases import case_in_scope
from web.security import check_csrf

router = APIRouter()

FIELD_LABELS = {"jurisdiction": "辖区", "reason": "重点关注原因", "found_by": "如何发现",
                "category": "问题类别", "risk_indicators": "风险指标", "name": "姓名",
                "phone": "联系电话", "age": "年龄", "address": "住址", "form": "表格", "under": "辖区", "from": "开始日期", "to": "结束日期",
                "password": "密码", "deidentified": "去标识化", "preset": "时段", "out": "文件",
                "contact": "协助人员", "on": "日期", "work": "完成的工作", "case": "个案"}


def requester_of(viewer: Viewer) -> Requester:
    return Requester(actor=viewer.actor, role=viewer.principal.role, scope=viewer.jurisdiction_code)


def _places(request: Request, viewer: Viewer) -> list[tuple[str, str]]:
    """The nodes she may pick: her subtree (a cadre: her own node)."""
    with unit_of_work(context_of(request).sessions) as session:
        query = select(Jurisdiction.code, Jurisdiction.name).order_by(Jurisdiction.code)
        if viewer.principal.role == Role.CADRE:
            query = query.where(Jurisdiction.code == viewer.jurisdiction_code)
        else:
            query = query.where(Jurisdiction.code.startswith(viewer.jurisdiction_code))
        return [(row.code, row.name) for row in session.execute(query)]


def _helpers(request: Request, viewer: Viewer) -> list[tuple[int, str]]:
    """The helpers whose work she may log: registry experts and volunteers in her subtree."""
    with unit_of_work(context_of(request).sessions) as session:
        rows = session.execute(select(Contact.id, Contact.name, Contact.role)
                               .where(Contact.jurisdiction_code.startswith(viewer.jurisdiction_code),
                                      Contact.role.in_(HELPER_ROLES))
                               .order_by(Contact.jurisdiction_code, Contact.id))
        return [(r.id, f"{r.name}（{vocabulary().label('contact_roles', r.role)}）") for r in rows]


def _ledger_page(request: Request, viewer: Viewer, *, values: dict[str, str],
                 error: str = "", status_code: int = 200, logged: str = "",
                 family: dict[str, Any] | None = None, family_error: str = "",
                 added: str = "") -> HTMLResponse:
    voc = vocabulary()
    return render(request, "ledgers.html", {
        "helpers": _helpers(request, viewer), "logged": logged,
        "family": family or {"jurisdiction": viewer.jurisdiction_code, "indicators": []},
        "family_error": family_error, "added": added,
        "found_by": {way.value: found_by_label(way) for way in FoundBy},
        "categories": voc.groups["categories"], "indicators": voc.groups["risk_indicators"],
        "forms": FORM_TITLES, "personal_forms": {f.value for f in PERSONAL_FORMS},
        "places": _places(request, viewer), "values": values, "error": error,
        "min_password": MIN_EXPORT_PASSWORD_CHARS,
        "operator": viewer.principal.role == Role.OPERATOR}, status_code=status_code)


def _refusal(exc: InputError | Problem) -> str:
    return f"{FIELD_LABELS.get(exc.field, exc.field)}：{exc.reason}"


@router.get("/ledgers", response_class=HTMLResponse)
def ledgers_page(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    return _ledger_page(request, viewer, values={"under": viewer.jurisdiction_code, "form": "3",
                                                 "protect": "password"})


def _download(path: Path, *, filename: str, private: Path, media_type: str = XLSX) -> FileResponse:
    return FileResponse(path, media_type=media_type, background=BackgroundTask(shutil.rmtree, private, True),
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


@router.post("/ledgers/export", response_model=None)
async def ledgers_export(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(form.get(k) or "") for k in ("form", "under", "from", "to", "protect")}
    password = str(form.get("password") or "")
    ctx = context_of(request)
    private = Path(tempfile.mkdtemp(prefix="weiquan-download-"))
    try:
        ledger = parse_form(values["form"] or "")
        mode = ExportMode(password=password if values["protect"] == "password" and ledger in PERSONAL_FORMS else None,
                          deidentified=values["protect"] == "deidentified" and ledger in PERSONAL_FORMS)
        period = parse_period(first=values["from"] or None, last=values["to"] or None)
        out = private / f"附表{ledger.value}.xlsx"
        result = await run_in_threadpool(
            export_ledger, ctx.sessions, requester=requester_of(viewer), form=ledger,
            under=values["under"], period=period, mode=mode, out=out, now=ctx.clock.now())
    except InputError as exc:
        shutil.rmtree(private, ignore_errors=True)
        return _ledger_page(request, viewer, values=values, error=_refusal(exc), status_code=400)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    return _download(out, filename=f"附表{ledger.value}_{result.under}.xlsx", private=private)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@router.post("/cases/{key}/situation-report", response_model=None)
async def situation_report(request: Request, key: str,
                           viewer: Viewer = Depends(current_viewer)) -> Response:
    """The case's 情况报告 as .docx, for the users who may open the case (audited)."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    ctx = context_of(request)
    with unit_of_work(ctx.sessions) as session:
        case_in_scope(session, key=key, viewer=viewer)  # 403 / 404 as the case page
    requester, now = requester_of(viewer), ctx.clock.now()

    def make(private: Path) -> tuple[Path, str, str]:
        out = private / "report.docx"
        written = write_situation_report(ctx.sessions, requester=requester, case_key=key, out=out,
                                         now=now)
        return out, f"情况报告_{written.number}.docx", DOCX

    return await _made_download(request, make)


async def _made_download(request: Request, make: Callable[[Path], tuple[Path, str, str]]) -> Response:
    """Run `make` (off the event loop) in a private directory and send the file it wrote; a
    refusal is a 400 page and leaves nothing behind."""
    private = Path(tempfile.mkdtemp(prefix="weiquan-download-"))
    try:
        out, filename, media_type = await run_in_threadpool(make, private)
    except InputError as exc:
        shutil.rmtree(private, ignore_errors=True)
        return render(request, "error.html", {"title": "请求有误", "message": _refusal(exc)},
                      status_code=400)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    return _download(out, filename=filename, private=private, media_type=media_type)


@router.post("/ledgers/helper-work", response_model=None)
async def helper_work_entry(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    """附表2: a cadre logs what a helper did on a day."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    ctx = context_of(request)
    values = {k: str(form.get(k) or "") for k in ("contact", "on", "work")}
    try:
        if viewer.principal.role not in CASEWORK_ROLES:
            raise InputError(field="contact", reason="operators and admins keep no casework records")
        with unit_of_work(ctx.sessions) as session:
            log_helper_work(session, contact=values["contact"], worked_on=parse_date(values["on"], field="on"),
                            work=values["work"], now=ctx.clock.now(), actor=viewer.actor,
                            scope=viewer.jurisdiction_code)
    except InputError as exc:
        return _ledger_page(request, viewer, values={"under": viewer.jurisdiction_code, "form": "2",
                                                     "protect": "password", **values},
                            error=_refusal(exc), status_code=400, logged="")
    return _ledger_page(request, viewer, values={"under": viewer.jurisdiction_code, "form": "2",
                                                 "protect": "password"}, logged=values["on"])


FAMILY_FIELDS = ("jurisdiction", "reason", "found_by", "category", "name", "phone", "age", "address")


@router.post("/ledgers/families", response_model=None)
async def family_entry(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    """附表3: a cadre or supervisor registers a family found without a complaint, in her own
    subtree (audited as any casework act). Refused input: the form again with every problem,
    422, nothing stored."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    ctx = context_of(request)
    family: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in FAMILY_FIELDS}
    family["indicators"] = [str(v) for v in form.getlist("indicator")]
    values = {"under": viewer.jurisdiction_code, "form": "3", "protect": "password"}
    try:
        if viewer.principal.role not in CASEWORK_ROLES:
            raise InputError(field="jurisdiction", reason="operators and admins keep no casework records")
        found = parse_found_family({**{k: v for k, v in family.items() if k != "indicators"},
                                    "risk_indicators": family["indicators"]})
        with unit_of_work(ctx.sessions) as session:
            case = add_found_family(session, family=found, now=ctx.clock.now(), actor=viewer.actor,
                                    scope=viewer.jurisdiction_code,
                                    operator_email=ctx.settings.operator_email,
                                    cadences=ctx.settings.visit_cadences)
            number = case.number or ""
    except InputError as exc:
        return _ledger_page(request, viewer, values=values, family=family, status_code=422,
                            family_error="；".join(_refusal(p) for p in exc.problems))
    return _ledger_page(request, viewer, values=values, added=number)


def _stats_period(values: dict[str, str], *, today: date) -> Period:
    if values.get("from") or values.get("to"):
        period = parse_period(first=values.get("from") or None, last=values.get("to") or None)
        assert period is not None
        return period
    return preset_period(values.get("preset") or "this_month", today=today)


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, viewer: Viewer = Depends(current_viewer), under: str = "",
               preset: str = "", first: str = "", last: str = "") -> HTMLResponse:
    ctx = context_of(request)
    values = {"under": under or viewer.jurisdiction_code, "preset": preset, "from": first, "to": last}
    report, error = None, ""
    try:
        period = _stats_period(values, today=ctx.clock.now().astimezone(SHANGHAI).date())
        code = check_statistics(requester_of(viewer), under=values["under"])
        with unit_of_work(ctx.sessions) as session:
            report = statistics(session, under=code, period=period, now=ctx.clock.now())
    except InputError as exc:
        error = _refusal(exc)
    return render(request, "stats.html", {
        "report": report, "error": error, "values": values, "presets": PRESETS,
        "places": _places(request, viewer), "table": TABLE, "label": label,
        "cell": table_value, "breakdown": breakdown}, status_code=400 if error else 200)


@router.post("/stats/export", response_model=None)
async def stats_export(request: Request, viewer: Viewer = Depends(current_viewer)) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    ctx = context_of(request)
    values = {k: str(form.get(k) or "") for k in ("under", "preset", "from", "to")}
    checklist = form.get("checklist") == "1"
    requester, now = requester_of(viewer), ctx.clock.now()

    def make(private: Path) -> tuple[Path, str, str]:
        period = _stats_period(values, today=now.astimezone(SHANGHAI).date())
        out = private / "stats.xlsx"
        report = export_statistics(ctx.sessions, requester=requester, under=values["under"],
                                   period=period, out=out, now=now, checklist=checklist)
        return out, statistics_filename(report, checklist=checklist), XLSX

    return await _made_download(request, make)
