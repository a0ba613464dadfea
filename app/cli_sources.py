"""`weiquan source add|list|revoke`: other systems that file cases through POST /api/intake."""

from __future__ import annotations

import argparse
from datetime import datetime

from app.cli import CLI_ACTOR, _with_runtime
from models.runtime.bootstrap import Runtime
from models.db.session import unit_of_work
from models.service.sources import add_source, list_sources, revoke_source
from models.domain.calendar import SHANGHAI


def add_source_commands(sub: argparse._SubParsersAction) -> None:
    source = sub.add_parser("source", help="systems that file cases through POST /api/intake "
                            "(the 12338 platform, a petition system)")
    source_sub = source.add_subparsers(dest="source_command")
    add = source_sub.add_parser("add", help="add a source and print its token (once: only its "
                                "hash is kept)")
    add.add_argument("source", metavar="NAME",
                     help="lower-case letters, digits, '.', '_' or '-', e.g. hotline-12338")
    add.add_argument("--jurisdiction", required=True,
                     help="division code: the source may file cases in its subtree only")
    add.set_defaults(handler=cmd_source_add)
    source_sub.add_parser("list", help="list sources (never their tokens)").set_defaults(
        handler=cmd_source_list)
    revoke = source_sub.add_parser("revoke", help="stop a source's token working, at once")
    revoke.add_argument("source", metavar="NAME")
    revoke.set_defaults(handler=cmd_source_revoke)


def cmd_source_add(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        with unit_of_work(ctx.sessions) as session:
            source, token = add_source(session, name=args.source,
                                       jurisdiction_code=args.jurisdiction,
                                       now=ctx.clock.now(), actor=CLI_ACTOR)
            name, code = source.name, source.jurisdiction_code
        # Printed after the commit: a token is never shown for a source that was not stored.
        print(f"来件系统 {name} 已添加：可在 {code} 及其下级辖区报送个案")
        print("令牌只显示这一次，请妥善保存（数据库只保存其散列值）：")
        print(token)
        return 0

    return _with_runtime(args, run)


def cmd_source_list(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        with unit_of_work(ctx.sessions) as session:
            for source in list_sources(session):
                state = ("在用" if source.revoked_at is None
                         else f"已撤销 {_local(source.revoked_at)}")
                print(f"{source.name:<24} {source.jurisdiction_code:<13} "
                      f"添加于 {_local(source.created_at)}  {state}")
        return 0

    return _with_runtime(args, run)


def cmd_source_revoke(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        with unit_of_work(ctx.sessions) as session:
            source = revoke_source(session, name=args.source, now=ctx.clock.now(),
                                   actor=CLI_ACTOR)
            print(f"来件系统 {source.name} 的令牌已撤销（{_local(source.revoked_at)}）")
        return 0

    return _with_runtime(args, run)


def _local(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
