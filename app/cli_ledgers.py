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

from app.cli import _with_context
from app.context import AppContext
from app.errors import UsageError
from models.db.session import unit_of_work
from models.domain.access import Role
from models.domain.errors import FieldError
from models.domain.ledgers import FORM_TITLES, ExportMode, LedgerForm, Requester, parse_period
from models.service.exports import export_ledger
from models.service.users import user_by_username

FLAGS = {"under": "--under", "from": "--from", "to": "--to", "form": "--form", "out": "--out",
         "password": "--password-stdin", "deidentified": "--deidentified", "as": "--as"}


def add_ledger_commands(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="the ledgers 附表1/附表3 as print-ready xlsx (记)")
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


def _add_as(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="as_user", metavar="USERNAME",
                        help="act as this board user: her role and subtree apply, the audit "
                        "names her (default: the machine's administrator, whole registry)")


def requester_for(ctx: AppContext, as_user: str | None) -> Requester:
    login = getpass.getuser() or "cli"
    if as_user is None:
        return Requester(actor=f"cli:{login}", role=Role.ADMIN, scope=None)
    with unit_of_work(ctx.sessions) as session:
        user = user_by_username(session, as_user)
        if user is None or not user.active:
            raise UsageError(f"--as: no active user {as_user!r}")
        return Requester(actor=f"cli:{login} as {user.username}", role=Role(user.role),
                         scope=user.jurisdiction_code)


def field_error(exc: FieldError) -> UsageError:
    return UsageError(f"{FLAGS.get(exc.field, exc.field)}: {exc.reason}")


def cmd_ledger_export(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None

    def run(ctx: AppContext) -> int:
        try:
            requester = requester_for(ctx, args.as_user)
            result = export_ledger(
                ctx.sessions, requester=requester, form=LedgerForm(args.form), under=args.under,
                period=parse_period(first=args.first, last=args.last),
                mode=ExportMode(password=password, deidentified=args.deidentified),
                out=args.out, now=ctx.clock.now())
        except FieldError as exc:
            raise field_error(exc) from None
        how = {"encrypted": "已加密（打开时输入密码）", "deidentified": "已去标识化",
               "plain": "不含当事人个人信息"}[result.mode]
        unit = "户" if result.form == LedgerForm.FOCUS_FAMILIES else "个辖区"
        print(f"{FORM_TITLES[result.form]}：{result.entries} {unit}，{result.rows} 行，{how}"
              f" → {result.path}")
        return 0

    return _with_context(run)


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))
