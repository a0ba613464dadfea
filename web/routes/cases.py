"""A case page: the case, its deadlines, notices, referrals, visits and audit timeline.

Casework roles (cadre, supervisor) in whose subtree the case lies see it, personal data
included. A case outside the subtree answers 404, exactly like a case that does not exist;
operators and admins are told that their role sees counts only (403) before any lookup,
which reveals nothing either.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case
from models.db.session import read_only, unit_of_work
from models.domain.access import CASEWORK_ROLES, can_open_case
from models.domain.casework import planned_order_reminders
from models.domain.errors import InputError, check_text, parse_aware_time, parse_date
from models.domain.situation_report import report_source
from models.service import case_page
from models.service.calendar import current_calendar
from models.service.casework_records import current_protection_order
from models.service.visits import VISIT_MODES, active_plan, record_visit
from models.service.situation_report import report_written
from models.service.views import follow_up_view
from web.deps import Forbidden, Viewer, context_of, current_viewer, place_name, render
from web.forms import local_input_value, with_beijing_offset
from web.security import check_csrf

router = APIRouter()

COUNTS_ONLY = "您的角色（运维/管理员）只能查看统计数字，不能查看个案内容。"


def require_casework(viewer: Viewer) -> None:
    if viewer.principal.role not in CASEWORK_ROLES:
        raise Forbidden(COUNTS_ONLY)


def case_in_scope(session: Session, *, key: str, viewer: Viewer) -> Case:
    """The case by number (or id) if she may open it; 404 otherwise."""
    require_casework(viewer)
    case = repo.case_by_key(session, key)
    if case is None or not can_open_case(viewer.principal, case_jurisdiction=case.jurisdiction_code):
        raise HTTPException(404)
    return case


@router.get("/cases/{key}", response_class=HTMLResponse)
def case_detail(request: Request, key: str, viewer: Viewer = Depends(current_viewer),
                created: int = 0, visit: int = 0, done: str = "") -> HTMLResponse:
    ctx = context_of(request)
    now = ctx.clock.now()
    # The page only reads: a read_only unit of work, which on SQLite does not queue for the
    # write lock behind intakes and acts. Who read the case is written in a unit of work of
    # its own, only when a read row is owed (once per reader per 10 minutes), before the page
    # with the personal data is sent.
    with read_only(ctx.sessions) as session:
        case = case_in_scope(session, key=key, viewer=viewer)
        read_row_owed = not case_page.opened_recently(session, case_id=case.id,
                                                      actor=viewer.actor, at=now)
        order = current_protection_order(session, case)
        page = {
            "case": case,
            # What the page shows of `case_view` (the rest it reads itself, below): the
            # whole view is a dozen more queries, and the case page is the most opened.
            "jurisdiction_name": place_name(session, code=case.jurisdiction_code),
            "follow_up": follow_up_view(session, case=case),
            "parties": list(case.parties),
            "timeline": case_page.timeline(session, case),
            "notices": case_page.notices(session, case),
            "referrals": case_page.referrals(session, case),
            "plan": case_page.visit_plan(session, case),
            "visits": case_page.visits(session, case),
            # the order in force and when its expiry is recalled (the reminders' own rule)
            "order": order,
            "order_reminders": [] if order is None or order.until_date is None else [
                r.due_at for r in planned_order_reminders(
                    measure_id=order.id, expires_on=order.until_date,
                    recorded_at=order.recorded_at, calendar=current_calendar(session),
                    policy=ctx.reminder_policy)],
            "created": bool(created),
            "visit_recorded": bool(visit),
            "done": done,
            "report_owed": report_source(channel=case.channel, risk_indicators=case.risk_indicators),
            "report_written": report_written(session, case_id=case.id),
        }
        # Rendered while the rows are still attached: a read_only unit of work ends in a
        # rollback, which expires them.
        response = render(request, "case.html", page)
        case_id = case.id
    if read_row_owed:
        with unit_of_work(ctx.sessions) as session:
            case_page.record_opened(session, case_id=case_id, actor=viewer.actor, at=now)
    return response


# --- recording a return visit (附表3) ----------------------------------------------------------

def _visit_form(request: Request, *, case, plan, values: dict[str, str], errors: dict[str, str],
                status_code: int = 200) -> HTMLResponse:
    return render(request, "visit.html", {"case": case, "plan": plan, "values": values,
                                          "errors": errors, "modes": VISIT_MODES},
                  status_code=status_code)


@router.get("/cases/{key}/visit", response_class=HTMLResponse)
def visit_page(request: Request, key: str, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    ctx = context_of(request)
    with unit_of_work(ctx.sessions) as session:
        case = case_in_scope(session, key=key, viewer=viewer)
        plan = active_plan(session, case)
        values = {"visited_at": local_input_value(ctx.clock.now()),
                  "visited_by": viewer.display_name, "mode": "home"}
        return _visit_form(request, case=case, plan=plan, values=values, errors={},
                           status_code=200 if plan else 409)


@router.post("/cases/{key}/visit", response_class=HTMLResponse)
def visit_submit(request: Request, key: str, viewer: Viewer = Depends(current_viewer),
                 csrf_token: str = Form(""), visited_at: str = Form(""), visited_by: str = Form(""),
                 mode: str = Form(""), met_alone: str = Form(""), needs: str = Form(""),
                 condition: str = Form(""), help_given: str = Form(""),
                 next_visit_on: str = Form("")) -> HTMLResponse:
    check_csrf(request, csrf_token)
    ctx = context_of(request)
    values = {"visited_at": visited_at, "visited_by": visited_by, "mode": mode,
              "met_alone": met_alone, "needs": needs, "condition": condition,
              "help_given": help_given, "next_visit_on": next_visit_on}
    with unit_of_work(ctx.sessions) as session:
        case = case_in_scope(session, key=key, viewer=viewer)
        number = case.number
        try:
            with session.begin_nested():  # a refused visit leaves nothing behind
                _check_typed(values)
                record_visit(session, case=case, visited_at=_time(visited_at),
                             visited_by=visited_by, mode=mode, met_alone=met_alone == "on",
                             needs=needs, condition=condition, help_given=help_given,
                             next_visit_on=_day(next_visit_on), now=ctx.clock.now(),
                             actor=viewer.actor, cadences=ctx.settings.visit_cadences)
        except InputError as error:
            return _visit_form(request, case=case, plan=active_plan(session, case), values=values,
                               errors={p.field: p.reason for p in error.problems}, status_code=422)
    return RedirectResponse(f"/cases/{number}?visit=1", status_code=303)


MAX_VISITED_BY_CHARS = 100  # the visits table's width


def _check_typed(values: dict[str, str]) -> None:
    """Control characters and over-long names are refused before they reach the database
    (PostgreSQL refuses a NUL; a too-long name would fail there as a server error)."""
    for field, value in values.items():
        check_text(value, field=field,
                   max_chars=MAX_VISITED_BY_CHARS if field == "visited_by" else None)


def _time(value: str) -> datetime:
    return parse_aware_time(with_beijing_offset(value), field="visited_at",
                            reason="请填写回访时间（年-月-日 时:分）")


def _day(value: str) -> date | None:
    if not value.strip():
        return None
    return parse_date(value, field="next_visit_on", reason="请填写日期（年-月-日）")
