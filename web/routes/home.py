"""The home page. A cadre lands on 今日待办: what she must act on today — the same items as
her daily digest, read from the one read model (`due_items` for her registry contact,
bucketed by `build_cadre_digest`), so any kind of item the read model learns appears here
and in the mail alike. Everyone else lands on the board."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from models.db.session import read_only
from models.domain.access import Role
from models.domain.digest import CadreDigest, DigestLine, DigestSection, build_cadre_digest
from models.service.calendar import current_calendar
from models.service.due_items import due_items
from web.deps import Viewer, context_of, current_viewer, render
from web.paging import Page, asked_page, page_of
from web.routes.cases import require_casework

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(viewer: Viewer = Depends(current_viewer)) -> RedirectResponse:
    return RedirectResponse("/today" if viewer.principal.role == Role.CADRE else "/board",
                            status_code=303)


@dataclass(frozen=True)
class SectionOnPage:
    section: DigestSection  # the whole section: its title and its count
    lines: tuple[DigestLine, ...]  # those of its lines on this page
    first_page: int  # the page its first line is on


def sections_on_page(*, digest: CadreDigest, page: Page) -> list[SectionOnPage]:
    """The digest's sections in order, each with the part of its lines that falls on `page`
    (the lines run on from section to section, most urgent first)."""
    placed, start = [], 0
    for section in digest.sections:
        end = start + len(section.lines)
        placed.append(SectionOnPage(
            section=section,
            lines=section.lines[max(page.first - start, 0):max(page.last - start, 0)],
            first_page=start // page.size + 1))
        start = end
    return placed


@router.get("/today", response_class=HTMLResponse)
def today(request: Request, viewer: Viewer = Depends(current_viewer),
          page: str | None = None) -> HTMLResponse:
    require_casework(viewer)
    asked = asked_page(page)
    ctx = context_of(request)
    now = ctx.clock.now()
    digest = None
    if viewer.contact_id is not None:
        with read_only(ctx.sessions) as session:
            calendar = current_calendar(session)
            items = due_items(session, as_of=now, calendar=calendar, contact_id=viewer.contact_id)
            digest = build_cadre_digest(items=items, as_of=now, calendar=calendar)
    # A busy cadre's list runs to hundreds of lines: a page at a time, with every section's
    # count on each page and a link to where it starts.
    shown = page_of(total=digest.total if digest else 0, asked=asked)
    return render(request, "today.html", {
        "digest": digest, "linked": viewer.contact_id is not None, "page": shown,
        "sections": sections_on_page(digest=digest, page=shown) if digest else [],
        "page_link": lambda number: f"/today?page={number}"})
