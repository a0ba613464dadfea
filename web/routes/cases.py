"""A case page: the case, its deadlines, notices, referrals, visits and audit timeline.

Casework roles (cadre, supervisor) in whose subtree the case lies see it, personal data
included. A case outside the subtree answers 404, exactly like a case that does not exist;
operators and admins are told that their role sees counts only (403) before any lookup,
which reveals nothing either.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from models.db import repositories as repo
from models.db.orm import Case
from models.db.session import unit_of_work
from models.domain.access import CASEWORK_ROLES, can_open_case
from models.service import case_page
from models.service.views import case_view
from web.deps import Forbidden, Viewer, context_of, current_viewer, render

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
                created: int = 0, visit: int = 0) -> HTMLResponse:
    ctx = context_of(request)
    with unit_of_work(ctx.sessions) as session:
        case = case_in_scope(session, key=key, viewer=viewer)
        page = {
            "case": case,
            "view": case_view(session, case),
            "parties": list(case.parties),
            "timeline": case_page.timeline(session, case),
            "notices": case_page.notices(session, case),
            "referrals": case_page.referrals(session, case),
            "plan": case_page.visit_plan(session, case),
            "visits": case_page.visits(session, case),
            "created": bool(created),
            "visit_recorded": bool(visit),
        }
    return render(request, "case.html", page)
