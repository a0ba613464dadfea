"""The home page. A cadre lands on 今日待办: what she must act on today — the same items as
her daily digest, read from the one read model (`due_items` for her registry contact,
bucketed by `build_cadre_digest`), so any kind of item the read model learns appears here
and in the mail alike. Everyone else lands on the board."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from models.db.session import read_only
from models.domain.access import Role
from models.domain.digest import build_cadre_digest
from models.service.calendar import current_calendar
from models.service.due_items import due_items
from web.deps import Viewer, context_of, current_viewer, render
from web.routes.cases import require_casework

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(viewer: Viewer = Depends(current_viewer)) -> RedirectResponse:
    return RedirectResponse("/today" if viewer.principal.role == Role.CADRE else "/board",
                            status_code=303)


@router.get("/today", response_class=HTMLResponse)
def today(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    require_casework(viewer)
    ctx = context_of(request)
    now = ctx.clock.now()
    digest = None
    if viewer.contact_id is not None:
        with read_only(ctx.sessions) as session:
            calendar = current_calendar(session)
            items = due_items(session, as_of=now, calendar=calendar, contact_id=viewer.contact_id)
            digest = build_cadre_digest(items=items, as_of=now, calendar=calendar)
    return render(request, "today.html", {"digest": digest, "linked": viewer.contact_id is not None})
