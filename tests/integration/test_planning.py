"""Planning in batches plans what each case owes on its own: the same notices (keys,
recipients, kinds, instants, statuses) and the same next checks whether `plan_batch` takes
the whole set of due cases at once or one case at a time, and the same owed keys as the
re-check before sending (`CaseWork.owed`) finds. Varied cases: ordinary, answered, paused,
difficult, a DV case with return visits, a case referred to a department."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models.db.orm import Case, Notice
from models.db.session import unit_of_work
from models.domain.notice_keys import owed_key_of
from models.domain.procedure import PauseReason
from models.domain.reminders import ReminderPolicy
from models.service import procedure
from models.service.calendar import current_calendar
from models.service.owed import load_case_works
from models.service.planning import plan_batch
from models.service.referrals import refer
from tests.integration.test_due import at, take_in_contract


@pytest.fixture
def varied(demo_ctx):
    """Ten cases in different states, all received in late September 2026."""
    ids = {}
    for n in range(3):
        ids[f"ordinary-{n}"] = take_in_contract(demo_ctx, external_ref=f"plan-ordinary-{n}")
    ids["difficult"] = take_in_contract(demo_ctx, external_ref="plan-difficult", tier="difficult")
    ids["dv"] = take_in_contract(demo_ctx, "dv_strangulation", external_ref="plan-dv",
                                 received_at="2026-09-29T20:00:00+08:00")
    for name in ("answered", "paused", "referred"):
        ids[name] = take_in_contract(demo_ctx, external_ref=f"plan-{name}")
    now = at("2026-10-02T10:00:00")
    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
        procedure.respond(session, session.get(Case, ids["answered"]), at=now, actor="test",
                          note="答复")
        procedure.pause(session, session.get(Case, ids["paused"]), reason=PauseReason.VICTIM_UNREACHABLE,
                        at=now, actor="test", note="")
        refer(session, case=session.get(Case, ids["referred"]), role="civil_affairs", now=now,
              actor="test", calendar=calendar)
    return ids


def planned(sessions, *, as_of: datetime, limit: int) -> tuple[list[tuple], dict[int, datetime]]:
    """Plan everything due by `as_of` in batches of `limit`, read back what was stored, and
    roll it all back."""
    session = sessions()
    try:
        calendar = current_calendar(session)
        while plan_batch(session, as_of=as_of, calendar=calendar, policy=ReminderPolicy(),
                         limit=limit)[0] == limit:
            pass
        notices = [tuple(row) for row in session.execute(
            select(Notice.key, Notice.case_id, Notice.kind, Notice.to_address,
                   Notice.recipient_role, Notice.recipient_jurisdiction, Notice.due_at,
                   Notice.status, Notice.priority).order_by(Notice.key))]
        checks = dict(session.execute(select(Case.id, Case.next_check_at)).all())
        return notices, checks
    finally:
        session.rollback()
        session.close()


@pytest.mark.parametrize("when", ["2026-09-30T12:00:00", "2026-10-14T09:00:00",
                                  "2026-10-16T09:00:00", "2026-10-22T09:00:00",
                                  "2026-11-25T09:00:00"])
def test_a_batch_plans_what_each_case_owes_on_its_own(demo_ctx, varied, when):
    as_of = at(when)
    whole, whole_checks = planned(demo_ctx.sessions, as_of=as_of, limit=500)
    one_by_one, one_by_one_checks = planned(demo_ctx.sessions, as_of=as_of, limit=1)
    assert whole == one_by_one
    assert whole_checks == one_by_one_checks
    assert all(check is None or check > as_of for check in whole_checks.values())

    with unit_of_work(demo_ctx.sessions) as session:
        due = list(session.scalars(select(Case).where(Case.next_check_at <= as_of)))
        before = dict(session.execute(select(Notice.key, Notice.case_id)).all())
        owed = {(work.case.id, o.key) for work in load_case_works(session, due)
                for o in work.owed(as_of=as_of, calendar=current_calendar(session),
                                   policy=ReminderPolicy())}
    stored_now = {(case_id, owed_key_of(key)) for key, case_id, *_ in whole if key not in before}
    stored_at_intake = {(case_id, owed_key_of(key)) for key, case_id in before.items()}
    # What the re-check finds owed is what planning stored (or intake had stored already).
    assert stored_now == owed - stored_at_intake
    assert stored_now or when == "2026-09-30T12:00:00"


def test_planning_twice_adds_nothing(demo_ctx, varied):
    as_of = at("2026-10-16T09:00:00")
    with unit_of_work(demo_ctx.sessions) as session:
        calendar = current_calendar(session)
        checked, queued = plan_batch(session, as_of=as_of, calendar=calendar,
                                     policy=ReminderPolicy())
        assert checked == len(varied) and queued > 0
    with unit_of_work(demo_ctx.sessions) as session:
        # The cases' next checks moved past as_of; bring them back: the keys hold the line.
        for case in session.scalars(select(Case)):
            case.next_check_at = as_of - timedelta(seconds=1)
    with unit_of_work(demo_ctx.sessions) as session:
        assert plan_batch(session, as_of=as_of, calendar=calendar,
                          policy=ReminderPolicy()) == (len(varied), 0)
