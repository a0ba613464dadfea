"""WEIQUAN_ENV=production refuses to start with what only suits trying weiquan out, naming each
variable; development (the default) starts with nothing configured."""

from __future__ import annotations

import os
import secrets

import pytest

from app.cli import main
from app.settings import ConfigError, load_settings

GOOD_KEY = secrets.token_urlsafe(32)
READY = {
    "WEIQUAN_ENV": "production",
    "WEIQUAN_SMTP_HOST": "smtp.fulian.example.cn",
    "WEIQUAN_SECRET_KEY": GOOD_KEY,
    "WEIQUAN_DATABASE_URL": "postgresql+psycopg://weiquan@db.fulian.example.cn/weiquan",
    "WEIQUAN_PROCESSES": "4",
    "WEIQUAN_OPERATOR_EMAIL": "ops@fulian.example.cn",
    "WEIQUAN_PUBLIC_URL": "https://weiquan.fulian.example.cn",
}


@pytest.fixture
def environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("WEIQUAN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WEIQUAN_DATA_DIR", str(tmp_path))

    def apply(values: dict[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
    return apply


def refused_variables() -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        load_settings()
    return {p.field: p.reason for p in error.value.problems}


# id: (changes to a ready production environment, the variable named, words of the reason)
REFUSALS = {
    "local mail sink": ({"WEIQUAN_SMTP_HOST": None}, "WEIQUAN_SMTP_HOST", "local mail sink"),
    "secret key unset": ({"WEIQUAN_SECRET_KEY": None}, "WEIQUAN_SECRET_KEY", "no key is generated"),
    "secret key short": ({"WEIQUAN_SECRET_KEY": "Zq8#xP1!vR"}, "WEIQUAN_SECRET_KEY", "32 characters"),
    "secret key one character": ({"WEIQUAN_SECRET_KEY": "a" * 40}, "WEIQUAN_SECRET_KEY",
                                 "1 distinct characters"),
    "secret key changeme": ({"WEIQUAN_SECRET_KEY": "changeme" * 5}, "WEIQUAN_SECRET_KEY",
                            "placeholder"),
    "secret key two characters alternating": ({"WEIQUAN_SECRET_KEY": "ab" * 20},
                                              "WEIQUAN_SECRET_KEY", "2 distinct"),
    "sqlite with several processes": ({"WEIQUAN_DATABASE_URL": None}, "WEIQUAN_PROCESSES",
                                      "SQLite"),
    "operator mail unset": ({"WEIQUAN_OPERATOR_EMAIL": None}, "WEIQUAN_OPERATOR_EMAIL", "must be set"),
    "public url unset": ({"WEIQUAN_PUBLIC_URL": None}, "WEIQUAN_PUBLIC_URL", "https://"),
    "public url plain http": ({"WEIQUAN_PUBLIC_URL": "http://weiquan.fulian.example.cn"},
                              "WEIQUAN_PUBLIC_URL", "https://"),
}


@pytest.mark.parametrize("changes,variable,words", REFUSALS.values(), ids=REFUSALS.keys())
def test_production_refuses_naming_the_variable(environment, changes, variable, words):
    environment({**READY, **changes})
    refused = refused_variables()
    assert list(refused) == [variable]
    assert words in refused[variable]


def test_production_names_every_problem_at_once(environment):
    environment({"WEIQUAN_ENV": "production", "WEIQUAN_PROCESSES": "2"})
    assert set(refused_variables()) == {
        "WEIQUAN_SMTP_HOST", "WEIQUAN_SECRET_KEY", "WEIQUAN_PROCESSES", "WEIQUAN_OPERATOR_EMAIL",
        "WEIQUAN_PUBLIC_URL"}


ACCEPTED = {
    "ready on postgresql": {},
    "sqlite with one process": {"WEIQUAN_DATABASE_URL": None, "WEIQUAN_PROCESSES": "1"},
    "a long hex key": {"WEIQUAN_SECRET_KEY": secrets.token_hex(32)},
}


@pytest.mark.parametrize("changes", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_production_starts_when_ready(environment, changes):
    environment({**READY, **changes})
    assert load_settings().env == "production"


def test_development_needs_nothing_configured(environment):
    settings = load_settings()
    assert (settings.env, settings.smtp_host, settings.secret_key) == ("development", None, None)


def test_the_command_line_exits_2_naming_the_variable(environment, capsys):
    environment({**READY, "WEIQUAN_SMTP_HOST": None})
    assert main(["overdue"]) == 2
    err = capsys.readouterr().err
    assert "WEIQUAN_SMTP_HOST" in err and "Traceback" not in err
