"""Writing print-ready workbooks in bounded memory, and putting them in place only when whole.

XlsxWriter's constant_memory mode flushes each row to a temporary file as the next one
starts, so a 100,000-row ledger costs what one row costs; rows must therefore arrive in
order, fully formed, which is how the exports stream them from the database.

Every sheet prints on A4 landscape, one page wide, with its header row repeated on each page
and frozen on screen; columns are as wide as the layout says (a Chinese character is about
two units) and cells wrap, each row as tall as its longest cell needs (LibreOffice does not
fit a row to wrapped text on opening, so the height is written). Strings are always
written as strings (never formulas or links); one that a spreadsheet could take for a
formula (= + - @) also carries the quote-prefix ("text") flag, so it stays text when edited.

A file with personal data is encrypted with the password (ECMA-376 agile encryption, what
Excel and LibreOffice open with a password). The plain workbook is written only into a
private temporary directory; the destination receives the finished (encrypted) file by
rename, so a failed export leaves no file at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
from msoffcrypto.format.ooxml import OOXMLFile

from models.domain.errors import InputError
from models.domain.ledgers import Column, lines_needed, needs_text_guard

FONT = "宋体"
FONT_SIZE = 10.5
LINE_HEIGHT_POINTS = 14.5
MAX_ROW_LINES = 27  # Excel's row height limit is 409 points
A4 = 9
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STYLES = {
    "header": {"bold": True, "bg_color": "#D9E2F3", "align": "center"},
    "body": {},
    "band": {"bold": True, "bg_color": "#F2F2F2"},
    "subheader": {"italic": True, "bg_color": "#FBFBF0", "font_color": "#404040"},
    "to_fill": {"bg_color": "#FFF2CC"},
}

Cell = str | int | float | None


@dataclass(frozen=True)
class SheetSpec:
    name: str  # the tab (≤ 31 characters)
    title: str  # printed at the top of every page
    columns: Sequence[Column]


class SheetWriter:
    def __init__(self, workbook: StreamingWorkbook, sheet, spec: SheetSpec) -> None:
        self._book, self._sheet, self.spec = workbook, sheet, spec
        self._row = 0
        self.data_rows = 0
        self.row([c.header for c in spec.columns], style="header")

    def row(self, values: Sequence[Cell], *, style: str = "body") -> None:
        lines = 1
        for col, value in enumerate(values):
            if value is None or value == "":
                self._sheet.write_blank(self._row, col, None, self._book.format(style))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                self._sheet.write_number(self._row, col, value, self._book.format(style))
            else:
                text = str(value)
                guarded = needs_text_guard(text)
                self._sheet.write_string(self._row, col, text, self._book.format(style, guarded=guarded))
                lines = max(lines, lines_needed(text, width=self.spec.columns[col].width))
        for col in range(len(values), len(self.spec.columns)):
            self._sheet.write_blank(self._row, col, None, self._book.format(style))
        if lines > 1:
            self._sheet.set_row(self._row, min(lines, MAX_ROW_LINES) * LINE_HEIGHT_POINTS)
        # XlsxWriter keeps two records of every row given a height (row_info; row_sizes, used
        # only to place images, which ledgers have none of) and never drops them, even in
        # constant_memory mode once the row is on disk; the row before this one has been
        # flushed (a row is written out when the next one starts), so they can go —
        # otherwise memory grows with the ledger (bench/export_bench.py).
        self._sheet.row_info.pop(self._row - 1, None)
        self._sheet.row_sizes.pop(self._row - 1, None)
        if style != "header":
            self.data_rows += 1
        self._row += 1


class StreamingWorkbook:
    def __init__(self, path: Path, *, tmpdir: Path) -> None:
        self._book = xlsxwriter.Workbook(str(path), {
            "constant_memory": True, "tmpdir": str(tmpdir),
            # Never turn data into formulas, links or numbers: a ledger cell is what was typed.
            "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        })
        self._formats: dict[tuple[str, bool], object] = {}

    def format(self, style: str, *, guarded: bool = False):
        key = (style, guarded)
        if key not in self._formats:
            props = {"font_name": FONT, "font_size": FONT_SIZE, "text_wrap": True,
                     "valign": "top", "border": 1, **STYLES[style]}
            if guarded:
                props["quote_prefix"] = True
            self._formats[key] = self._book.add_format(props)
        return self._formats[key]

    def sheet(self, spec: SheetSpec) -> SheetWriter:
        sheet = self._book.add_worksheet(spec.name[:31])
        for index, column in enumerate(spec.columns):
            sheet.set_column(index, index, column.width)
        sheet.set_landscape()
        sheet.set_paper(A4)
        sheet.fit_to_pages(1, 0)  # one page wide, as many pages long as it takes
        sheet.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
        sheet.repeat_rows(0)
        sheet.freeze_panes(1, 0)
        sheet.set_header(f"&C&12{_escape(spec.title)}")
        sheet.set_footer("&C第 &P 页，共 &N 页")
        return SheetWriter(self, sheet, spec)

    def close(self) -> None:
        self._book.close()


def _escape(text: str) -> str:
    return text.replace("&", "&&")


@contextmanager
def staged_output(out: Path, *, suffix: str = ".xlsx") -> Iterator[Path]:
    """A partial file beside `out`, renamed onto it when the block ends normally and removed
    when it does not: the destination is either the whole export or untouched."""
    out = out.expanduser()
    if out.suffix.lower() != suffix:
        raise InputError(field="out", reason=f"{out.name!r}: the file name must end in {suffix}")
    if not out.parent.is_dir():
        raise InputError(field="out", reason=f"directory {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise InputError(field="out", reason=f"{str(out)!r} is a directory")
    fd, partial_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)  # mkstemp made it 0600: personal data is readable by its owner only
    partial = Path(partial_name)
    try:
        yield partial
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def workbook_into(partial: Path, *, password: str | None) -> Iterator[StreamingWorkbook]:
    """Write a workbook and leave it in `partial` (encrypted when a password is given). The
    plain workbook and XlsxWriter's row files live in a private directory removed after."""
    private = Path(tempfile.mkdtemp(prefix="weiquan-export-"))
    try:
        plain = private / "ledger.xlsx"
        book = StreamingWorkbook(plain, tmpdir=private)
        try:
            yield book
        finally:
            book.close()
        if password is None:
            shutil.copyfile(plain, partial)
        else:
            with plain.open("rb") as source, partial.open("wb") as target:
                OOXMLFile(source).encrypt(password, target)
    finally:
        shutil.rmtree(private, ignore_errors=True)
