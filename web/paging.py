"""Long lists on a page, a page at a time: the board's overdue items and 今日待办's lines.

A county's board and a busy cadre's list run to hundreds of rows. The counts of all of them
stay on top of each page (totals, the roll-up, the sections' sizes); the rows come a page at
a time, most urgent first, with a page control below (`_pager.html`)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException

PAGE_ROWS = 100
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    pages: int
    total: int
    size: int

    @property
    def first(self) -> int:
        """The 0-based index of the page's first row."""
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        """The 0-based index after the page's last row."""
        return min(self.first + self.size, self.total)


def page_of(*, total: int, asked: int, size: int | None = None) -> Page:
    """The page `asked` for of `total` rows (PAGE_ROWS a page unless `size` says); past the
    end (the list shrank since the link was made) its last page."""
    size = size or PAGE_ROWS
    pages = max(1, -(-total // size))
    return Page(number=min(max(asked, 1), pages), pages=pages, total=total, size=size)


def asked_page(value: str | None) -> int:
    """The `page` of a query string: 1 when absent; 400 naming the field when not a number."""
    if value in (None, ""):
        return 1
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PAGE):
        raise HTTPException(400, f"page：须为 1–{MAX_PAGE} 的整数")
    return int(value)
