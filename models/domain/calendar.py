"""Working days in mainland China, year by year, as the State Council's holiday notice sets them.

Each year's notice moves rest days: some weekdays become days off and some Saturdays/Sundays
become working days (调休补班). A year is *covered* when its official schedule is known. For an
uncovered year the calendar still answers (from an estimate, or plain Mon–Fri), but it tells
the caller, so that a deadline which relied on a guess is marked provisional and recomputed
when the notice is loaded.

An operator loads a notice as a small file (YAML or CSV, see `parse_schedule`); the parser is
strict and names the line of every mistake, because a wrong calendar silently moves deadlines.

Pure: standard library only at import time (PyYAML is imported when a YAML file is parsed).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from models.domain.errors import InputError, is_iso_date

if TYPE_CHECKING:
    import yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")

ScheduleFormat = Literal["yaml", "csv"]

SATURDAY = 5
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The longest official break so far is about ten days; a longer range is almost surely a typo
# (a wrong month), and accepting it would silently erase weeks of working days.
MAX_RANGE_DAYS = 31
RANGE_SEPARATOR = ".."


class YearScheduleError(InputError):
    """A YearSchedule built in code contradicts itself (files get CalendarFileError instead)."""

    def __init__(self, *, year: int, field: str, reason: str) -> None:
        super().__init__(field=field, reason=f"{reason} (schedule {year})")
        self.year = year


@dataclass(frozen=True)
class YearSchedule:
    """One year's official arrangement: every day off by the notice and every make-up workday.

    `holidays` lists all days off the notice gives, weekend days inside a break included;
    any date in neither set follows the ordinary week (Mon–Fri work, Sat–Sun rest).
    """

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        # Accept any iterable of dates but store frozensets, so schedules compare and hash.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "makeup_workdays", frozenset(self.makeup_workdays))
        for field, days in (("holidays", self.holidays), ("makeup_workdays", self.makeup_workdays)):
            stray = sorted(day for day in days if day.year != self.year)
            if stray:
                raise YearScheduleError(year=self.year, field=field,
                                        reason=f"{stray[0].isoformat()} is not in {self.year}")
        both = sorted(self.holidays & self.makeup_workdays)
        if both:
            raise YearScheduleError(year=self.year, field="makeup_workdays",
                                    reason=f"{both[0].isoformat()} is also a holiday")
        weekday_makeups = sorted(day for day in self.makeup_workdays if not _is_weekend(day))
        if weekday_makeups:
            raise YearScheduleError(year=self.year, field="makeup_workdays",
                                    reason=f"{weekday_makeups[0].isoformat()} is a weekday")

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return not _is_weekend(day)


class CalendarFileError(InputError):
    """A calendar file an operator can fix: names the file, the line and what is wrong.

    `field` is `file:line: key` as far as known; `key` alone is the file's own field name.
    `line` is None only when the problem is not on a line (e.g. the file cannot be read).
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = ":".join(part for part in (source, None if line is None else str(line)) if part)
        super().__init__(field=": ".join(part for part in (where, field) if part), reason=reason)
        self.source = source
        self.line = line
        self.key = field
        # A reason that says it all (e.g. "x.yaml: file not found") is printed as it is.
        self.args = (f"{self.field}: {reason}" if self.field else reason,)


class WorkCalendar:
    """Answers "is this a working day?" for any date, and says whether the answer is official.

    Official schedules decide their years. For any other year the `estimate` callable (if
    given) supplies a best guess; without it the plain Mon–Fri week applies.
    """

    def __init__(
        self,
        *,
        schedules: Iterable[YearSchedule],
        estimate: Callable[[int], YearSchedule] | None = None,
    ) -> None:
        # A later schedule for the same year replaces an earlier one, as with_schedule does.
        self._official: dict[int, YearSchedule] = {s.year: s for s in schedules}
        self._estimate = estimate
        self._estimates: dict[int, YearSchedule] = {}
        # Answers remembered per calendar: a calendar never changes (with_schedule makes a new
        # one), and the due sweep asks the same few hundred dates for every case it plans.
        self._working: dict[date, bool] = {}
        self._added: dict[tuple[date, int], tuple[date, bool]] = {}
        self._first_on_or_after: dict[date, tuple[date, bool]] = {}
        self._between: dict[tuple[date, date], int] = {}

    def __repr__(self) -> str:
        years = sorted(self._official)
        span = f"{years[0]}–{years[-1]}, {len(years)} years" if years else "none"
        return f"WorkCalendar(official: {span}, estimate={self._estimate is not None})"

    @property
    def covered_years(self) -> frozenset[int]:
        """Years whose official schedule is known."""
        return frozenset(self._official)

    def is_covered(self, day: date) -> bool:
        return day.year in self._official

    def is_working_day(self, day: date) -> bool:
        working = self._working.get(day)
        if working is None:
            schedule = self._schedule_for(day.year)
            working = not _is_weekend(day) if schedule is None else schedule.is_working_day(day)
            self._working[day] = working
        return working

    def with_schedule(self, schedule: YearSchedule) -> WorkCalendar:
        """A new calendar with that year's official schedule added or replaced."""
        return WorkCalendar(schedules=[*self._official.values(), schedule], estimate=self._estimate)

    def add_working_days(self, *, start: date, count: int) -> tuple[date, bool]:
        """The count-th working day after start (start itself is never counted).

        The flag is True when every day inspected (start+1 … result) lies in a covered year;
        start's own year does not matter because start is not looked at.
        """
        if count < 0:
            raise ValueError(f"count must be ≥ 0, got {count}")
        found_before = self._added.get((start, count))
        if found_before is not None:
            return found_before
        day, found, covered = start, 0, True
        while found < count:
            day += timedelta(days=1)
            covered = covered and self.is_covered(day)
            if self.is_working_day(day):
                found += 1
        self._added[(start, count)] = (day, covered)
        return day, covered

    def working_days_between(self, *, start: date, end: date) -> int:
        """Working days in (start, end]: start excluded, end included (0 when end == start).
        Remembered: a board or a cadre's list asks it for hundreds of items over a few due
        days, each a walk of every day since."""
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        found_before = self._between.get((start, end))
        if found_before is not None:
            return found_before
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        self._between[(start, end)] = count
        return count

    def first_working_day_on_or_after(self, day: date) -> tuple[date, bool]:
        """The day itself if it is a working day, else the next one; flag as add_working_days."""
        found_before = self._first_on_or_after.get(day)
        if found_before is not None:
            return found_before
        start, covered = day, self.is_covered(day)
        while not self.is_working_day(day):
            day += timedelta(days=1)
            covered = covered and self.is_covered(day)
        self._first_on_or_after[start] = (day, covered)
        return day, covered

    def _schedule_for(self, year: int) -> YearSchedule | None:
        official = self._official.get(year)
        if official is not None or self._estimate is None:
            return official
        if year not in self._estimates:
            self._estimates[year] = self._estimate(year)
        return self._estimates[year]


def _is_weekend(day: date) -> bool:
    return day.weekday() >= SATURDAY


# ---------------------------------------------------------------------------------------------
# Calendar files
#
# YAML:                                        CSV (year = the year of the dates):
#   year: 2027                                   date,kind,note
#   source: 国务院办公厅关于2027年…的通知          2027-01-01,holiday,元旦
#   holidays:            # every day off          2027-02-06..2027-02-13,holiday,春节
#     - 2027-01-01                               2027-02-14,workday,春节调休补班
#     - 2027-02-06..2027-02-13
#   makeup_workdays:     # Saturdays/Sundays worked
#     - 2027-02-14
# ---------------------------------------------------------------------------------------------

HOLIDAY = "holiday"
WORKDAY = "workday"
YAML_KEYS = ("year", "source", "holidays", "makeup_workdays")
YAML_LIST_KIND = {"holidays": HOLIDAY, "makeup_workdays": WORKDAY}
CSV_KINDS = (HOLIDAY, WORKDAY)
CSV_HEADERS = (("date", "kind"), ("date", "kind", "note"))


@dataclass(frozen=True)
class _Entry:
    """One date, or a range of dates, from one line of a calendar file."""

    first: date
    last: date
    kind: str  # HOLIDAY or WORKDAY
    line: int
    field: str

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


def parse_schedule(*, text: str, fmt: ScheduleFormat, source: str) -> YearSchedule:
    """Read one year's notice from a calendar file's text; `source` names the file in errors.

    Raises CalendarFileError at the first mistake, naming its line and reason.
    """
    text = text.removeprefix("\ufeff")  # a BOM from a spreadsheet export is not content
    if fmt == "yaml":
        year, notice, entries, holidays_line = _read_yaml(text, source)
    elif fmt == "csv":
        year, notice, entries, holidays_line = _read_csv(text, source)
    else:
        raise ValueError(f"unknown calendar file format {fmt!r} (expected 'yaml' or 'csv')")
    holidays, makeup_workdays = _validated_days(year=year, entries=entries, source=source)
    if not holidays:
        # A notice always gives days off; a file without any is a wrong or truncated file.
        raise CalendarFileError("no holidays listed (every notice has days off)",
                                source=source, line=holidays_line, field="holidays")
    return YearSchedule(
        year=year,
        holidays=frozenset(holidays),
        makeup_workdays=frozenset(makeup_workdays),
        source=f"{notice} ({source})" if notice else source,
    )


def format_schedule(*, schedule: YearSchedule, fmt: ScheduleFormat) -> str:
    """The calendar-file text for a schedule (consecutive days as ranges); parses back equal.

    Handy as a template: export a known year, edit it into next year's notice.
    """
    if fmt == "yaml":
        lines = [f"year: {schedule.year}",
                 # A JSON string is a valid YAML double-quoted scalar: safe for any source text.
                 f"source: {json.dumps(schedule.source, ensure_ascii=False)}",
                 "holidays:"]
        lines += [f"  - {span}" for span in _spans(schedule.holidays)]
        lines.append("makeup_workdays:" if schedule.makeup_workdays else "makeup_workdays: []")
        lines += [f"  - {span}" for span in _spans(schedule.makeup_workdays)]
    elif fmt == "csv":
        rows = [(span, HOLIDAY) for span in _spans(schedule.holidays)]
        rows += [(span, WORKDAY) for span in _spans(schedule.makeup_workdays)]
        lines = ["date,kind,note"] + [f"{span},{kind}," for span, kind in
                                      sorted(rows, key=lambda row: row[0])]
    else:
        raise ValueError(f"unknown calendar file format {fmt!r} (expected 'yaml' or 'csv')")
    return "\n".join(lines) + "\n"


def _spans(days: frozenset[date]) -> list[str]:
    ordered = sorted(days)
    spans: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == timedelta(days=1):
            j += 1
        first, last = ordered[i], ordered[j]
        spans.append(first.isoformat() if first == last
                     else f"{first.isoformat()}{RANGE_SEPARATOR}{last.isoformat()}")
        i = j + 1
    return spans


def _validated_days(
    *, year: int, entries: list[_Entry], source: str
) -> tuple[set[date], set[date]]:
    """Check every listed day against the year and each other, in file order."""
    line_of: dict[tuple[date, str], int] = {}
    for entry in entries:
        for day in entry.days():
            if day.year != year:
                raise CalendarFileError(f"{day.isoformat()} is not in {year}",
                                        source=source, line=entry.line, field=entry.field)
            if entry.kind == WORKDAY and not _is_weekend(day):
                raise CalendarFileError(
                    f"make-up workday {day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}; "
                    "调休补班 days are Saturdays or Sundays",
                    source=source, line=entry.line, field=entry.field)
            other = WORKDAY if entry.kind == HOLIDAY else HOLIDAY
            if (day, other) in line_of:
                raise CalendarFileError(
                    f"{day.isoformat()} is listed both as a holiday and as a make-up workday "
                    f"(also on line {line_of[(day, other)]})",
                    source=source, line=entry.line, field=entry.field)
            # Repeating a day of the same kind (overlapping ranges) is harmless: keep the first.
            line_of.setdefault((day, entry.kind), entry.line)
    holidays = {day for day, kind in line_of if kind == HOLIDAY}
    makeup_workdays = {day for day, kind in line_of if kind == WORKDAY}
    return holidays, makeup_workdays


def _parse_span(
    raw: str, *, kind: str, line: int, field: str, source: str
) -> _Entry:
    """'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD' (both ends included)."""
    text = raw.strip()
    first_text, separator, last_text = text.partition(RANGE_SEPARATOR)
    first = _parse_date(first_text.strip(), raw=raw, line=line, field=field, source=source)
    last = (_parse_date(last_text.strip(), raw=raw, line=line, field=field, source=source)
            if separator else first)
    if last < first:
        raise CalendarFileError(f"range {text!r} ends before it starts",
                                source=source, line=line, field=field)
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise CalendarFileError(f"range {text!r} is longer than {MAX_RANGE_DAYS} days",
                                source=source, line=line, field=field)
    return _Entry(first, last, kind, line, field)


def _parse_date(text: str, *, raw: str, line: int, field: str, source: str) -> date:
    # Only the plain ISO form: date.fromisoformat would also take '20270101' or '2027-W05-1',
    # which in a hand-written file are more likely slips than intent.
    if is_iso_date(text):
        return date.fromisoformat(text)
    raise CalendarFileError(
        f"not a date: {raw.strip()!r} (expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)",
        source=source, line=line, field=field)


def _parse_year(text: str, *, line: int, source: str) -> int:
    if not re.fullmatch(r"\d{4}", text.strip()):
        raise CalendarFileError(f"not a year: {text.strip()!r} (expected e.g. 2027)",
                                source=source, line=line, field="year")
    return int(text)


_FileContent = tuple[int, str, list[_Entry], int]  # year, notice title, entries, holidays line


def _read_yaml(text: str, source: str) -> _FileContent:
    # PyYAML only here, so importing this module stays stdlib-only. We walk the *node* tree,
    # not the loaded objects: nodes carry line numbers, and their raw text spares us YAML's
    # implicit typing (which would turn 2027-01-01 into a date but 2027-1-1 into a string).
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise CalendarFileError(f"not valid YAML: {exc.problem or exc.context}", source=source,
                                line=None if mark is None else mark.line + 1) from None
    except yaml.YAMLError as exc:
        raise CalendarFileError(f"not valid YAML: {exc}", source=source, line=1) from None
    if root is None:
        raise CalendarFileError("the file is empty", source=source, line=1)
    if not isinstance(root, yaml.MappingNode):
        raise CalendarFileError("expected keys year, source, holidays, makeup_workdays",
                                source=source, line=_line(root))

    fields: dict[str, yaml.Node] = {}
    key_lines: dict[str, int] = {}
    for key_node, value_node in root.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in YAML_KEYS:
            raise CalendarFileError(
                f"unknown key {key!r} (expected {', '.join(YAML_KEYS)})",
                source=source, line=_line(key_node))
        if key in fields:
            raise CalendarFileError(f"given twice (first on line {key_lines[key]})",
                                    source=source, line=_line(key_node), field=key)
        fields[key], key_lines[key] = value_node, _line(key_node)

    if "year" not in fields:
        raise CalendarFileError("missing", source=source, line=_line(root), field="year")
    year_node = fields["year"]
    if not isinstance(year_node, yaml.ScalarNode):
        raise CalendarFileError("expected a year such as 2027", source=source,
                                line=_line(year_node), field="year")
    year = _parse_year(year_node.value, line=_line(year_node), source=source)

    notice = ""
    if "source" in fields:
        source_node = fields["source"]
        if not isinstance(source_node, yaml.ScalarNode) or not source_node.value.strip():
            raise CalendarFileError("expected the notice's title as text", source=source,
                                    line=_line(source_node), field="source")
        notice = source_node.value.strip()

    entries: list[_Entry] = []
    for field, kind in YAML_LIST_KIND.items():
        if field in fields:
            entries += _yaml_list(fields[field], field=field, kind=kind, source=source)
    holidays_line = key_lines.get("holidays", _line(root))
    return year, notice, entries, holidays_line


def _yaml_list(node: yaml.Node, *, field: str, kind: str, source: str) -> list[_Entry]:
    import yaml

    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []  # `makeup_workdays:` with nothing after it: an empty list
    if not isinstance(node, yaml.SequenceNode):
        raise CalendarFileError("expected a list of dates (lines starting with '- ')",
                                source=source, line=_line(node), field=field)
    entries = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode):
            raise CalendarFileError("expected a date or a date range", source=source,
                                    line=_line(item), field=field)
        entries.append(_parse_span(item.value, kind=kind, line=_line(item), field=field,
                                   source=source))
    return entries


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1  # marks count from 0, editors from 1


def _read_csv(text: str, source: str) -> _FileContent:
    header: tuple[str, ...] | None = None
    header_line = 1
    year: int | None = None
    year_line = 0
    entries: list[_Entry] = []
    for line_number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue  # blank lines and comments carry no dates
        cells = [cell.strip() for cell in next(csv.reader([raw]))]
        if header is None:
            header, header_line = tuple(cell.lower() for cell in cells), line_number
            if header not in CSV_HEADERS:
                raise CalendarFileError(
                    f"the first line must be the header date,kind,note (got {raw.strip()!r})",
                    source=source, line=line_number)
            continue
        # The note column may be left off a row, nothing else may be missing or added.
        if not 2 <= len(cells) <= len(header):
            raise CalendarFileError(
                f"expected {len(header)} columns ({','.join(header)}), got {len(cells)}",
                source=source, line=line_number)
        date_text, kind = cells[0], cells[1].lower()
        if kind not in CSV_KINDS:
            raise CalendarFileError(f"unknown kind {cells[1]!r} (expected holiday or workday)",
                                    source=source, line=line_number, field="kind")
        entry = _parse_span(date_text, kind=kind, line=line_number, field="date", source=source)
        if year is None:
            # CSV has no year line: the first date sets it, every other date must agree.
            year, year_line = entry.first.year, line_number
        elif entry.first.year != year:
            raise CalendarFileError(
                f"{entry.first.isoformat()} is not in {year} (all dates must be in one year; "
                f"line {year_line} set {year})",
                source=source, line=line_number, field="date")
        entries.append(entry)
    if header is None:
        raise CalendarFileError("the file is empty (expected the header date,kind,note)",
                                source=source, line=1)
    if year is None:
        raise CalendarFileError("no dates listed, so no year", source=source, line=header_line,
                                field="year")
    return year, "", entries, header_line
