"""`weiquan case mediation|verify|reject|follow-up|measure`: the casework records (domain.md §11).

Each command is one transaction: its arguments are read first (a bad one names itself), the
service acts, and the case is printed — in words, or as codes with --json. Bad input exits 2
with nothing stored."""

from __future__ import annotations

import argparse
import json

from app.cli import _actor, _case, _parse_time, _print_case, _with_runtime
from app.cli_casework import _date, _indicators, _not_future
from models.runtime.bootstrap import Runtime
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.casework import (
    MeasureKind,
    MeasureStatus,
    MediationOutcome,
    Reasonableness,
    Satisfaction,
    Veracity,
    VerificationMethod,
    label,
)
from models.domain.errors import InputError
from models.service import casework_records as records
from models.service.views import case_view


def _codes(enum) -> list[str]:
    return [member.value for member in enum]


def _help(enum) -> str:
    return "、".join(f"{member.value}={label(member)}" for member in enum)


def add_record_commands(case: argparse._SubParsersAction) -> None:
    mediation = case.add_parser("mediation", help="record a mediation (调解); the second failed "
                                "one reports the case at once to the upper federation or 12338")
    mediation.add_argument("case")
    mediation.add_argument("--on", required=True, help="the day it was held (YYYY-MM-DD)")
    mediation.add_argument("--mediator", required=True,
                           help="a registry contact (id or email) or the mediator's name")
    mediation.add_argument("--outcome", required=True, choices=_codes(MediationOutcome),
                           help=_help(MediationOutcome))
    mediation.add_argument("--note", default="")
    mediation.set_defaults(act="mediation")

    verify = case.add_parser("verify", help="record a verification (核实): how, with whom, what "
                             "was found, true or not, the claim reasonable or not")
    verify.add_argument("case")
    verify.add_argument("--at", required=True, help="when it was verified (ISO with offset)")
    verify.add_argument("--method", required=True, choices=_codes(VerificationMethod),
                        help=_help(VerificationMethod))
    verify.add_argument("--with", dest="with_whom", required=True, help="with whom")
    verify.add_argument("--found", required=True, help="what was found")
    verify.add_argument("--veracity", required=True, choices=_codes(Veracity), help=_help(Veracity))
    verify.add_argument("--reasonableness", required=True, choices=_codes(Reasonableness),
                        help=_help(Reasonableness))
    verify.set_defaults(act="verify")

    reject = case.add_parser("reject", help="not accept the case (不予受理/转办他处): the clock "
                             "stops and it leaves the board and the digests")
    reject.add_argument("case")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--redirect-to", default=None,
                        help="the organisation the matter was sent to (转办)")
    reject.set_defaults(act="reject")

    follow = case.add_parser("follow-up", help="record the return visit after closing (结案回访)")
    follow.add_argument("case")
    follow.add_argument("--at", required=True, help="when the visit was made (ISO with offset)")
    follow.add_argument("--by", required=True, help="who visited")
    follow.add_argument("--outcome", required=True, help="what the visit found")
    follow.add_argument("--satisfaction", required=True, choices=_codes(Satisfaction),
                        help=_help(Satisfaction))
    follow.set_defaults(act="follow_up")

    measure = case.add_parser("measure", help="record a DV protective measure (告诫书、伤情鉴定、"
                              "人身安全保护令、临时庇护), or a protection order's breach (--breach)")
    measure.add_argument("case")
    measure.add_argument("--kind", required=True, choices=_codes(MeasureKind), help=_help(MeasureKind))
    measure.add_argument("--status", choices=_codes(MeasureStatus),
                         help="issued (告诫书), requested|done (伤情鉴定), applied|granted|refused "
                         "(保护令), placed (庇护); default: the first of these")
    measure.add_argument("--on", help="the day (YYYY-MM-DD; default today)")
    measure.add_argument("--until", help="a granted order's expiry, a shelter's end (YYYY-MM-DD)")
    measure.add_argument("--issuer", default="", help="the police station or court")
    measure.add_argument("--breach", action="store_true",
                         help="the protection order was breached: an incident, reported at once")
    measure.add_argument("--at", help="--breach: when it happened (ISO with offset)")
    measure.add_argument("--indicator", action="append", default=[],
                         help="--breach: further risk indicators (vocabulary: risk_indicators)")
    measure.add_argument("--note", default="")
    measure.set_defaults(act="measure")

    for parser in (mediation, verify, reject, follow, measure):
        if parser is not follow:
            parser.add_argument("--by", default=None, help="who records it (default: the login name)")
        parser.add_argument("--json", action="store_true", help="print the case as JSON (codes)")
        parser.set_defaults(handler=cmd_case_record)


def cmd_case_record(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        # `follow-up --by` is who visited; the recorder is whoever runs the command.
        actor = _actor(argparse.Namespace(by=None if args.act == "follow_up" else args.by))
        at = None if getattr(args, "at", None) is None else _not_future(
            _parse_time(args.at, field="--at", default=now), now=now, ctx=ctx, field="--at")
        with unit_of_work(ctx.sessions) as session:
            if args.act == "mediation":
                held_on = _date(args.on, field="--on")
                case = _case(session, args.case)
                records.record_mediation(session, case=case, held_on=held_on,
                                         mediator=args.mediator, outcome=args.outcome,
                                         note=args.note, now=now, actor=actor,
                                         operator_email=ctx.settings.operator_email)
            elif args.act == "verify":
                case = _case(session, args.case)
                records.record_verification(
                    session, case=case, verified_at=at, method=args.method,
                    with_whom=args.with_whom, findings=args.found, veracity=args.veracity,
                    reasonableness=args.reasonableness, now=now, actor=actor)
            elif args.act == "reject":
                case = _case(session, args.case)
                records.reject_case(session, case=case, reason=args.reason,
                                    redirected_to=args.redirect_to, now=now, actor=actor)
            elif args.act == "follow_up":
                case = _case(session, args.case)
                records.record_follow_up(session, case=case, visited_at=at, visited_by=args.by,
                                         outcome=args.outcome, satisfaction=args.satisfaction,
                                         now=now, actor=actor)
            else:
                case = _measure(session, args, at=at, now=now, actor=actor, ctx=ctx)
            view = case_view(session, case)
        if args.json:
            print(json.dumps(view, ensure_ascii=False, indent=2))
        else:
            _print_case(view, as_json=False)
        return 0

    return _with_runtime(args, run)


def _measure(session, args: argparse.Namespace, *, at, now, actor: str, ctx: Runtime):
    on = _date(args.on, field="--on")
    until = _date(args.until, field="--until")
    indicators = _indicators(args.indicator)
    if args.breach:
        if args.kind != MeasureKind.PROTECTION_ORDER:
            raise InputError(field="--breach", reason="only a protection order is breached")
        if at is None:
            raise InputError(field="--at", reason="a breach needs the time it happened")
        case = _case(session, args.case)
        records.record_order_breach(session, case=case, occurred_at=at, note=args.note,
                                    risk_indicators=indicators, now=now, actor=actor,
                                    operator_email=ctx.settings.operator_email,
                                    cadences=ctx.settings.visit_cadences)
        return case
    if at is not None or indicators:
        raise InputError(field="--at" if at is not None else "--indicator",
                         reason="only with --breach")
    case = _case(session, args.case)
    records.record_measure(session, case=case, kind=args.kind, status=args.status,
                           on=on or now.astimezone(SHANGHAI).date(),
                           until=until, issuer=args.issuer, note=args.note, now=now,
                           actor=actor)
    return case
