"""The scheduler's leader lease, fast, on SQLite and PostgreSQL (WEIQUAN_TEST_POSTGRES_URL):
taken, renewed, not taken while live, taken over once expired, lost — with the clock
injected. Then the service object: it leads (a scheduler) only while it holds the lease."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.service import FlowService
from models.db.session import make_engine, make_session_factory, unit_of_work
from models.domain.calendar import SHANGHAI
from models.service.leases import SCHEDULER_LEASE, hold_lease, lease_view, release_lease
from models.service.service_status import service_status

T0 = datetime(2026, 10, 14, 9, 0, tzinfo=SHANGHAI)
TTL = timedelta(seconds=15)


@pytest.fixture
def sessions(database_url) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def hold(sessions, holder: str, at: datetime) -> bool:
    with unit_of_work(sessions) as session:
        return hold_lease(session, name=SCHEDULER_LEASE, holder=holder, now=at, ttl=TTL)


def holder_at(sessions, at: datetime) -> str | None:
    with unit_of_work(sessions) as session:
        view = lease_view(session, name=SCHEDULER_LEASE, now=at)
    return view.holder if view is not None and view.live else None


def test_the_first_process_takes_the_lease_and_the_second_stands_by(sessions):
    assert hold(sessions, "a", T0)
    assert not hold(sessions, "b", T0 + timedelta(seconds=1))
    assert holder_at(sessions, T0 + timedelta(seconds=1)) == "a"


def test_renewal_keeps_the_lease_past_its_first_expiry(sessions):
    assert hold(sessions, "a", T0)
    for seconds in (5, 10, 15, 20):
        assert hold(sessions, "a", T0 + timedelta(seconds=seconds))
    # 20 s after taking it, 5 s after its last renewal: still a's, b cannot take it
    assert not hold(sessions, "b", T0 + timedelta(seconds=21))
    with unit_of_work(sessions) as session:
        view = lease_view(session, name=SCHEDULER_LEASE, now=T0 + timedelta(seconds=21))
    assert view.age == timedelta(seconds=21)
    assert view.expires_in == timedelta(seconds=14)


def test_a_standby_takes_the_lease_only_after_it_expired(sessions):
    assert hold(sessions, "a", T0)
    assert not hold(sessions, "b", T0 + TTL)  # at the expiry instant: not yet
    assert hold(sessions, "b", T0 + TTL + timedelta(seconds=1))
    assert holder_at(sessions, T0 + TTL + timedelta(seconds=1)) == "b"
    with unit_of_work(sessions) as session:
        view = lease_view(session, name=SCHEDULER_LEASE, now=T0 + TTL + timedelta(seconds=2))
    assert view.age == timedelta(seconds=1)  # b's age, not a's


def test_the_old_holder_cannot_renew_a_lease_taken_over(sessions):
    assert hold(sessions, "a", T0)
    assert hold(sessions, "b", T0 + timedelta(seconds=30))
    assert not hold(sessions, "a", T0 + timedelta(seconds=31))
    assert holder_at(sessions, T0 + timedelta(seconds=31)) == "b"


def test_a_released_lease_is_taken_at_once(sessions):
    assert hold(sessions, "a", T0)
    with unit_of_work(sessions) as session:
        release_lease(session, name=SCHEDULER_LEASE, holder="a", now=T0 + timedelta(seconds=2))
    assert hold(sessions, "b", T0 + timedelta(seconds=3))


def test_status_shows_the_leader_and_what_waits(sessions):
    with unit_of_work(sessions) as session:
        assert service_status(session, now=T0)["leader"] is None
    hold(sessions, "a", T0)
    with unit_of_work(sessions) as session:
        status = service_status(session, now=T0 + timedelta(seconds=4))
    assert status["leader"]["holder"] == "a"
    assert status["leader"]["live"] is True
    assert status["leader"]["expires_in_seconds"] == 11.0
    assert status["notices"] == {"queued": 0, "sending": 0, "failed": 0}
    assert status["owed_flow_runs"] == 0


async def test_the_service_leads_only_while_it_holds_the_lease(ctx):
    ctx.clock.at = T0
    first = FlowService(ctx, prefect_ready=lambda: False, holder="first")
    second = FlowService(ctx, prefect_ready=lambda: False, holder="second")
    try:
        assert await first.hold_or_stand_by()
        assert first.leading and first.scheduler.running
        assert not await second.hold_or_stand_by()
        assert not second.leading

        ctx.clock.at = T0 + timedelta(seconds=ctx.settings.lease_ttl_seconds + 1)
        assert await second.hold_or_stand_by()  # first stopped renewing: second takes over
        assert second.leading
        assert not await first.hold_or_stand_by()  # its renewal fails: the scheduler stops
        assert not first.leading and first.scheduler is None
    finally:
        for service in (first, second):
            if service.scheduler is not None:
                service.scheduler.shutdown(wait=False)


async def test_status_lists_every_service_process_by_its_heartbeat(ctx):
    ctx.clock.at = T0
    first = FlowService(ctx, prefect_ready=lambda: False, holder="first")
    second = FlowService(ctx, prefect_ready=lambda: False, holder="second")

    def processes(at: datetime) -> dict[str, tuple[bool, bool, float]]:
        with unit_of_work(ctx.sessions) as session:
            status = service_status(session, now=at)
        return {p["holder"]: (p["live"], p["leading"], p["heartbeat_age_seconds"])
                for p in status["processes"]}

    try:
        assert await first.hold_or_stand_by()
        assert not await second.hold_or_stand_by()  # a standby beats too
        assert processes(T0 + timedelta(seconds=2)) == {"first": (True, True, 2.0),
                                                        "second": (True, False, 2.0)}
        # The leader dies (no more beats); the standby goes on beating and takes over.
        ctx.clock.at = T0 + timedelta(seconds=ctx.settings.lease_ttl_seconds + 1)
        assert await second.hold_or_stand_by()
        later = ctx.clock.at + timedelta(seconds=1)
        assert processes(later) == {"first": (False, False, ctx.settings.lease_ttl_seconds + 2),
                                    "second": (True, True, 1.0)}
        # A clean stop ends the heartbeat at once; the leader forgets long-silent processes.
        second._give_up_lead()
        assert processes(later)["second"][:2] == (False, False)
        ctx.clock.at = T0 + timedelta(hours=2)
        assert await first.hold_or_stand_by()
        assert set(processes(ctx.clock.at)) == {"first"}
    finally:
        for service in (first, second):
            if service.scheduler is not None:
                service.scheduler.shutdown(wait=False)
