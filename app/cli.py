"""The `weiquan` command. Exit status: 0 done, 2 bad input (nothing stored), 1 failure."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.context import AppContext, build_context
from app.errors import USER_ERRORS, NotFoundError, UsageError
from models.db import repositories as repo
from models.db.session import unit_of_work
from models.intake_schema import parse_intake
from models.service.calendar import current_calendar, load_official_schedule, read_schedule_file
from models.service.intake import take_in
from models.service.registry import load_registry
from models.service.views import case_text, case_view, local_iso

CLI_ACTOR = "cli"
DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        print(f"weiquan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weiquan", description="维权 casework scheduler")
    sub = parser.add_subparsers(dest="command")

    up = sub.add_parser("up", help="start everything: database, Prefect server and UI, the "
                        "flow service and the local mail sink (Ctrl-C stops it)")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo registry")
    up.set_defaults(handler=cmd_up)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command")
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        handler=cmd_db_upgrade)

    intake = sub.add_parser("intake", help="take in a case from intake JSON (a file or -)")
    intake.add_argument("file", help="intake JSON file, or - for standard input")
    intake.add_argument("--json", action="store_true", help="print the stored case as JSON")
    intake.set_defaults(handler=cmd_intake)

    case = sub.add_parser("case", help="look at a case").add_subparsers(dest="case_command")
    show = case.add_parser("show", help="print a stored case")
    show.add_argument("case", help="case number (WQ-2026-000001) or id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_case_show)

    registry = sub.add_parser("registry", help="jurisdictions and contacts (附表1)")
    reg_sub = registry.add_subparsers(dest="registry_command")
    load = reg_sub.add_parser("load", help="load (upsert) the jurisdiction tree and contacts")
    load.add_argument("--jurisdictions", type=Path, help="CSV: code,name,level")
    load.add_argument("--contacts", type=Path,
                      help="CSV: jurisdiction_code,role,name,post,phone,email")
    load.set_defaults(handler=cmd_registry_load)
    reg_sub.add_parser("demo", help="load the demo registry shipped in data/demo").set_defaults(
        handler=cmd_registry_demo)

    calendar = sub.add_parser("calendar", help="the official working-day calendar")
    cal_sub = calendar.add_subparsers(dest="calendar_command")
    cal_load = cal_sub.add_parser("load", help="load a year's official holiday notice "
                                  "(YAML or CSV, see README) and recompute provisional deadlines")
    cal_load.add_argument("file", type=Path)
    cal_load.set_defaults(handler=cmd_calendar_load)
    cal_sub.add_parser("status", help="which years the official schedule covers").set_defaults(
        handler=cmd_calendar_status)
    return parser


def _with_context(run: Callable[[AppContext], int]) -> int:
    context = build_context()
    try:
        return run(context)
    finally:
        context.close()


def cmd_up(args: argparse.Namespace) -> int:
    from app.main_job import run_main_job

    return run_main_job(load_demo=not args.no_demo)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    return _with_context(lambda ctx: print(f"database at head: {ctx.settings.effective_database_url}") or 0)


def _read_input(name: str, *, limit: int) -> bytes:
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(name, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    return data  # parse_intake reports a document over the limit by size


def cmd_intake(args: argparse.Namespace) -> int:
    def run(ctx: AppContext) -> int:
        now = ctx.clock.now()
        raw = _read_input(args.file, limit=ctx.settings.max_intake_bytes)
        intake = parse_intake(raw, limits=ctx.intake_limits, now=now)
        try:
            view, created = _store_intake(ctx, intake, now=now)
        except IntegrityError:
            # Another process stored the same external_ref between our check and our insert.
            view, created = _store_intake(ctx, intake, now=now)
        _print_case(view, as_json=args.json, note=None if created else
                    f"external_ref {intake.external_ref} already stored: nothing new was created")
        return 0

    return _with_context(run)


def _store_intake(ctx: AppContext, intake, *, now) -> tuple[dict[str, Any], bool]:
    with unit_of_work(ctx.sessions) as session:
        case, created = take_in(session, intake=intake, calendar=current_calendar(session),
                                now=now, actor=CLI_ACTOR)
        return case_view(session, case), created


def _print_case(view: dict[str, Any], *, as_json: bool, note: str | None = None) -> None:
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        print(case_text(view))
    if note:
        print(note, file=sys.stderr)


def cmd_case_show(args: argparse.Namespace) -> int:
    def run(ctx: AppContext) -> int:
        with unit_of_work(ctx.sessions) as session:
            case = repo.case_by_key(session, args.case)
            if case is None:
                raise NotFoundError("case", args.case)
            _print_case(case_view(session, case), as_json=args.json)
        return 0

    return _with_context(run)


def cmd_registry_load(args: argparse.Namespace) -> int:
    if args.jurisdictions is None and args.contacts is None:
        raise UsageError("give --jurisdictions and/or --contacts")
    return _load_registry(jurisdictions=args.jurisdictions, contacts=args.contacts)


def cmd_registry_demo(args: argparse.Namespace) -> int:
    return _load_registry(jurisdictions=DEMO_DIR / "jurisdictions.csv",
                          contacts=DEMO_DIR / "contacts.csv")


def _load_registry(*, jurisdictions: Path | None, contacts: Path | None) -> int:
    def run(ctx: AppContext) -> int:
        with unit_of_work(ctx.sessions) as session:
            result = load_registry(session, jurisdictions=jurisdictions, contacts=contacts,
                                   now=ctx.clock.now(), actor=CLI_ACTOR)
        print(f"jurisdictions: {result.jurisdictions_added} added, "
              f"{result.jurisdictions_updated} updated; contacts: {result.contacts_added} "
              f"added, {result.contacts_updated} updated")
        return 0

    return _with_context(run)


def cmd_calendar_load(args: argparse.Namespace) -> int:
    def run(ctx: AppContext) -> int:
        schedule = read_schedule_file(args.file)
        with unit_of_work(ctx.sessions) as session:
            changes = load_official_schedule(session, schedule=schedule, now=ctx.clock.now(),
                                             actor=CLI_ACTOR)
        print(f"{schedule.year}: {len(schedule.holidays)} holidays, "
              f"{len(schedule.makeup_workdays)} make-up workdays loaded ({schedule.source})")
        print(f"{len(changes)} provisional deadline(s) recomputed")
        for change in changes:
            state = "still provisional" if change.still_provisional else "official"
            print(f"  {change.number}: {local_iso(change.old_due_at)} -> "
                  f"{local_iso(change.new_due_at)} ({state})")
        return 0

    return _with_context(run)


def cmd_calendar_status(args: argparse.Namespace) -> int:
    def run(ctx: AppContext) -> int:
        with unit_of_work(ctx.sessions) as session:
            calendar = current_calendar(session)
            loaded = repo.loaded_schedules(session)
        years = sorted(calendar.covered_years)
        print(f"official schedule known for: {years[0]}–{years[-1]} "
              f"({len(years)} years)" if years else "no official years known")
        for schedule in loaded:
            print(f"  {schedule.year}: loaded from {schedule.source}")
        print("deadlines reaching into any other year are provisional")
        return 0

    return _with_context(run)


if __name__ == "__main__":
    raise SystemExit(main())
