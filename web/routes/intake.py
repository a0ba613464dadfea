"""The online complaint window (网上投诉窗口, standard 001): a cadre types an intake in.

The form becomes the contract's JSON document and goes through `parse_intake` and
`take_in`, the same path as `weiquan intake`: one transaction, nothing half-stored, every
problem shown beside its field.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from models.runtime.bootstrap import Runtime
from models.db.orm import Case, Jurisdiction
from models.db.session import unit_of_work
from models.domain.access import can_open_case, can_take_in
from models.domain.errors import FieldProblem
from models.intake_schema import IntakeValidationError, parse_intake
from models.service.intake import store_intake
from web.deps import Viewer, context_of, current_viewer, render
from web.forms import PARTY_ROWS, form_errors, intake_document, local_input_value, party_row_of
from web.routes.cases import require_casework
from web.security import check_csrf

log = logging.getLogger(__name__)
router = APIRouter()


def _places(ctx: Runtime, viewer: Viewer) -> list[tuple[str, str]]:
    with unit_of_work(ctx.sessions) as session:
        rows = session.scalars(select(Jurisdiction)
                               .where(Jurisdiction.code.startswith(viewer.jurisdiction_code))
                               .order_by(Jurisdiction.code)).all()
        return [(j.code, j.name) for j in rows]


def _form_page(request: Request, viewer: Viewer, *, values: dict[str, Any],
               risk: list[str], errors: dict[str, str], status_code: int = 200) -> HTMLResponse:
    return render(request, "intake.html", {
        "values": values, "risk": set(risk), "errors": errors, "party_rows": range(PARTY_ROWS),
        "places": _places(context_of(request), viewer)}, status_code=status_code)


@router.get("/intake", response_class=HTMLResponse)
def intake_page(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    require_casework(viewer)
    values = {"received_at": local_input_value(context_of(request).clock.now()),
              "jurisdiction": viewer.jurisdiction_code, "channel": "online",
              "party-0-role": "victim"}
    return _form_page(request, viewer, values=values, risk=[], errors={})


@router.post("/intake", response_class=HTMLResponse)
async def intake_submit(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    require_casework(viewer)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(v) for k, v in form.items() if k not in ("csrf_token", "risk_indicators")}
    risk = [str(v) for v in form.getlist("risk_indicators")]
    document = intake_document(values, risk_indicators=risk)
    try:
        number = await run_in_threadpool(_store, context_of(request), viewer, document)
    except IntakeValidationError as exc:
        errors = form_errors(exc.problems, party_rows=party_row_of(document, form=values))
        return _form_page(request, viewer, values=values, risk=risk, errors=errors,
                          status_code=422)
    return RedirectResponse(f"/cases/{number}?created=1", status_code=303)


def _store(ctx: Runtime, viewer: Viewer, document: dict[str, Any]) -> str:
    now = ctx.clock.now()
    intake = parse_intake(json.dumps(document, ensure_ascii=False), limits=ctx.intake_limits, now=now)
    if not can_take_in(viewer.principal, jurisdiction_code=intake.jurisdiction):
        raise IntakeValidationError([FieldProblem("jurisdiction", "不在您的辖区内")])

    def number_of(session: Session, case: Case, created: bool) -> str:
        if not created and not can_open_case(viewer.principal,
                                             case_jurisdiction=case.jurisdiction_code):
            raise IntakeValidationError([FieldProblem(
                "external_ref", "该来件编号已被其他辖区的个案使用")])
        return case.number

    number = store_intake(ctx.sessions, intake=intake, now=now, actor=viewer.actor,
                          operator_email=ctx.settings.operator_email,
                          cadences=ctx.settings.visit_cadences, then=number_of)
    log.info("case %s taken in on the web by %s", number, viewer.username)
    return number
