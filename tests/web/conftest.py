"""The board over a test database: demo registry, one user per role and place, and a client
that signs in through the real form (CSRF token and all)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from models.runtime.bootstrap import Runtime
from models.db.session import unit_of_work
from models.domain.calendar import SHANGHAI
from models.service import users
from tests.integration.ledger_data import store
from web.app import create_app

PASSWORD = "correct horse battery"

# username: (role, jurisdiction). The demo tree: 示范县 990102 → 东湖镇 990102001 (东湖村
# …001001, 西岭村 …001002) and 南山街道 990102002 (南山社区 …002001).
USERS = {
    "donghu": ("cadre", "990102001001"),
    "xiling": ("cadre", "990102001002"),
    "dhz": ("supervisor", "990102001"),
    "county": ("supervisor", "990102"),
    "ops": ("operator", "990102"),
    "root": ("admin", "99"),
}

VICTIM_NAME = "林小红"
VICTIM_PHONE = "139-1234-5678"
VICTIM_ADDRESS = "东湖村三组12号"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch) -> None:
    """Argon2id with test-sized cost: the real parameters are checked in test_users."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "password_hasher", lambda: cheap)
    users._dummy_hash.cache_clear()
    yield
    users._dummy_hash.cache_clear()


@pytest.fixture
def web_ctx(demo_ctx: Runtime) -> Runtime:
    with unit_of_work(demo_ctx.sessions) as session:
        for username, (role, code) in USERS.items():
            users.add_user(session, username=username, password=PASSWORD, role=role,
                           jurisdiction_code=code, now=demo_ctx.clock.now(), actor="test")
    return demo_ctx


@pytest.fixture
def app(web_ctx):
    return create_app(web_ctx)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    token = csrf_of(client.get("/signin").text)
    return client.post("/signin", data={"username": username, "password": password,
                                        "csrf_token": token, "next": "/board"},
                       follow_redirects=False)


@pytest.fixture
def client_for(app) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        response = sign_in(client, username)
        assert response.status_code == 303, response.text
        return client

    yield make
    for client in clients:
        client.close()


def store_case(ctx: Runtime, *, jurisdiction: str, received: str, category: str = "land_rights",
               tier: str | None = "ordinary", risk: list[str] | None = None,
               name: str = VICTIM_NAME) -> str:
    """Take a case in as of its receipt (the clock moves there and stays); its number."""
    return store(ctx, jurisdiction=jurisdiction, received=received, category=category, tier=tier,
                 risk=risk, summary="来访反映问题（测试）", parties=[
                     {"role": "victim", "name": name, "phone": VICTIM_PHONE, "age": 36,
                      "address": VICTIM_ADDRESS}])


def case_numbers(html: str) -> set[str]:
    """Case numbers in the board's rows."""
    table = html.split('id="overdue-items"', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r"WQ-\d{4}-\d{6}", table))
