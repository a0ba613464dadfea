"""The read model of what is due (`models.service.due_items`): one case at a time, table-driven,
on a real database (SQLite; PostgreSQL too when configured) — and the board, `weiquan overdue`,
the digests and the operator's artifact giving the same overdue items for the same subtree at
the same instant. Time is injected: every call takes `as_of`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, Notice, Referral, VisitPlan
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.domain.deadlines import end_of_day
from models.domain.digest import (
    KIND_LABELS,
    ItemKind,
    State,
    build_cadre_digest,
    items_by_owner,
    rollup,
    state_of,
)
from models.domain.referrals import ReferralStatus
from models.domain.situation_report import REPORT_WRITTEN
from models.domain.statuses import NoticeStatus
from models.service import casework_records as records
from models.service import referrals
from models.service.board import overdue_board
from models.service.calendar import current_calendar
from models.service.digests import jurisdiction_nodes, overdue_table
from models.service.due_items import due_items, overdue_items
from models.service.overdue import overdue_report
from tests.integration.test_casework import take_in_doc

AS_OF = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)  # a Tuesday
TODAY = AS_OF.date()
YESTERDAY, TOMORROW = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
LONG_AGO = date(2026, 11, 11)
RECEIVED = {"received_at": "2026-11-02T09:00:00+08:00"}


def _answer_due(case: Case, day: date) -> None:
    case.response_due_at, case.response_due_date = end_of_day(day), day


def _visits_only(case: Case, session) -> VisitPlan:
    # the answer is given and (a 12338 matter) its situation report written: only the visit speaks
    case.responded_at = AS_OF - timedelta(days=20)
    session.add(AuditEvent(case_id=case.id, at=case.responded_at, actor="test",
                           kind=REPORT_WRITTEN, note="", detail={}))
    return session.scalar(select(VisitPlan).where(VisitPlan.case_id == case.id))


def _difficult(case: Case, *, due: date = YESTERDAY) -> None:
    case.tier = "difficult"
    _answer_due(case, due)


def _transfer_sent(session, case: Case) -> None:
    session.add(Notice(key=f"case:{case.id}:difficult_transfer", case_id=case.id,
                       kind="difficult_transfer", escalation_level=0,
                       recipient_role="federation_chair", recipient_jurisdiction="990102001",
                       to_address="fulian.dhz@example.org", due_at=case.received_at,
                       status=NoticeStatus.SENT, attempts=1, next_attempt_at=case.received_at,
                       sent_at=case.received_at, created_at=case.received_at))


def _referral(session, case: Case, *, due: date, status: ReferralStatus) -> None:
    referral = referrals.refer(session, case=case, role="civil_affairs", working_days=5,
                               purpose="请协助临时安置", now=case.received_at, actor="test",
                               calendar=current_calendar(session))
    referral.feedback_due_at, referral.status = end_of_day(due), status
    case.responded_at = case.received_at  # only the referral speaks


def _order(*steps: tuple[str, date | None]) -> Callable:
    """A DV case whose only business is its protection order, recorded step by step
    (status, expiry): the latest record is the order's state."""
    def setup(session, case):
        _visits_only(case, session).status = "ended"
        for status, until in steps:
            records.record_measure(session, case=case, kind="protection_order", status=status,
                                   on=date(2026, 11, 2), until=until, issuer="示范县人民法院",
                                   now=case.received_at, actor="test")
    return setup


def _visit_on(day: date, hour: int = 10) -> Callable:
    def setup(session, case):
        _visits_only(case, session).next_due_at = datetime.combine(
            day, datetime.min.time(), SHANGHAI).replace(hour=hour)
    return setup


# (id, document, setup(session, case), instant, expected: [(kind, state)] for that case)
SCENARIOS = [
    ("response-overdue", "land_rights_ordinary", lambda s, c: _answer_due(c, LONG_AGO), AS_OF,
     [(ItemKind.RESPONSE, State.OVERDUE)]),
    ("response-due-today", "land_rights_ordinary", lambda s, c: _answer_due(c, TODAY), AS_OF,
     [(ItemKind.RESPONSE, State.DUE_TODAY)]),
    ("response-due-in-3-working-days", "land_rights_ordinary",
     lambda s, c: _answer_due(c, date(2026, 11, 27)), AS_OF, [(ItemKind.RESPONSE, State.DUE_SOON)]),
    ("response-due-in-4-working-days-not-yet", "land_rights_ordinary",
     lambda s, c: _answer_due(c, date(2026, 11, 30)), AS_OF, []),
    ("response-answered-gone", "land_rights_ordinary",
     lambda s, c: (_answer_due(c, LONG_AGO), setattr(c, "responded_at", AS_OF)), AS_OF, []),
    ("response-paused-gone", "land_rights_ordinary",
     lambda s, c: (_answer_due(c, LONG_AGO), setattr(c, "paused_at", AS_OF),
                   setattr(c, "pause_reason", "victim_unreachable")), AS_OF, []),
    ("response-closed-gone", "land_rights_ordinary",
     lambda s, c: (_answer_due(c, LONG_AGO), setattr(c, "status", "closed")), AS_OF, []),
    ("response-last-second-of-its-day-not-overdue", "land_rights_ordinary",
     lambda s, c: _answer_due(c, TODAY),
     end_of_day(TODAY) + timedelta(microseconds=500_000), [(ItemKind.RESPONSE, State.DUE_TODAY)]),
    ("difficult-transfer-late", "land_rights_ordinary", lambda s, c: _difficult(c), AS_OF,
     [(ItemKind.TRANSFER, State.OVERDUE)]),
    ("difficult-transfer-due-today", "land_rights_ordinary",
     lambda s, c: _difficult(c, due=TODAY), AS_OF, [(ItemKind.TRANSFER, State.DUE_TODAY)]),
    ("difficult-transferred-is-tracked-not-due", "land_rights_ordinary",
     lambda s, c: (_difficult(c), _transfer_sent(s, c)), AS_OF, []),
    ("difficult-upper-result-in", "land_rights_ordinary",
     lambda s, c: (_difficult(c), setattr(c, "upper_result_at", AS_OF)), AS_OF, []),
    ("referral-open-overdue", "land_rights_ordinary",
     lambda s, c: _referral(s, c, due=YESTERDAY, status=ReferralStatus.OPEN), AS_OF,
     [(ItemKind.REFERRAL, State.OVERDUE)]),
    ("referral-acknowledged-awaiting", "land_rights_ordinary",
     lambda s, c: _referral(s, c, due=YESTERDAY, status=ReferralStatus.ACKNOWLEDGED), AS_OF,
     [(ItemKind.REFERRAL, State.OVERDUE)]),
    ("referral-acknowledged-due-soon", "land_rights_ordinary",
     lambda s, c: _referral(s, c, due=date(2026, 11, 26), status=ReferralStatus.ACKNOWLEDGED),
     AS_OF, [(ItemKind.REFERRAL, State.DUE_SOON)]),
    ("referral-resulted-gone", "land_rights_ordinary",
     lambda s, c: _referral(s, c, due=YESTERDAY, status=ReferralStatus.RESULTED), AS_OF, []),
    ("referral-withdrawn-gone", "land_rights_ordinary",
     lambda s, c: _referral(s, c, due=YESTERDAY, status=ReferralStatus.WITHDRAWN), AS_OF, []),
    ("visit-due-today-not-overdue", "dv_strangulation", _visit_on(TODAY, hour=9), AS_OF,
     [(ItemKind.VISIT, State.DUE_TODAY)]),
    ("visit-missed-yesterday-overdue", "dv_strangulation", _visit_on(YESTERDAY), AS_OF,
     [(ItemKind.VISIT, State.OVERDUE)]),
    ("visit-last-half-second-of-its-day-not-overdue", "dv_strangulation", _visit_on(TODAY),
     end_of_day(TODAY) + timedelta(microseconds=500_000), [(ItemKind.VISIT, State.DUE_TODAY)]),
    ("visit-overdue-from-midnight-after-its-day", "dv_strangulation", _visit_on(YESTERDAY, 23),
     datetime.combine(TODAY, datetime.min.time(), SHANGHAI), [(ItemKind.VISIT, State.OVERDUE)]),
    ("visit-plan-ended-gone", "dv_strangulation",
     lambda s, c: setattr(_visits_only(c, s), "status", "ended"), AS_OF, []),
    # A protection order: due on its expiry day, listed from 10 working days before, never
    # overdue (a lapsed order is gone, not late).
    ("order-expires-today", "dv_strangulation", _order(("granted", TODAY)), AS_OF,
     [(ItemKind.PROTECTION_ORDER, State.DUE_TODAY)]),
    ("order-expires-in-10-working-days", "dv_strangulation",
     _order(("granted", date(2026, 12, 8))), AS_OF, [(ItemKind.PROTECTION_ORDER, State.DUE_SOON)]),
    ("order-expires-in-11-working-days-not-yet", "dv_strangulation",
     _order(("granted", date(2026, 12, 9))), AS_OF, []),
    ("order-lapsed-yesterday-gone-not-overdue", "dv_strangulation",
     _order(("granted", YESTERDAY)), AS_OF, []),
    ("order-lapsed-at-midnight-after-its-day", "dv_strangulation", _order(("granted", TODAY)),
     datetime.combine(TOMORROW, datetime.min.time(), SHANGHAI), []),
    ("order-applied-for-not-granted", "dv_strangulation", _order(("applied", None)), AS_OF, []),
    ("order-granted-then-refused-on-appeal", "dv_strangulation",
     _order(("granted", TOMORROW), ("refused", None)), AS_OF, []),
    ("order-renewed-counts-the-new-expiry", "dv_strangulation",
     _order(("granted", TOMORROW), ("granted", date(2027, 5, 20))), AS_OF, []),
]


def _store(ctx, document: str, setup) -> str:
    case_id = take_in_doc(ctx, document, **RECEIVED)
    with unit_of_work(ctx.sessions) as session:
        case = session.get(Case, case_id)
        setup(session, case)
        return case.number


@pytest.mark.parametrize("document,setup,as_of,expected",
                         [pytest.param(*row[1:], id=row[0]) for row in SCENARIOS])
def test_what_is_due_for_one_case(demo_ctx, document, setup, as_of, expected):
    number = _store(demo_ctx, document, setup)
    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
        items = [i for i in due_items(session, as_of=as_of, calendar=calendar, under="990102")
                 if i.case_number == number]
        overdue = [i for i in overdue_items(session, as_of=as_of, calendar=calendar,
                                            under="990102") if i.case_number == number]
    assert [(i.kind, state_of(i, as_of=as_of, calendar=calendar)) for i in items] == expected
    assert [i.kind for i in overdue] == [kind for kind, state in expected
                                         if state == State.OVERDUE]


def test_board_overdue_report_digests_and_artifact_give_the_same_items(demo_ctx):
    stored = {row[0]: _store(demo_ctx, *row[1:3]) for row in SCENARIOS if row[3] == AS_OF}
    # and one in another township, outside the subtree asked for
    elsewhere = _store(demo_ctx, "land_rights_ordinary", lambda s, c: (
        _answer_due(c, LONG_AGO), setattr(c, "jurisdiction_code", "990102002001")))
    under = "990102001"
    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
        expected = {(i.case_number, i.kind) for i in overdue_items(
            session, as_of=AS_OF, calendar=calendar, under=under)}
        board = {(i.case_number, i.kind) for i in overdue_board(
            session, as_of=AS_OF, under=under, calendar=calendar).items}
        report = overdue_report(session, as_of=AS_OF, under=under, calendar=calendar)
        listed = {(r["case"], ItemKind(r["kind"])) for r in report["overdue"]}
        listed |= {(r["case"], ItemKind.REFERRAL) for r in report["overdue_referrals"]}
        listed |= {(r["case"], ItemKind.VISIT) for r in report["overdue_visits"]}
        everything = due_items(session, as_of=AS_OF, calendar=calendar)
        in_subtree = [i for i in everything if i.jurisdiction_code.startswith(under)]
        by_label = {label: kind for kind, label in KIND_LABELS.items()}
        cadre = {(line.case_number, by_label[line.kind_label])
                 for items in items_by_owner(in_subtree).values()
                 for section in build_cadre_digest(items=items, as_of=AS_OF,
                                                   calendar=calendar).sections
                 for line in section.lines if line.overdue}
        nodes = jurisdiction_nodes(session, under=under)
        picture = rollup(items=everything, root=nodes[under], nodes=nodes, as_of=AS_OF,
                         calendar=calendar)
        supervisor = {label for row in picture.rows for label in row.overdue_cases}
        # the artifact counts by jurisdiction, kind and escalation level (no per-case state)
        artifact = Counter()
        for row in overdue_table(session, as_of=AS_OF, calendar=calendar):
            if row["jurisdiction"].startswith(under):
                artifact[(row["jurisdiction"], row["kind"])] += row["overdue"]
        places = {(i.case_number, i.kind): i.jurisdiction_code for i in in_subtree}
    overdue_ids = [row[0] for row in SCENARIOS if row[3] == AS_OF
                   and any(state == State.OVERDUE for _, state in row[4])]
    assert {number for number, _ in expected} == {stored[i] for i in overdue_ids}
    assert elsewhere not in {number for number, _ in expected}
    assert board == listed == cadre == expected
    assert +artifact == Counter((places[item], item[1].value) for item in expected)
    assert supervisor == {f"{number}（{KIND_LABELS[kind]}）" for number, kind in expected}
    assert picture.overdue == len(expected)


def test_the_artifact_counts_due_soon_as_the_digest_does(demo_ctx):
    number = _store(demo_ctx, "land_rights_ordinary", lambda s, c: _answer_due(c, TOMORROW))
    with unit_of_work(demo_ctx.sessions) as session:
        rows = overdue_table(session, as_of=AS_OF, calendar=current_calendar(session))
        node = repo.get_jurisdiction(session, "990102001002")
    assert [(r["cases"], r["overdue"], r["due_soon"]) for r in rows] == [(number, 0, 1)]
    assert rows[0]["jurisdiction_name"] == node.name


@pytest.mark.parametrize(("channel", "risk", "written", "expected"), [
    pytest.param("assigned", [], False, [ItemKind.RESPONSE, ItemKind.REPORT], id="assigned-owes-a-report"),
    pytest.param("hotline_12338", [], False, [ItemKind.RESPONSE, ItemKind.REPORT], id="12338-owes-a-report"),
    pytest.param("visit", ["media_present"], False, [ItemKind.RESPONSE, ItemKind.REPORT],
                 id="public-opinion-sign-owes-a-report"),
    pytest.param("assigned", [], True, [ItemKind.RESPONSE], id="report-written-done"),
    pytest.param("visit", [], False, [ItemKind.RESPONSE], id="a-plain-visit-owes-none"),
])
def test_a_matter_owes_its_situation_report_from_the_answer_deadline(demo_ctx, tmp_path, channel,
                                                                     risk, written, expected):
    from models.domain.access import Role
    from models.domain.ledgers import Requester
    from models.service.situation_report import write_situation_report
    from tests.integration.ledger_data import store

    number = store(demo_ctx, jurisdiction="990102001001", received="2026-11-02T09:00",
                   channel=channel, risk=risk, **({"assigned_by": "县妇联"} if channel == "assigned" else {}))
    if written:
        write_situation_report(demo_ctx.sessions, requester=Requester(
            actor="test", role=Role.SUPERVISOR, scope=None), case_key=number,
            out=tmp_path / "r.docx", now=demo_ctx.clock.now())
    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
        overdue = overdue_items(session, as_of=AS_OF, calendar=calendar, under="990102001")
        report = overdue_report(session, as_of=AS_OF, under="990102001", calendar=calendar)
    assert sorted(i.kind for i in overdue if i.case_number == number) == sorted(expected)
    assert sorted(ItemKind(r["kind"]) for r in report["overdue"] if r["case"] == number) == sorted(expected)
