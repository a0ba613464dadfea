"""`weiquan referral …`, `weiquan visit …` and the case's risk, incidents and safe contact.

Each command is one transaction: it validates (naming the field), acts, and prints the case;
bad input exits 2 with nothing stored."""

from __future__ import annotations

import argparse
from datetime import date, datetime

from app.cli import _actor, _case, _parse_time, _print_case, _with_runtime
from models.runtime.bootstrap import Runtime
from models.db.session import unit_of_work
from models.domain.errors import InputError, NotFoundError, parse_date
from models.domain.referrals import DEFAULT_FEEDBACK_WORKING_DAYS
from models.domain.risk import RiskLevel
from models.service import referrals, visits
from models.service.calendar import current_calendar
from models.service.views import case_view


def add_casework_commands(sub: argparse._SubParsersAction,
                          case: argparse._SubParsersAction) -> None:
    _referral_commands(sub)
    _visit_commands(sub)
    _case_commands(case)


def _referral_commands(sub: argparse._SubParsersAction) -> None:
    referral = sub.add_parser("referral", help="refer a case to a department; record its "
                              "acknowledgement and result (转介、反馈)")
    ref = referral.add_subparsers(dest="referral_command")
    send = ref.add_parser("send", help="refer the case to a department contact with a feedback deadline")
    send.add_argument("case")
    send.add_argument("--role", required=True, help="contact role (vocabulary: contact_roles), "
                      "e.g. civil_affairs, police_station, judicial_assistant")
    send.add_argument("--contact", help="a registry contact id or email (default: the role's "
                      "contact at the case's level, or the nearest level above)")
    send.add_argument("--days", type=int, default=DEFAULT_FEEDBACK_WORKING_DAYS,
                      help="feedback deadline in working days (default %(default)s)")
    send.add_argument("--purpose", default="", help="what is asked, without personal data")
    send.add_argument("--by", default=None)
    send.set_defaults(handler=cmd_referral, act="send")
    ack = ref.add_parser("ack", help="the department confirmed receipt")
    ack.add_argument("referral", help="referral number (shown by `case show`)")
    ack.add_argument("--by", default=None, help="who confirmed (default: the login name)")
    ack.add_argument("--at", help="when (ISO with offset; default now)")
    ack.set_defaults(handler=cmd_referral, act="ack")
    result = ref.add_parser("result", help="the department reported the result back: "
                            "reminders and escalation stop")
    result.add_argument("referral")
    result.add_argument("--note", required=True, help="the result, in short")
    result.add_argument("--by", default=None)
    result.add_argument("--at", help="when (ISO with offset; default now)")
    result.set_defaults(handler=cmd_referral, act="result")
    withdraw = ref.add_parser("withdraw", help="withdraw a referral (needs a reason)")
    withdraw.add_argument("referral")
    withdraw.add_argument("--reason", required=True)
    withdraw.add_argument("--by", default=None)
    withdraw.set_defaults(handler=cmd_referral, act="withdraw")


def _visit_commands(sub: argparse._SubParsersAction) -> None:
    visit = sub.add_parser("visit", help="return visits to families on the ledgers (回访)")
    vis = visit.add_subparsers(dest="visit_command")
    record = vis.add_parser("record", help="record a visit; the next one is planned from its date")
    record.add_argument("case")
    record.add_argument("--at", required=True, help="when the visit happened (ISO with offset)")
    record.add_argument("--by", required=True, help="who visited")
    record.add_argument("--mode", required=True, choices=list(visits.VISIT_MODES))
    alone = record.add_mutually_exclusive_group(required=True)
    alone.add_argument("--alone", dest="met_alone", action="store_true",
                       help="the victim was met alone")
    alone.add_argument("--not-alone", dest="met_alone", action="store_false")
    record.add_argument("--needs", default="", help="needs found")
    record.add_argument("--condition", default="",
                        help="the physical and emotional state of the women and children")
    record.add_argument("--help-given", default="", help="help given")
    record.add_argument("--next", help="bring the next visit forward to this date (YYYY-MM-DD)")
    record.set_defaults(handler=cmd_visit, act="record")
    forward = vis.add_parser("forward", help="bring the next visit forward")
    forward.add_argument("case")
    forward.add_argument("--to", required=True, help="date (YYYY-MM-DD)")
    forward.add_argument("--reason", default="")
    forward.add_argument("--by", default=None)
    forward.set_defaults(handler=cmd_visit, act="forward")
    end = vis.add_parser("end", help="end the visit plan (needs a reason; audited)")
    end.add_argument("case")
    end.add_argument("--reason", required=True)
    end.add_argument("--by", default=None)
    end.set_defaults(handler=cmd_visit, act="end")


def _case_commands(case: argparse._SubParsersAction) -> None:
    incident = case.add_parser("incident", help="record a new incident: re-assesses the risk, "
                               "tightens the visit plan, reports at once what must be reported")
    incident.add_argument("case")
    incident.add_argument("--at", required=True, help="when it happened (ISO with offset)")
    incident.add_argument("--indicator", action="append", default=[],
                          help="risk indicator code (vocabulary: risk_indicators); repeatable")
    incident.add_argument("--note", default="")
    incident.add_argument("--by", default=None)
    incident.set_defaults(handler=cmd_case_casework, act="incident")
    risk = case.add_parser("risk", help="set the risk level by hand (lowering below the "
                           "rules' level needs --reason)")
    risk.add_argument("case")
    risk.add_argument("--level", required=True, choices=[level.value for level in RiskLevel])
    risk.add_argument("--reason", default=None)
    risk.add_argument("--by", default=None)
    risk.set_defaults(handler=cmd_case_casework, act="risk")
    safe = case.add_parser("safe-contact", help="do-not-contact, safe channel and quiet hours")
    safe.add_argument("case")
    direct = safe.add_mutually_exclusive_group()
    direct.add_argument("--do-not-contact", dest="do_not_contact", action="store_true",
                        default=None, help="she must not be contacted directly")
    direct.add_argument("--allow-direct", dest="do_not_contact", action="store_false")
    safe.add_argument("--safe-channel", default=None, help="how to reach her safely ('' clears)")
    safe.add_argument("--quiet-hours", default=None,
                      help="HH:MM-HH:MM, never contact her then ('' clears)")
    safe.add_argument("--by", default=None)
    safe.set_defaults(handler=cmd_case_casework, act="safe_contact")


def _date(value: str | None, *, field: str) -> date | None:
    return None if value is None else parse_date(value, field=field)


def _not_future(at: datetime, *, now: datetime, ctx: Runtime, field: str) -> datetime:
    if at > now + ctx.intake_limits.clock_skew:
        raise InputError(field=field, reason=f"{at.isoformat()} lies in the future")
    return at


def cmd_referral(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        actor = _actor(args)
        with unit_of_work(ctx.sessions) as session:
            if args.act == "send":
                case = _case(session, args.case)
                referral = referrals.refer(
                    session, case=case, role=args.role, contact_key=args.contact,
                    working_days=args.days, purpose=args.purpose, now=now, actor=actor,
                    calendar=current_calendar(session))
            else:
                referral = referrals.referral_by_key(session, args.referral)
                if referral is None:
                    raise NotFoundError(what="referral", key=args.referral)
                case = _case(session, str(referral.case_id))
                if args.act in ("ack", "result"):
                    at = _not_future(_parse_time(args.at, field="--at", default=now), now=now,
                                     ctx=ctx, field="--at")
                if args.act == "ack":
                    if not referrals.acknowledge_referral(session, referral=referral, by=actor,
                                                          at=at, actor=actor):
                        print(f"referral {referral.id} was already acknowledged")
                elif args.act == "result":
                    referrals.record_referral_result(session, referral=referral, note=args.note,
                                                     by=actor, at=at, actor=actor)
                else:
                    referrals.withdraw_referral(session, referral=referral, reason=args.reason,
                                                at=now, actor=actor)
            print(f"referral {referral.id}: {referral.status}, feedback due "
                  f"{referral.feedback_due_at.isoformat()}")
            view = case_view(session, case)
        _print_case(view, as_json=False)
        return 0

    return _with_runtime(args, run)


def cmd_visit(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        # For `record`, --by is who visited; the recorder is whoever runs the command.
        actor = _actor(argparse.Namespace(by=None if args.act == "record" else args.by))
        with unit_of_work(ctx.sessions) as session:
            case = _case(session, args.case)
            if args.act == "record":
                at = _not_future(_parse_time(args.at, field="--at", default=now), now=now,
                                 ctx=ctx, field="--at")
                visits.record_visit(
                    session, case=case, visited_at=at, visited_by=args.by, mode=args.mode,
                    met_alone=args.met_alone, needs=args.needs, condition=args.condition,
                    help_given=args.help_given, now=now, actor=actor,
                    next_visit_on=_date(args.next, field="--next"),
                    cadences=ctx.settings.visit_cadences)
            elif args.act == "forward":
                visits.bring_forward(session, case=case, to=_date(args.to, field="--to"),
                                     now=now, actor=actor, reason=args.reason)
            else:
                visits.end_plan(session, case=case, reason=args.reason, now=now, actor=actor)
            view = case_view(session, case)
        _print_case(view, as_json=False)
        return 0

    return _with_runtime(args, run)


def cmd_case_casework(args: argparse.Namespace) -> int:
    def run(ctx: Runtime) -> int:
        now = ctx.clock.now()
        actor = _actor(args)
        with unit_of_work(ctx.sessions) as session:
            case = _case(session, args.case)
            if args.act == "incident":
                at = _not_future(_parse_time(args.at, field="--at", default=now), now=now,
                                 ctx=ctx, field="--at")
                visits.record_incident(session, case=case, occurred_at=at,
                                       risk_indicators=_indicators(args.indicator),
                                       note=args.note, now=now, actor=actor,
                                       operator_email=ctx.settings.operator_email,
                                       cadences=ctx.settings.visit_cadences)
            elif args.act == "risk":
                visits.set_risk_level(session, case=case, level=args.level, reason=args.reason,
                                      now=now, actor=actor, cadences=ctx.settings.visit_cadences)
            else:
                if args.do_not_contact is None and args.safe_channel is None \
                        and args.quiet_hours is None:
                    raise InputError(field="--do-not-contact/--safe-channel/--quiet-hours",
                                     reason="give at least one")
                visits.set_safe_contact(session, case=case, do_not_contact=args.do_not_contact,
                                        safe_channel=args.safe_channel,
                                        quiet_hours=args.quiet_hours, now=now, actor=actor)
            view = case_view(session, case)
        _print_case(view, as_json=False)
        return 0

    return _with_runtime(args, run)


def _indicators(codes: list[str]) -> list[str]:
    from models.domain.vocabulary import vocabulary

    known = vocabulary().codes("risk_indicators")
    for code in codes:
        if code not in known:
            raise InputError(field="--indicator", reason=f"unknown risk indicator {code!r} "
                             "(see vocabulary.yaml: risk_indicators)")
    return list(dict.fromkeys(codes))
