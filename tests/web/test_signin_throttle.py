"""Failed sign-ins: 5 within 15 minutes under one user name or from one address refuse it for
15 minutes, counted in the database; the answer never tells which of name or password was
wrong, nor that a lock holds; all of it audited with the address. Time is the context's
clock, moved by the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.db.orm import AuditEvent
from models.db.session import unit_of_work
from models.service import users
from tests.web.conftest import PASSWORD, sign_in
from web.app import create_app

REFUSED = "用户名或密码不正确。"


@pytest.fixture
def client_at(app) -> Iterator[Callable[[str], TestClient]]:
    """A client whose requests come from this address."""
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        client = TestClient(app, client=(address, 40000))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def fail(client: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        response = sign_in(client, username, "not the password")
        assert response.status_code == 401 and REFUSED in response.text


def audits(ctx, kind: str) -> list[AuditEvent]:
    with unit_of_work(ctx.sessions) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                                    .order_by(AuditEvent.id)))


def test_five_failures_lock_the_user_name_whatever_the_address(client_at, web_ctx) -> None:
    for n in range(5):  # a new address each time: the address throttle is not what stops it
        fail(client_at(f"10.0.0.{n}"), "dhz", 1)
    locked = sign_in(client_at("10.0.1.1"), "dhz")  # the right password now
    assert locked.status_code == 401 and REFUSED in locked.text
    assert sign_in(client_at("10.0.1.1"), "county").status_code == 303  # other users may
    [lock] = audits(web_ctx, "signin_locked")
    assert lock.actor == "web:dhz" and lock.detail["scope"] == "user"
    assert lock.detail["address"] == "10.0.0.4"


def test_five_failures_from_one_address_lock_the_address_for_every_name(client_at, web_ctx) -> None:
    guesser = client_at("192.0.2.7")
    for name in ("dhz", "county", "donghu", "xiling", "nobody"):  # one try per name
        fail(guesser, name, 1)
    assert sign_in(guesser, "root").status_code == 401  # right password, locked address
    assert sign_in(client_at("192.0.2.8"), "root").status_code == 303
    [lock] = audits(web_ctx, "signin_locked")
    assert lock.detail["scope"] == "address" and lock.detail["address"] == "192.0.2.7"


def test_unknown_name_wrong_password_and_lock_answer_alike(client_at, web_ctx) -> None:
    client = client_at("198.51.100.1")
    answers = [sign_in(client, "nobody", PASSWORD), sign_in(client, "dhz", "not the password")]
    fail(client, "dhz", 3)
    answers.append(sign_in(client, "dhz", PASSWORD))  # locked
    assert audits(web_ctx, "signin_locked")
    assert {(a.status_code, a.text.count(REFUSED)) for a in answers} == {(401, 1)}
    pages = [a.text.replace(a.text.split('name="csrf_token" value="')[1].split('"')[0], "")
             for a in answers if 'value="dhz"' in a.text]
    assert len(pages) == 2 and len(set(pages)) == 1  # wrong password, lock: the same page


def test_a_lock_ends_after_15_minutes(client_at, web_ctx) -> None:
    client = client_at("203.0.113.5")
    fail(client, "dhz", 5)
    web_ctx.clock.at += timedelta(minutes=14, seconds=59)
    assert sign_in(client, "dhz").status_code == 401
    web_ctx.clock.at += timedelta(seconds=1)
    assert sign_in(client, "dhz").status_code == 303


def test_failures_spread_over_more_than_15_minutes_do_not_lock(client_at, web_ctx) -> None:
    client = client_at("203.0.113.6")
    for _ in range(8):
        fail(client, "dhz", 1)
        web_ctx.clock.at += timedelta(minutes=4)  # never 5 within 15 minutes
    assert sign_in(client, "dhz").status_code == 303
    assert not audits(web_ctx, "signin_locked")


def test_a_success_clears_the_names_count(client_at, web_ctx) -> None:
    fail(client_at("203.0.113.7"), "dhz", 4)
    assert sign_in(client_at("203.0.113.8"), "dhz").status_code == 303
    fail(client_at("203.0.113.9"), "dhz", 4)  # 8 within the window, but 4 since the success
    assert sign_in(client_at("203.0.113.10"), "dhz").status_code == 303


def test_the_count_outlives_the_app(web_ctx) -> None:
    """Another worker (or the app after a restart) reads the same count from the database."""
    with TestClient(create_app(web_ctx), client=("203.0.113.11", 1)) as first:
        fail(first, "dhz", 4)
    with TestClient(create_app(web_ctx), client=("203.0.113.12", 1)) as second:
        fail(second, "dhz", 1)
        assert sign_in(second, "dhz").status_code == 401


def test_every_attempt_is_audited_with_its_address(client_at, web_ctx) -> None:
    fail(client_at("203.0.113.20"), "dhz", 1)
    fail(client_at("203.0.113.21"), "no.such.user", 1)
    assert sign_in(client_at("203.0.113.22"), "dhz").status_code == 303
    failed = audits(web_ctx, "signin_failed")
    assert [(a.actor, a.detail["address"]) for a in failed] == [
        ("web:dhz", "203.0.113.20"), ("web:(unknown user)", "203.0.113.21")]
    [signed_in] = [a for a in audits(web_ctx, "signed_in") if a.actor == "web:dhz"]
    assert signed_in.detail["address"] == "203.0.113.22"
    assert all("no.such.user" not in str(a.detail) for a in failed)  # it may be a password


def test_a_locked_attempt_costs_a_password_check(client_at, web_ctx, monkeypatch) -> None:
    """Refused without looking at the password, it would answer faster than a wrong one."""
    client = client_at("203.0.113.30")
    fail(client, "dhz", 5)
    checks: list[str] = []
    real = users.password_hasher()

    class Counting:
        def verify(self, stored_hash: str, password: str) -> bool:
            checks.append(password)
            return real.verify(stored_hash, password)

        def __getattr__(self, name: str):
            return getattr(real, name)

    monkeypatch.setattr(users, "password_hasher", lambda: Counting())
    assert sign_in(client, "dhz").status_code == 401
    assert checks == [PASSWORD]
