"""The `weiquan` command. Exit status: 0 done, 2 bad input (nothing stored), 1 failure."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from datetime import datetime, timedelta
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from models.runtime.bootstrap import Runtime, build_runtime
from models.db import repositories as repo
from models.db.orm import Case
from models.db.session import unit_of_work
from models.domain.errors import InputError, NotFoundError, parse_aware_time
from models.domain.jurisdiction import normalize_code
from models.domain.procedure import PauseReason, Status
from models.domain.vocabulary import vocabulary
from models.service import procedure
from models.service.dry_run import preview_due
from models.service.overdue import overdue_report
from models.runtime.sweep import sweep
from models.intake_schema import parse_intake
from models.service.calendar import current_calendar, load_official_schedule, read_schedule_file
from models.service.intake import store_intake
from models.service.registry import load_registry
from models.service.service_status import service_status
from models.service.views import case_text, case_view, local_iso

CLI_ACTOR = "cli"
DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def main(argv: Sequence[str] | None = None, *,
         runtime_factory: Callable[[], Runtime] | None = None) -> int:
    """`runtime_factory` builds the runtime a command runs with (a test passes one with a
    fixed clock); the default reads WEIQUAN_ settings and migrates. The command closes it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    args.runtime_factory = runtime_factory or _migrated_runtime
    try:
        return args.handler(args)
    except InputError as exc:  # subclasses and several problems at once included
        print(f"weiquan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `weiquan … | head`: the reader left; what was done stands
        # Python's documented remedy: point stdout at /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weiquan", description="维权 casework scheduler")
    sub = parser.add_subparsers(dest="command")

    up = sub.add_parser("up", help="start everything: database, Prefect server and UI, the "
                        "flow service and the local mail sink (Ctrl-C stops it)")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo registry")
    up.set_defaults(handler=cmd_up)

    serve = sub.add_parser("serve", help="the flow service alone (no mail sink, board or Prefect "
                           "server): run several on one PostgreSQL database; one leads the "
                           "scheduler, the others stand by")
    serve.add_argument("--no-prefect", action="store_true",
                       help="start no Prefect flow runs (sweeps and digests run without them)")
    serve.set_defaults(handler=cmd_serve)

    status = sub.add_parser("status", help="the scheduler's leader, the outbox and the flow "
                            "runs owed to Prefect")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command")
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(
        handler=cmd_db_upgrade)

    intake = sub.add_parser("intake", help="take in a case from intake JSON (a file or -), or "
                            "many from JSON Lines (--batch)")
    intake.add_argument("file", nargs="?", help="intake JSON file, or - for standard input")
    intake.add_argument("--batch", metavar="FILE.jsonl",
                        help="one intake JSON document a line (or - for standard input): every "
                        "good line is stored, each refused line reported; exit 2 if any was")
    intake.add_argument("--json", action="store_true",
                        help="print the stored case (--batch: the import's summary) as JSON")
    intake.set_defaults(handler=cmd_intake)

    case = sub.add_parser("case", help="look at a case").add_subparsers(dest="case_command")
    show = case.add_parser("show", help="print a stored case")
    show.add_argument("case", help="case number (WQ-2026-000001) or id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_case_show)

    _case_moves(case)
    from app.cli_casework import add_casework_commands  # it imports this module's helpers

    add_casework_commands(sub, case)
    from app.cli_records import add_record_commands  # it imports this module's helpers

    add_record_commands(case)
    from app.cli_users import add_user_commands  # it imports this module's helpers

    add_user_commands(sub)
    from app.cli_ledgers import add_ledger_commands  # it imports this module's helpers

    add_ledger_commands(sub)
    from app.cli_sources import add_source_commands  # it imports this module's helpers

    add_source_commands(sub)

    run_due = sub.add_parser("run-due", help="process everything due up to a time (the same "
                             "code the service runs): plan reminders/escalations, send mail")
    run_due.add_argument("--as-of", help="ISO time with offset (default: now); may lie in the future")
    run_due.add_argument("--dry-run", action="store_true", help="list what would go out, send nothing")
    run_due.set_defaults(handler=cmd_run_due)

    overdue = sub.add_parser("overdue", help="overdue cases and failed notices in a subtree")
    overdue.add_argument("--as-of", help="ISO time with offset (default: now)")
    overdue.add_argument("--under", help="jurisdiction code: only this subtree")
    overdue.add_argument("--json", action="store_true")
    overdue.set_defaults(handler=cmd_overdue)

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


def _case_moves(case: argparse._SubParsersAction) -> None:
    moves = {
        "investigate": ("move to 调查 (investigation)", Status.INVESTIGATING),
        "handle": ("move to 处理 (handling)", Status.HANDLING),
        "close": ("close the case (结案); the answer must be recorded first", Status.CLOSED),
    }
    for name, (help_text, status) in moves.items():
        p = case.add_parser(name, help=help_text)
        p.add_argument("case")
        p.add_argument("--note", default="")
        p.add_argument("--by", default=None, help="who does it (default: the login name)")
        p.set_defaults(handler=cmd_case_act, act="move", to=status)
    respond = case.add_parser("respond", help="record the answer (答复): stops the response clock")
    respond.add_argument("case")
    respond.add_argument("--note", required=True, help="the answer given, in short")
    respond.add_argument("--at", help="when it was given (ISO with offset; default now)")
    respond.add_argument("--by", default=None)
    respond.set_defaults(handler=cmd_case_act, act="respond")
    upper = case.add_parser("upper-result", help="difficult case: the upper level reported back")
    upper.add_argument("case")
    upper.add_argument("--note", required=True)
    upper.add_argument("--by", default=None)
    upper.set_defaults(handler=cmd_case_act, act="upper_result")
    assign = case.add_parser("assign", help="make a registry contact responsible for the case")
    assign.add_argument("case")
    assign.add_argument("--to", required=True, help="contact email or id from the registry")
    assign.add_argument("--note", default="")
    assign.add_argument("--by", default=None)
    assign.set_defaults(handler=cmd_case_act, act="assign")
    pause = case.add_parser("pause", help="pause the response clock for a reason")
    pause.add_argument("case")
    pause.add_argument("--reason", required=True, choices=[r.value for r in PauseReason])
    pause.add_argument("--note", default="")
    pause.add_argument("--by", default=None)
    pause.set_defaults(handler=cmd_case_act, act="pause")
    resume = case.add_parser("resume", help="resume the clock; paused working days extend the deadline")
    resume.add_argument("case")
    resume.add_argument("--note", default="")
    resume.add_argument("--by", default=None)
    resume.set_defaults(handler=cmd_case_act, act="resume")


def _parse_time(value: str | None, *, field: str, default: datetime) -> datetime:
    return default if value is None else parse_aware_time(value, field=field)


def _case(session: Session, key: str) -> Case:
    case = repo.case_by_key(session, key)
    if case is None:
        raise NotFoundError(what="case", key=key)
    return case


def _actor(args: argparse.Namespace) -> str:
    return args.by or getpass.getuser() or CLI_ACTOR


def cmd_case_act(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        with unit_of_work(ctx.sessions) as session:
            case = _case(session, args.case)
            actor, note = _actor(args), args.note
            if args.act == "move":
                procedure.move(session, case, to=args.to, at=now, actor=actor, note=note,
                               calendar=current_calendar(session),
                               follow_up_working_days=ctx.settings.closing_visit_working_days)
            elif args.act == "respond":
                at = _parse_time(args.at, field="--at", default=now)
                procedure.respond(session, case, at=at, actor=actor, note=note, now=now)
            elif args.act == "upper_result":
                procedure.record_upper_result(session, case, at=now, actor=actor, note=note)
            elif args.act == "assign":
                contact = repo.contact_by_key(session, args.to)
                if contact is None:
                    raise NotFoundError(what="contact", key=args.to, field="--to")
                procedure.assign(session, case, contact=contact, at=now, actor=actor, note=note)
            elif args.act == "pause":
                procedure.pause(session, case, reason=PauseReason(args.reason), at=now, actor=actor, note=note)
            elif args.act == "resume":
                procedure.resume(session, case, at=now, actor=actor, note=note,
                                 calendar=current_calendar(session))
            view = case_view(session, case)
        _print_case(view, as_json=False)
        return 0

    return _with_runtime(args, run)


def cmd_run_due(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        as_of = _parse_time(args.as_of, field="--as-of", default=ctx.clock.now())
        with unit_of_work(ctx.sessions) as session:
            calendar = current_calendar(session)
        if args.dry_run:
            preview = preview_due(
                ctx.sessions, as_of=as_of, calendar=calendar, policy=ctx.reminder_policy,
                digest_at=ctx.settings.digest_at if ctx.settings.digests_enabled else None)
            print(f"as of {local_iso(as_of)}: {len(preview)} notice(s) would go out")
            for item in preview:
                print(f"  {item['case'] or '(digest)':<14} {item['kind']:<18} {item['to']:<40} "
                      f"due {item['due_at']}")
            return 0
        report = asyncio.run(sweep(ctx, as_of=as_of, calendar=calendar))
        print(f"as of {local_iso(as_of)}: {report.cases_checked} case(s) checked, "
              f"{report.notices_queued} notice(s) queued, {report.sent} sent, "
              f"{report.retrying} to retry, {report.failed} failed, {report.cancelled} cancelled")
        return 0

    return _with_runtime(args, run)


def cmd_overdue(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        as_of = _parse_time(args.as_of, field="--as-of", default=ctx.clock.now())
        with unit_of_work(ctx.sessions) as session:
            if args.under and repo.get_jurisdiction(
                    session, normalize_code(args.under, field="--under")) is None:
                raise NotFoundError(what="jurisdiction", key=args.under, field="--under")
            report = overdue_report(session, as_of=as_of, under=args.under,
                                    calendar=current_calendar(session))
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=2))
            return 0
        print(f"overdue as of {local_iso(as_of)}: {len(report['overdue'])} case(s)")
        for item in report["overdue"]:
            print(f"  {item['case']}  {item['jurisdiction_name']} {item['jurisdiction']}  "
                  f"{item['responsible']}  due {item['due_at']}  "
                  f"{item['working_days_overdue']} working day(s) overdue  "
                  f"escalated to level {item['escalation_level']}  failed notices {item['failed_notices']}")
        for key, title in (("overdue_referrals", "referrals without feedback"),
                           ("overdue_visits", "missed return visits")):
            print(f"{title}: {len(report[key])}")
            for item in report[key]:
                print(f"  {item['case']}  {item['jurisdiction_name']} {item['jurisdiction']}  "
                      f"{item['what']}  due {item['due_at']}  "
                      f"{item['working_days_overdue']} working day(s) overdue  "
                      f"escalated to level {item['escalation_level']}")
        print(f"failed notices: {len(report['failed_notices'])}")
        for item in report["failed_notices"]:
            print(f"  {item['case']}  {item['kind']} → {item['to']} ({item['role']} {item['jurisdiction']}): "
                  f"{item['error']}")
        return 0

    return _with_runtime(args, run)


def _with_runtime(args: argparse.Namespace, run: Callable[[Runtime], int]) -> int:
    runtime = args.runtime_factory()
    try:
        return run(runtime)
    finally:
        runtime.close()


def _migrated_runtime() -> Runtime:
    # The CLI is an edge: every command may meet a fresh data directory, so it migrates.
    return build_runtime(migrate=True)


def cmd_up(args: argparse.Namespace) -> int:
    from app.main_job import run_main_job

    return run_main_job(load_demo=not args.no_demo)


def cmd_serve(args: argparse.Namespace) -> int:
    from app.main_job import run_service_process

    return run_service_process(use_prefect=not args.no_prefect)


def cmd_status(args: argparse.Namespace) -> int:
    def run(runtime: Runtime) -> int:

        with unit_of_work(runtime.sessions) as session:
            status = service_status(session, now=runtime.clock.now(),
                                    backlog_after=timedelta(
                                        minutes=runtime.settings.backlog_alert_minutes))
        if args.json:
            print(json.dumps(status, ensure_ascii=False, indent=2))
            return 0
        leader = status["leader"]
        if leader is None:
            print("scheduler leader: none yet (no service process has run)")
        else:
            state = "live" if leader["live"] else "expired, a standby takes over at its next try"
            print(f"scheduler leader: {leader['holder']} ({state}; leading for "
                  f"{leader['age_seconds']:.0f} s, renewed {leader['heartbeat_age_seconds']:.0f} s "
                  f"ago, expires in {leader['expires_in_seconds']:.0f} s)")
        for process in status["processes"]:
            role = "leads" if process["leading"] else "stands by" if process["live"] else \
                "silent (stopped or dead)"
            print(f"  service process {process['holder']}: {role}, heartbeat "
                  f"{process['heartbeat_age_seconds']:.0f} s ago")
        words = vocabulary()
        print("notices: " + ", ".join(f"{words.label('notice_statuses', code)} {count}"
                                      for code, count in status["notices"].items()))
        queued = status["backlog"]
        if queued["waiting"]:
            print(f"outbox backlog: {queued['waiting']} due and waiting, the oldest for "
                  f"{queued['oldest_wait_minutes']} min; {queued['late']} waited more than "
                  f"{queued['threshold_minutes']} min "
                  f"({words.label('outbox_delays', queued['reason'])})")
        else:
            print("outbox backlog: none (nothing due is waiting)")
        print(f"flow runs owed to Prefect: {status['owed_flow_runs']}")
        return 0

    return _with_runtime(args, run)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    return _with_runtime(args, lambda ctx: print(f"database at head: {ctx.settings.effective_database_url}") or 0)


def _read_input(name: str, *, limit: int) -> bytes:
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(name, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(field=name, reason=f"cannot read the file ({exc.strerror})") from None
    return data  # parse_intake reports a document over the limit by size


def cmd_intake(args: argparse.Namespace) -> int:
    if args.batch is not None:
        if args.file is not None:
            raise InputError(field="--batch", reason="give FILE or --batch FILE.jsonl, not both")
        from app.cli_batch import intake_batch

        return _with_runtime(args, lambda ctx: intake_batch(ctx, name=args.batch, as_json=args.json,
                                                      actor=CLI_ACTOR))
    if args.file is None:
        raise InputError(field="FILE", reason="give an intake JSON file (or - for standard "
                                              "input), or --batch FILE.jsonl")

    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        raw = _read_input(args.file, limit=ctx.settings.max_intake_bytes)
        intake = parse_intake(raw, limits=ctx.intake_limits, now=now)
        view, created = store_intake(
            ctx.sessions, intake=intake, now=now, actor=CLI_ACTOR,
            operator_email=ctx.settings.operator_email, cadences=ctx.settings.visit_cadences,
            then=lambda session, case, created: (case_view(session, case), created))
        _print_case(view, as_json=args.json, note=None if created else
                    f"external_ref {intake.external_ref} already stored: nothing new was created")
        return 0

    return _with_runtime(args, run)


def _print_case(view: dict[str, Any], *, as_json: bool, note: str | None = None) -> None:
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        print(case_text(view))
    if note:
        print(note, file=sys.stderr)


def cmd_case_show(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        with unit_of_work(ctx.sessions) as session:
            _print_case(case_view(session, _case(session, args.case)), as_json=args.json)
        return 0

    return _with_runtime(args, run)


def cmd_registry_load(args: argparse.Namespace) -> int:
    if args.jurisdictions is None and args.contacts is None:
        raise InputError(field="--jurisdictions/--contacts", reason="give one or both")
    return _load_registry(args, jurisdictions=args.jurisdictions, contacts=args.contacts)


def cmd_registry_demo(args: argparse.Namespace) -> int:
    status = _load_registry(args, jurisdictions=DEMO_DIR / "jurisdictions.csv",
                            contacts=DEMO_DIR / "contacts.csv")
    return status or _with_runtime(args, _load_demo_users)


def _load_demo_users(ctx: Runtime) -> int:
    from models.service.users import load_demo_users

    with unit_of_work(ctx.sessions) as session:
        result = load_demo_users(session, path=DEMO_DIR / "users.csv", now=ctx.clock.now(),
                                 actor=CLI_ACTOR)
    print(f"demo users: {result.added} added, {result.kept} kept (passwords: README, the board)")
    return 0


def _load_registry(args: argparse.Namespace, *, jurisdictions: Path | None, contacts: Path | None) -> int:
    def run(ctx: Runtime) -> int:
        with unit_of_work(ctx.sessions) as session:
            result = load_registry(session, jurisdictions=jurisdictions, contacts=contacts,
                                   now=ctx.clock.now(), actor=CLI_ACTOR)
        print(f"jurisdictions: {result.jurisdictions_added} added, "
              f"{result.jurisdictions_updated} updated; contacts: {result.contacts_added} "
              f"added, {result.contacts_updated} updated")
        return 0

    return _with_runtime(args, run)


def cmd_calendar_load(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        schedule = read_schedule_file(args.file)
        with unit_of_work(ctx.sessions) as session:
            changes = load_official_schedule(session, schedule=schedule, now=ctx.clock.now(),
                                             actor=CLI_ACTOR)
        print(f"{schedule.year}: {len(schedule.holidays)} holidays, "
              f"{len(schedule.makeup_workdays)} make-up workdays loaded ({schedule.source})")
        print(f"{len(changes)} provisional deadline(s) recomputed")
        for change in changes:
            state = "still provisional" if change.still_provisional else "official"
            which = "" if change.deadline == "response" else f" {change.deadline} feedback"
            print(f"  {change.number}{which}: {local_iso(change.old_due_at)} -> "
                  f"{local_iso(change.new_due_at)} ({state})")
        return 0

    return _with_runtime(args, run)


def cmd_calendar_status(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
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

    return _with_runtime(args, run)


if __name__ == "__main__":
    raise SystemExit(main())
