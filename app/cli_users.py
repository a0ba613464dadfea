"""`weiquan user add|list`: the people who sign in to the board."""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import select

from app.cli import CLI_ACTOR, _with_runtime
from models.runtime.bootstrap import Runtime
from models.db import repositories as repo
from models.db.orm import User
from models.db.session import unit_of_work
from models.domain.access import ROLE_LABELS, Role
from models.domain.errors import InputError, NotFoundError
from models.domain.jurisdiction import normalize_code
from models.service.users import add_user


def add_user_commands(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="users of the board (role and jurisdiction)")
    user_sub = user.add_subparsers(dest="user_command")
    add = user_sub.add_parser("add", help="add a user; the password is asked for (or read "
                              "from standard input with --password-stdin)")
    add.add_argument("username", help="lower-case letters, digits, '.', '_' or '-'")
    add.add_argument("--role", required=True, choices=[r.value for r in Role],
                     help="cadre: her subtree's cases; supervisor: the levels below; "
                     "operator/admin: counts only (admin also lists users)")
    add.add_argument("--jurisdiction", required=True, help="division code: she sees its subtree")
    add.add_argument("--email", default="")
    add.add_argument("--name", default="", help="display name (default: the username)")
    add.add_argument("--contact", default=None, help="registry contact (id or email) she is")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.set_defaults(handler=cmd_user_add)
    listing = user_sub.add_parser("list", help="list users")
    listing.add_argument("--under", help="jurisdiction code: only users in this subtree")
    listing.set_defaults(handler=cmd_user_list)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError(field="--password-stdin", reason="give it to read the password from "
                         "standard input (no terminal to ask in)")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise InputError(field="password", reason="the two entries differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _read_password(args)

    def run(ctx: Runtime) -> int:
        with unit_of_work(ctx.sessions) as session:
            contact_id = None
            if args.contact:
                contact = repo.contact_by_key(session, args.contact)
                if contact is None:
                    raise NotFoundError(what="registry contact", key=args.contact, field="--contact")
                contact_id = contact.id
            user = add_user(session, username=args.username, password=password,
                            role=args.role, jurisdiction_code=args.jurisdiction,
                            display_name=args.name, email=args.email, contact_id=contact_id,
                            now=ctx.clock.now(), actor=CLI_ACTOR)
            print(f"user {user.username} added: {ROLE_LABELS[Role(user.role)]} ({user.role}), "
                  f"sees {user.jurisdiction_code} and below")
        return 0

    return _with_runtime(args, run)


def cmd_user_list(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        prefix = normalize_code(args.under, field="--under") if args.under else ""
        with unit_of_work(ctx.sessions) as session:
            users = session.scalars(select(User).where(User.jurisdiction_code.startswith(prefix))
                                    .order_by(User.jurisdiction_code, User.username)).all()
            for user in users:
                state = "" if user.active else "  (inactive)"
                print(f"{user.username:<20} {user.role:<11} {user.jurisdiction_code:<13} "
                      f"{user.display_name}{state}")
        return 0

    return _with_runtime(args, run)
