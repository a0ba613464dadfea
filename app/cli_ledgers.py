"""`weiquan ledger export` and `weiquan stats`: the ledgers and the counts an office is
audited on (记).

Who the command acts as. Whoever runs `weiquan` holds the database itself (the SQLite file,
or the URL with its credentials in the environment), so limiting the shell to a subtree would
be theatre: by default the command acts as the machine's administrator, sees the whole
registry and is audited as `cli:<login name>`. `--as USERNAME` makes it act as that board
user instead — her role and subtree apply exactly as on the board (a cadre her own village,
operators de-identified ledgers only) and the audit names her — so an office can run exports
under the person responsible for them. Personal data still leaves only encrypted or
de-identified, whoever asks.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from app.cli import _with_runtime
from models.runtime.bootstrap import Runtime
from models.db.session import unit_of_work
from models.domain.access import CASEWORK_ROLES, Role
from models.domain.errors import FieldProblem, InputError, InputProblems, parse_date
from models.domain.found_families import FoundBy, found_by_label
from models.domain.vocabulary import vocabulary
from models.intake_schema import parse_found_family
from models.service.found_families import add_found_family, found_family_text, found_family_view
from models.domain.calendar import SHANGHAI
from models.domain.ledgers import (
    FORM_TITLES,
    ExportMode,
    LedgerForm,
    Period,
    Requester,
    check_statistics,
    parse_period,
)
from models.domain.statistics import PRESETS, TABLE, breakdown, label, preset_period, table_value
from models.db.orm import Contact
from models.service.exports import export_ledger, export_statistics
from models.service.helper_log import log_helper_work
from models.service.situation_report import write_situation_report
from models.service.stats import StatsReport, statistics
from models.service.users import user_by_username

FLAGS = {"jurisdiction": "--jurisdiction", "reason": "--reason", "found_by": "--found-by",
         "category": "--category", "risk_indicators": "--indicator", "name": "--name",
         "phone": "--phone", "age": "--age", "address": "--address", "under": "--under", "from": "--from", "to": "--to", "form": "--form", "out": "--out",
         "password": "--password-stdin", "deidentified": "--deidentified", "as": "--as",
         "preset": "--preset", "on": "--on", "work": "--work"}


def add_ledger_commands(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="the ledgers 附表1–5 as print-ready xlsx (记)")
    led = ledger.add_subparsers(dest="ledger_command")
    export = led.add_parser("export", help="export a form for a subtree (audited)")
    export.add_argument("--form", type=int, required=True,
                        choices=[form.value for form in LedgerForm],
                        help="; ".join(f"{f.value}: {t}" for f, t in FORM_TITLES.items()))
    export.add_argument("--under", required=True, help="jurisdiction code: this subtree")
    export.add_argument("--from", dest="first", help="first day (YYYY-MM-DD, Beijing time)")
    export.add_argument("--to", dest="last", help="last day, inclusive")
    export.add_argument("--out", required=True, type=Path, help="the .xlsx file to write")
    guard = export.add_mutually_exclusive_group()
    guard.add_argument("--password-stdin", action="store_true",
                       help="encrypt with the password on the first line of standard input "
                       "(at least 8 characters)")
    guard.add_argument("--deidentified", action="store_true",
                       help="case number, age band and village instead of names, phones, addresses")
    _add_as(export)
    export.set_defaults(handler=cmd_ledger_export)
    log = led.add_parser("log", help="附表2: log what a helper (lawyer, counsellor, mediator, "
                         "social worker, volunteer …) did on a day")
    log.add_argument("contact", metavar="CONTACT", help="the helper's registry id or email")
    log.add_argument("--on", dest="on", required=True, help="the day (YYYY-MM-DD, Beijing time)")
    log.add_argument("--work", required=True, help="what she did (no victim's name)")
    _add_as(log)
    log.set_defaults(handler=cmd_ledger_log)
    add = led.add_parser("add", help="附表3: put a family found without a complaint (排查, "
                         "走访中看/听/问) on the ledger; she gets a visit plan by risk and owes "
                         "no answer")
    add.add_argument("--jurisdiction", required=True, help="where she lives (division code)")
    add.add_argument("--reason", required=True, help="重点关注原因, in words (at least 4 characters)")
    add.add_argument("--found-by", dest="found_by", required=True,
                     choices=[way.value for way in FoundBy],
                     help="; ".join(f"{way.value}: {found_by_label(way)}" for way in FoundBy))
    add.add_argument("--category", choices=sorted(vocabulary().codes("categories")),
                     help="问题类别 (default: other)")
    add.add_argument("--indicator", action="append", default=[], metavar="CODE",
                     help="a risk indicator seen (vocabulary risk_indicators; repeatable): "
                     "they decide the risk level, the ledger and the visits' cadence")
    add.add_argument("--name", help="her name")
    add.add_argument("--phone", help="her phone")
    add.add_argument("--age", help="her age in years")
    add.add_argument("--address", help="her address")
    add.add_argument("--json", action="store_true", help="the stored family as JSON, with codes")
    _add_as(add)
    add.set_defaults(handler=cmd_ledger_add)

    report = sub.add_parser("report", help="the 情况报告 of a matter (000 如何撰写情况报告)")
    rep = report.add_subparsers(dest="report_command")
    situation = rep.add_parser("situation", help="write a case's situation report as .docx "
                               "(audited; what the record lacks is marked 【待填写】)")
    situation.add_argument("case", metavar="CASE", help="case number or id")
    situation.add_argument("--out", required=True, type=Path, help="the .docx file to write")
    _add_as(situation)
    situation.set_defaults(handler=cmd_report_situation)

    stats = sub.add_parser("stats", help="the counts an office is audited on, per jurisdiction "
                           "and rolled up the tree (001/004 统计有分类)")
    stats.add_argument("--under", required=True, help="jurisdiction code: this subtree")
    stats.add_argument("--from", dest="first", help="first day (YYYY-MM-DD, Beijing time)")
    stats.add_argument("--to", dest="last", help="last day, inclusive")
    stats.add_argument("--preset", choices=list(PRESETS),
                       help="instead of --from/--to: " + ", ".join(f"{k} {v}" for k, v in PRESETS.items()))
    output = stats.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON with codes")
    output.add_argument("--out", type=Path, help="write an .xlsx (audited)")
    stats.add_argument("--checklist", action="store_true",
                       help="with --out: the 001 对照检查表, rows the data fills filled in")
    _add_as(stats)
    stats.set_defaults(handler=cmd_stats)


def _add_as(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                        help="act as this board user: her role and subtree apply, the audit "
                        "names her (default: the machine's administrator, whole registry)")


def requester_for(ctx: Runtime, as_user: str | None) -> Requester:
    login = getpass.getuser() or "cli"
    if as_user is None:
        return Requester(actor=f"cli:{login}", role=Role.ADMIN, scope=None)
    with unit_of_work(ctx.sessions) as session:
        user = user_by_username(session, as_user)
        if user is None or not user.active:
            raise InputError(field="--as", reason=f"no active user {as_user!r}")
        return Requester(actor=f"cli:{login} as {user.username}", role=Role(user.role),
                         scope=user.jurisdiction_code)


def field_error(exc: InputError) -> InputError:
    """The service names its arguments; the person typed the command's flags."""
    return InputError(field=FLAGS.get(exc.field, exc.field), reason=exc.reason)


def cmd_ledger_export(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None

    def run(ctx: Runtime) -> int:
        try:
            requester = requester_for(ctx, args.as_user)
            result = export_ledger(
                ctx.sessions, requester=requester, form=LedgerForm(args.form), under=args.under,
                period=parse_period(first=args.first, last=args.last),
                mode=ExportMode(password=password, deidentified=args.deidentified),
                out=args.out, now=ctx.clock.now())
        except InputError as exc:
            raise field_error(exc) from None
        how = {"encrypted": "已加密（打开时输入密码）", "deidentified": "已去标识化",
               "plain": "不含当事人个人信息"}[result.mode]
        unit = {LedgerForm.FOCUS_FAMILIES: "户", LedgerForm.HELPERS: "人", LedgerForm.URGENT: "件",
                LedgerForm.ASSIGNED: "件"}.get(result.form, "个辖区")
        print(f"{FORM_TITLES[result.form]}：{result.entries} {unit}，{result.rows} 行，{how}"
              f" → {result.path}")
        return 0

    return _with_runtime(args, run)


def cmd_ledger_log(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        try:
            requester = requester_for(ctx, args.as_user)
            with unit_of_work(ctx.sessions) as session:
                entry = log_helper_work(session, contact=args.contact,
                                        worked_on=parse_date(args.on, field="on"), work=args.work,
                                        now=ctx.clock.now(), actor=requester.actor,
                                        scope=requester.scope)
                helper = session.get(Contact, entry.contact_id)
                print(f"附表2：已记录 {helper.name} {entry.worked_on.isoformat()}：{entry.work}")
        except InputError as exc:
            raise field_error(exc) from None
        return 0

    return _with_runtime(args, run)


def cmd_ledger_add(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        try:
            requester = requester_for(ctx, args.as_user)
            if requester.scope is not None and requester.role not in CASEWORK_ROLES:
                raise InputError(field="--as", reason="operators and admins keep no casework records")
            family = parse_found_family({
                "jurisdiction": args.jurisdiction, "reason": args.reason, "found_by": args.found_by,
                "category": args.category, "risk_indicators": args.indicator, "name": args.name,
                "phone": args.phone, "age": args.age, "address": args.address})
            with unit_of_work(ctx.sessions) as session:
                case = add_found_family(session, family=family, now=ctx.clock.now(),
                                        actor=requester.actor, scope=requester.scope,
                                        operator_email=ctx.settings.operator_email,
                                        cadences=ctx.settings.visit_cadences)
                added = found_family_view(session, case)
        except InputError as exc:
            raise flags_named(exc) from None
        if args.json:
            print(json.dumps(added, ensure_ascii=False, indent=2))
        else:
            print(found_family_text(added))
        return 0

    return _with_runtime(args, run)


def flags_named(exc: InputError) -> InputError:
    """Every problem, each under the flag the person typed."""
    return InputProblems([FieldProblem(FLAGS.get(p.field, p.field), p.reason) for p in exc.problems])


def cmd_report_situation(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        try:
            written = write_situation_report(ctx.sessions, requester=requester_for(ctx, args.as_user),
                                             case_key=args.case, out=args.out, now=ctx.clock.now())
        except InputError as exc:
            raise field_error(exc) from None
        gaps = f"，{written.gaps} 处待填写（【待填写：…】）" if written.gaps else ""
        print(f"情况报告：{written.number}{gaps} → {written.path}")
        return 0

    return _with_runtime(args, run)


def _stats_period(args: argparse.Namespace, ctx: Runtime) -> Period:
    if args.preset:
        if args.first or args.last:
            raise InputError(field="preset", reason="give --preset or --from/--to, not both")
        return preset_period(args.preset, today=ctx.clock.now().astimezone(SHANGHAI).date())
    period = parse_period(first=args.first, last=args.last)
    if period is None:
        raise InputError(field="from", reason="give --from and --to (or --preset)")
    return period


def cmd_stats(args: argparse.Namespace) -> int:
    if args.checklist and args.out is None:
        raise InputError(field="--checklist", reason="needs --out FILE.xlsx")

    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        try:
            requester = requester_for(ctx, args.as_user)
            period = _stats_period(args, ctx)
            if args.out is not None:
                report = export_statistics(ctx.sessions, requester=requester, under=args.under,
                                           period=period, out=args.out, now=now,
                                           checklist=args.checklist)
                what = "对照检查表" if args.checklist else "统计表"
                print(f"{what}：{report.name}（{report.under}）{period.first} 至 {period.last}，"
                      f"{len(report.nodes)} 个辖区 → {args.out}")
                return 0
            code = check_statistics(requester, under=args.under)
            with unit_of_work(ctx.sessions) as session:
                report = statistics(session, under=code, period=period, now=now)
        except InputError as exc:
            raise field_error(exc) from None
        if args.json:
            print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        else:
            print(stats_text(report))
        return 0

    return _with_runtime(args, run)


def stats_text(report: StatsReport) -> str:
    root = report.root.tally
    lines = [f"{report.name}（{report.under}）{report.period.first} 至 {report.period.last}"
             f"（期末状态截至 {report.as_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}）"]
    lines += [f"  {label(key)}：{table_value(root, key)}" for key in TABLE]
    counted = [(group, label, count) for group, label, count in breakdown(root) if count]
    if counted:
        lines.append("  分类：")
        lines += [f"    {group} · {label}：{count}" for group, label, count in counted]
    lines.append("  各辖区（含下级）：")
    for node in report.nodes:
        t = node.tally
        lines.append(f"    {node.name}（{node.code}） 收到 {t['received']}，已答复 {t['answered']}，"
                     f"按时 {t['answered_on_time']}，逾期未答复 {t['overdue']}，"
                     f"转介 {t['referrals.sent']}，台账家庭 "
                     f"{t['ledger_families.high_risk'] + t['ledger_families.focus']}，"
                     f"回访 {t['visits.done']}，逾期未回访 {t['visits.missed']}")
    return "\n".join(lines)
