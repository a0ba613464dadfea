"""The overdue board: the viewer's subtree (or a node inside it), filtered and sorted."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from models.db import repositories as repo
from models.db.session import read_only
from models.domain.access import within_scope
from models.domain.errors import InputError
from models.domain.jurisdiction import Level, normalize_code, parent_of
from models.domain.digest import OVERDUE_LABELS, ItemKind
from models.service.board import BOARD_KINDS, SORT_KEYS, BoardFilter, overdue_board
from models.service.calendar import current_calendar
from web.deps import Viewer, context_of, current_viewer, render
from web.paging import asked_page, page_of

router = APIRouter()

LEVEL_CHOICES = (Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE)


def _int(value: str | None, *, field: str, low: int = 0, high: int = 10_000) -> int:
    if value in (None, ""):
        return low
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise HTTPException(400, f"{field}：须为 {low}–{high} 的整数")
    return int(value)


@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, viewer: Viewer = Depends(current_viewer),
               under: str | None = None, kind: list[str] = Query(default=[]),
               level: str = "", min_days: str | None = None, min_escalation: str | None = None,
               sort: str = "days", order: str = "desc", page: str | None = None) -> HTMLResponse:
    ctx = context_of(request)
    try:
        node_code = normalize_code(under) if under else viewer.jurisdiction_code
    except InputError:  # a malformed place is no place: the same answer as an unknown one
        raise HTTPException(404) from None
    if not within_scope(viewer.principal, node_code):
        raise HTTPException(404)  # not hers: the same answer as "no such place"
    kinds = frozenset(ItemKind(k) for k in kind if k in set(ItemKind)) or frozenset(ItemKind)
    if level and level not in {lv.value for lv in LEVEL_CHOICES}:
        raise HTTPException(400, f"level：未知的层级 {level!r}")
    if sort not in SORT_KEYS:
        sort = "days"
    board_filter = BoardFilter(
        kinds=kinds, level=Level(level) if level else None,
        min_days=_int(min_days, field="min_days"),
        min_escalation=_int(min_escalation, field="min_escalation", high=10),
        sort=sort, descending=order != "asc")
    page_number = asked_page(page)
    with read_only(ctx.sessions) as session:
        node = repo.get_jurisdiction(session, node_code)
        if node is None:
            raise HTTPException(404)
        board = overdue_board(session, as_of=ctx.clock.now(), under=node_code,
                              calendar=current_calendar(session), board_filter=board_filter)
        node_name = node.name
    query = {"under": node_code, "kind": sorted(kinds), "level": level,
             "min_days": board_filter.min_days or "", "min_escalation": board_filter.min_escalation or ""}

    # A supervisor works down the worst first (sorted, filtered) a page at a time, with the
    # counts of all of them above: the totals, the roll-up, the number of items.
    shown = page_of(total=len(board.items), asked=page_number)

    def sort_link(key: str) -> str:
        next_order = "asc" if (sort == key and order != "asc") else "desc"
        return "/board?" + urlencode({**query, "sort": key, "order": next_order}, doseq=True)

    def page_link(number: int) -> str:
        return "/board?" + urlencode({**query, "sort": sort, "order": order, "page": number},
                                     doseq=True)

    return render(request, "board.html", {
        "board": board, "node_name": node_name, "node_code": node_code,
        "rows": board.items[shown.first:shown.last], "page": shown, "page_link": page_link,
        "filter": board_filter, "level": level, "kinds": kinds, "kind_labels": OVERDUE_LABELS,
        "all_kinds": BOARD_KINDS, "level_choices": LEVEL_CHOICES, "sort": sort, "order": order,
        "sort_link": sort_link,
        "drill_link": lambda code: "/board?" + urlencode({**query, "under": code, "sort": sort,
                                                          "order": order}, doseq=True),
        "parent_code": None if node_code == viewer.jurisdiction_code else parent_of(node_code),
    })
