"""Users of the board: Argon2id hashes, validation naming the field, the demo users, the
`weiquan user` command and the generated secret key."""

from __future__ import annotations

import io
import os
import stat

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from app import cli
from models.runtime.secret_key import load_secret_key, secret_key_path
from models.db.orm import AuditEvent, User
from models.db.session import unit_of_work
from models.domain.errors import InputError
from models.service.users import add_user, authenticate, load_demo_users
from tests.conftest import DEMO, point_the_command_at


def add(ctx, **changes) -> User:
    values = {"username": "mei", "password": "a long password", "role": "cadre",
              "jurisdiction_code": "990102001001", "now": ctx.clock.now(), "actor": "test"}
    with unit_of_work(ctx.sessions) as session:
        return add_user(session, **{**values, **changes})


def test_passwords_are_stored_as_argon2id_and_checked(demo_ctx) -> None:
    user = add(demo_ctx)
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "a long password" not in user.password_hash
    with unit_of_work(demo_ctx.sessions) as session:
        assert authenticate(session, username="MEI ", password="a long password").id == user.id
        assert authenticate(session, username="mei", password="a long passwort") is None
        assert authenticate(session, username="nobody", password="a long password") is None
        event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "user_added"))
        assert event.detail == {"username": "mei", "role": "cadre", "jurisdiction": "990102001001"}


def test_an_outdated_hash_is_replaced_at_sign_in(demo_ctx) -> None:
    add(demo_ctx)
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("a long password")
    with unit_of_work(demo_ctx.sessions) as session:
        session.scalar(select(User)).password_hash = weak
    with unit_of_work(demo_ctx.sessions) as session:
        assert authenticate(session, username="mei", password="a long password") is not None
        assert session.scalar(select(User)).password_hash != weak


def test_an_inactive_user_cannot_sign_in(demo_ctx) -> None:
    add(demo_ctx)
    with unit_of_work(demo_ctx.sessions) as session:
        session.scalar(select(User)).active = False
        assert authenticate(session, username="mei", password="a long password") is None


@pytest.mark.parametrize(("changes", "field"), [
    pytest.param({"username": "Mei Li"}, "username", id="space-in-username"),
    pytest.param({"password": "short"}, "password", id="short-password"),
    pytest.param({"role": "boss"}, "role", id="unknown-role"),
    pytest.param({"jurisdiction_code": "990199"}, "jurisdiction", id="not-in-registry"),
    pytest.param({"jurisdiction_code": "99x"}, "jurisdiction", id="malformed-code"),
    pytest.param({"email": "not-an-address"}, "email", id="bad-email"),
    pytest.param({"contact_id": 9999}, "contact", id="unknown-contact"),
])
def test_bad_input_names_the_field(demo_ctx, changes, field) -> None:
    with pytest.raises(InputError) as caught:
        add(demo_ctx, **changes)
    assert caught.value.field == field


def test_a_username_exists_once(demo_ctx) -> None:
    add(demo_ctx)
    with pytest.raises(InputError, match="already exists"):
        add(demo_ctx, username="MEI")


def test_demo_users_one_per_role_loaded_once(demo_ctx) -> None:
    with unit_of_work(demo_ctx.sessions) as session:
        first = load_demo_users(session, path=DEMO / "users.csv", now=demo_ctx.clock.now(), actor="t")
        again = load_demo_users(session, path=DEMO / "users.csv", now=demo_ctx.clock.now(), actor="t")
        roles = sorted(session.scalars(select(User.role)))
        cadre = authenticate(session, username="cadre", password="demo-cadre")
    assert (first.added, again.added, again.kept) == (4, 0, 4)
    assert roles == ["admin", "cadre", "operator", "supervisor"]
    assert cadre is not None and cadre.jurisdiction_code == "990102001001"


@pytest.fixture
def cli_env(monkeypatch, demo_ctx):
    point_the_command_at(monkeypatch, settings=demo_ctx.settings)
    return demo_ctx


def test_user_add_command(cli_env, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert cli.main(["user", "add", "li.na", "--role", "supervisor", "--jurisdiction", "990102001",
                     "--name", "李娜", "--password-stdin"]) == 0
    assert "user li.na added" in capsys.readouterr().out
    with unit_of_work(cli_env.sessions) as session:
        assert authenticate(session, username="li.na", password="a long password").display_name == "李娜"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert cli.main(["user", "add", "li.na", "--role", "cadre", "--jurisdiction", "990102001",
                     "--password-stdin"]) == 2
    assert "username: 'li.na' already exists" in capsys.readouterr().err
    assert cli.main(["user", "list"]) == 0
    assert "li.na" in capsys.readouterr().out


def test_the_secret_key_is_made_once_and_kept_private(settings) -> None:
    first = load_secret_key(settings)
    assert len(first) >= 32 and load_secret_key(settings) == first
    mode = stat.S_IMODE(os.stat(secret_key_path(settings)).st_mode)
    assert mode == 0o600
    configured = settings.model_copy(update={"secret_key": "k" * 40})
    assert load_secret_key(configured) == "k" * 40


def test_registry_demo_loads_the_demo_users_too(cli_env, capsys) -> None:
    assert cli.main(["registry", "demo"]) == 0
    assert "demo users: 4 added" in capsys.readouterr().out
    assert cli.main(["registry", "demo"]) == 0
    assert "demo users: 0 added, 4 kept" in capsys.readouterr().out
