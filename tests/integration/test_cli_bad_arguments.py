"""Every `weiquan` command, fed a bad argument of each kind that applies: exit 2, a message
naming the field and the reason, no traceback, nothing stored.

The commands and their arguments are read from the argparse parser itself, so a new command
or argument fails here until it has a valid base (BASE) and a rule for its bad values
(`bad_values`) — or is declared free text or a flag.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from app.cli import build_parser, main
from models.db.orm import Base
from tests.conftest import DEMO, SHARED, point_the_command_at

ROOT = Path(__file__).resolve().parents[2]
INTAKE = SHARED / "contract" / "intake" / "dv_strangulation.json"
PAST = "2026-10-05T10:00:00+08:00"  # after the demo intake was received, before today

# A valid invocation of each command; a bad value replaces one argument at a time.
# Placeholders: {case}, {referral}, {contact}, {file:SUFFIX} (a valid file of that kind).
BASE: dict[tuple[str, ...], dict[str, str | None]] = {
    ("up",): {},
    ("serve",): {},
    ("status",): {},
    ("db", "upgrade"): {},
    ("intake",): {"file": "{file:.json}"},
    ("case", "show"): {"case": "{case}"},
    ("case", "investigate"): {"case": "{case}"},
    ("case", "handle"): {"case": "{case}"},
    ("case", "close"): {"case": "{case}"},
    ("case", "respond"): {"case": "{case}", "--note": "已答复"},
    ("case", "upper-result"): {"case": "{case}", "--note": "上级已反馈"},
    ("case", "assign"): {"case": "{case}", "--to": "{contact}"},
    ("case", "pause"): {"case": "{case}", "--reason": "victim_unreachable"},
    ("case", "resume"): {"case": "{case}"},
    ("case", "incident"): {"case": "{case}", "--at": PAST},
    ("case", "risk"): {"case": "{case}", "--level": "high"},
    ("case", "safe-contact"): {"case": "{case}", "--do-not-contact": None},
    ("case", "mediation"): {"case": "{case}", "--on": "2026-10-05", "--mediator": "许调解",
                            "--outcome": "failed"},
    ("case", "verify"): {"case": "{case}", "--at": PAST, "--method": "visit", "--with": "邻居",
                         "--found": "情况属实", "--veracity": "true",
                         "--reasonableness": "reasonable"},
    ("case", "reject"): {"case": "{case}", "--reason": "不属妇联职责范围"},
    ("case", "follow-up"): {"case": "{case}", "--at": PAST, "--by": "王干部",
                            "--outcome": "已落实", "--satisfaction": "satisfied"},
    ("case", "measure"): {"case": "{case}", "--kind": "warning_letter", "--issuer": "东湖派出所"},
    ("referral", "send"): {"case": "{case}", "--role": "civil_affairs"},
    ("referral", "ack"): {"referral": "{referral}"},
    ("referral", "result"): {"referral": "{referral}", "--note": "已办结"},
    ("referral", "withdraw"): {"referral": "{referral}", "--reason": "重复转介"},
    ("visit", "record"): {"case": "{case}", "--at": PAST, "--by": "王干部", "--mode": "home",
                          "--alone": None},
    ("visit", "forward"): {"case": "{case}", "--to": "2026-12-20"},
    ("visit", "end"): {"case": "{case}", "--reason": "已迁出本地"},
    ("user", "add"): {"username": "newcadre", "--role": "cadre", "--jurisdiction": "990102",
                      "--password-stdin": None},
    ("user", "list"): {},
    ("source", "add"): {"source": "petition-county", "--jurisdiction": "990102"},
    ("source", "list"): {},
    ("source", "revoke"): {"source": "hotline-12338"},
    ("run-due",): {},
    ("overdue",): {},
    ("registry", "load"): {"--jurisdictions": "{file:.csv}"},
    ("registry", "demo"): {},
    ("calendar", "load"): {"file": "{file:.yaml}"},
    ("calendar", "status"): {},
    ("ledger", "export"): {"--form": "3", "--under": "990102", "--out": "{tmp}/out.xlsx",
                           "--deidentified": None},
    ("stats",): {"--under": "990102", "--from": "2026-10-01", "--to": "2026-10-31"},
    ("ledger", "log"): {"contact": "tiaojie.dhz@example.org", "--on": "2026-10-05",
                        "--work": "普法宣传"},
    ("report", "situation"): {"case": "{case}", "--out": "{tmp}/report.docx"},
    ("ledger", "add"): {"--jurisdiction": "990102001001", "--reason": "留守妇女独自照顾孩子",
                        "--found-by": "visit"},
}

# Arguments with no wrong value the command could tell (what someone wrote, who did it).
FREE_TEXT = {"note", "by", "purpose", "name", "safe_channel", "needs", "condition", "help_given",
             "with_whom", "found", "redirect_to", "issuer", "work", "address"}
FREE_TEXT_OUTCOMES = {("case", "follow-up")}  # what the visit found, in words
FREE_TEXT_REASONS = {("case", "risk"), ("visit", "forward")}  # --reason is optional free text

# Where the service, not the command line, names a field: the name it uses.
FIELD_ALIASES = {"days": ("working_days",), "jurisdiction": ("jurisdiction",),
                 "contact": ("contact",), "quiet_hours": ("quiet_hours",), "email": ("email",),
                 "role": ("role",), "reason": ("reason",), "source": ("NAME",),
                 "mediator": ("mediator",)}


@dataclass(frozen=True)
class Bad:
    kind: str
    value: str


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from leaves(sub, (*path, name))


def groups(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield path
            for name, sub in action.choices.items():
                yield from groups(sub, (*path, name))


COMMANDS = dict(leaves(build_parser()))


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def key_of(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def bad_values(path: tuple[str, ...], action: argparse.Action) -> list[Bad]:
    """The kinds of wrong value this argument can be given. An argument no rule knows fails
    the test (so a new one is thought about)."""
    dest = action.dest
    if action.nargs == 0:  # a flag
        return []
    if action.choices:
        return [Bad("unknown enum value", "no-such-value")]
    if action.type is int:
        return [Bad("non-numeric number", "abc"), Bad("negative number", "-3"),
                Bad("zero", "0"), Bad("too large a number", "100000")]
    if dest == "out":  # a file to write: its folder must exist, its name say what it is
        return [Bad("a directory", "{directory}"), Bad("missing folder", "{tmp}/none/out.xlsx"),
                Bad("wrong suffix", "{tmp}/out.txt")]
    if dest in ("first", "last"):
        return [Bad("malformed date", "next week"), Bad("impossible date", "2026-02-30"),
                Bad("period upside down", "2026-12-31" if dest == "first" else "2026-09-01")]
    if dest == "as_user":
        return [Bad("unknown user", "nobody")]
    if action.type is Path or dest in ("file", "batch"):
        return [Bad("missing file", "{missing}"), Bad("a directory", "{directory}"),
                Bad("malformed file", "{malformed}"), Bad("not UTF-8", "{binary}")]
    if dest in ("at", "as_of"):
        return [Bad("malformed time", "yesterday"), Bad("time without offset", "2026-10-05T10:00"),
                Bad("impossible time", "2026-02-30T10:00+08:00"),
                Bad("out-of-range time", "2026-10-05T25:00+08:00")]
    if dest in ("next", "on", "until") or (path == ("visit", "forward") and dest == "to"):
        return [Bad("malformed date", "next week"), Bad("impossible date", "2026-02-30"),
                Bad("compact date", "20261220")]
    if dest == "case":
        return [Bad("unknown case number", "WQ-2099-999999"), Bad("unknown case id", "999999"),
                Bad("negative number", "-1"), Bad("id beyond any integer column", "9" * 30),
                Bad("non-ASCII digits", "²")]
    if dest == "referral":
        return [Bad("unknown referral", "999999"), Bad("non-numeric number", "abc"),
                Bad("negative number", "-1"), Bad("id beyond any integer column", "9" * 30)]
    if dest == "contact" or (path == ("case", "assign") and dest == "to"):
        return [Bad("unknown contact", "nobody@example.invalid"), Bad("unknown contact id", "999999")]
    if dest == "under":
        return [Bad("malformed division code", "12x"), Bad("division code of a wrong length", "1234567")]
    if dest == "jurisdiction":
        return [Bad("malformed division code", "12x"), Bad("unknown division code", "990199")]
    if dest == "indicator":
        return [Bad("unknown enum value", "no_such_indicator")]
    if dest == "quiet_hours":
        return [Bad("malformed time span", "25:00-08:00"), Bad("empty time span", "08:00-08:00")]
    if dest == "email":
        return [Bad("malformed email", "not an email")]
    if dest == "role":  # referral send: a vocabulary code, checked by the service
        return [Bad("unknown enum value", "wizard")]
    if dest == "username":
        return [Bad("malformed username", "Bad Name!")]
    if dest == "source" and path == ("source", "add"):
        return [Bad("malformed source name", "Bad Name!"), Bad("source name taken", "hotline-12338")]
    if dest == "source":
        return [Bad("unknown source", "no-such-source")]
    if dest == "age":
        return [Bad("non-numeric number", "abc"), Bad("negative number", "-3"),
                Bad("too large a number", "200")]
    if dest == "phone":
        return [Bad("malformed phone", "call me")]
    if dest == "reason" and path == ("ledger", "add"):
        return [Bad("too short a reason", "ok"), Bad("blank reason", "  ")]
    if dest == "reason" and path == ("visit", "end"):
        return [Bad("too short a reason", "ok")]
    if dest == "mediator":  # a name is free; a registry key must name a contact
        return [Bad("unknown contact", "nobody@example.invalid"), Bad("unknown contact id", "999999")]
    if dest == "reason" and path in (("referral", "withdraw"), ("case", "reject")):
        return [Bad("blank reason", "  ")]
    if dest in FREE_TEXT or (dest == "reason" and path in FREE_TEXT_REASONS) \
            or (dest == "outcome" and path in FREE_TEXT_OUTCOMES):
        return []
    pytest.fail(f"weiquan {' '.join(path)}: no bad-value rule for {key_of(action)}")


def field_names(action: argparse.Action, value: str) -> list[str]:
    names = list(action.option_strings) or [action.dest]
    names += FIELD_ALIASES.get(action.dest, ())
    if action.type is Path or action.dest in ("file", "batch"):
        names += [value, Path(value).name, "(document)"]
    return names


def names_a_field(err: str, names: list[str]) -> bool:
    return any(re.search(rf"(?<![\w-]){re.escape(name)}(?!\w)", err) for name in names)


@pytest.fixture
def world(monkeypatch, settings, tmp_path, capsys) -> dict[str, str]:
    """The demo registry, one case with a referral, and files good and bad."""
    point_the_command_at(monkeypatch, settings=settings)
    assert main(["registry", "load", "--jurisdictions", str(DEMO / "jurisdictions.csv"),
                 "--contacts", str(DEMO / "contacts.csv")]) == 0
    capsys.readouterr()
    assert main(["intake", "--json", str(INTAKE)]) == 0
    number = json.loads(capsys.readouterr().out)["number"]
    assert main(["referral", "send", number, "--role", "civil_affairs"]) == 0
    assert main(["source", "add", "hotline-12338", "--jurisdiction", "99"]) == 0
    capsys.readouterr()
    (tmp_path / "bad.json").write_text('{"channel": [unclosed', encoding="utf-8")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00\x81 not text")
    (tmp_path / "dir.json").mkdir()
    good_calendar = tmp_path / "good.yaml"
    good_calendar.write_text("year: 2027\nsource: t\nholidays:\n  - 2027-01-01\n"
                             "makeup_workdays: []\n", encoding="utf-8")
    return {"case": number, "referral": "1", "contact": "fulian.donghu@example.org",
            "file:.json": str(INTAKE), "file:.csv": str(DEMO / "jurisdictions.csv"),
            "file:.yaml": str(good_calendar), "tmp": str(tmp_path)}


def resolve(value: str, *, world: dict[str, str], suffix: str) -> str:
    tmp = Path(world["tmp"])
    files = {"{missing}": tmp / f"missing{suffix}", "{directory}": tmp / "dir.json",
             "{malformed}": tmp / f"bad{suffix}", "{binary}": tmp / f"bin{suffix}"}
    if value in files:
        path = files[value]
        if value in ("{malformed}", "{binary}") and not path.exists():
            path.write_bytes((tmp / path.name.replace(suffix, ".json")).read_bytes())
        return str(path)
    return re.sub(r"\{([^}]+)\}", lambda m: world[m[1]], value)


def argv_for(path: tuple[str, ...], parser: argparse.ArgumentParser, *, world: dict[str, str],
             replace: tuple[argparse.Action, str] | None = None) -> list[str]:
    base = BASE[path]
    argv = list(path)
    for action in arguments(parser):
        key = key_of(action)
        if replace is not None and replace[0].dest == "batch" and action.dest == "file":
            continue  # a batch file is given instead of the single document, not beside it
        if replace is not None and replace[0] is action:
            argv += [replace[1]] if not action.option_strings else [key, replace[1]]
        elif key in base:
            value = base[key]
            if value is None:
                argv.append(key)
            else:
                value = resolve(value, world=world, suffix="")
                argv += [value] if not action.option_strings else [key, value]
    return argv


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.scalar(select(func.count()).select_from(t))
                    for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def run(argv: list[str], capsys, monkeypatch) -> tuple[int, str]:
    # `user add --password-stdin` reads one line: a password that would be accepted.
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-good-long-password\n"))
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_command_has_a_valid_base():
    assert sorted(COMMANDS) == sorted(BASE), "a command was added or removed: update BASE"


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_bad_arguments_exit_2_naming_the_field(path, world, settings, capsys, monkeypatch):
    parser = COMMANDS[path]
    before = row_counts(settings.effective_database_url)
    tried = []
    for action in arguments(parser):
        for bad in bad_values(path, action):
            suffix = Path(BASE[path].get(key_of(action)) or ".json").suffix.rstrip("}") or ".json"
            value = resolve(bad.value, world=world, suffix=suffix)
            argv = argv_for(path, parser, world=world, replace=(action, value))
            code, output = run(argv, capsys, monkeypatch)
            what = f"{' '.join(argv)!r} ({key_of(action)}: {bad.kind})"
            assert code == 2, f"{what}: exit {code}\n{output}"
            assert "Traceback" not in output, f"{what}\n{output}"
            assert names_a_field(output, field_names(action, value)), f"{what}: no field\n{output}"
            assert re.search(r"error: .*\S: \S", output), f"{what}: no reason\n{output}"
            tried.append(what)
    code, output = run([*argv_for(path, parser, world=world), "--no-such-option"], capsys,
                       monkeypatch)
    assert code == 2 and "--no-such-option" in output and "Traceback" not in output
    assert row_counts(settings.effective_database_url) == before, tried


@pytest.mark.parametrize("path", sorted(set(groups(build_parser()))), ids=lambda p: " ".join(p) or "(none)")
def test_a_group_without_its_command_exits_2(path, capsys, monkeypatch):
    code, output = run(list(path), capsys, monkeypatch)
    assert code == 2 and "usage:" in output and "Traceback" not in output


def test_bad_settings_exit_2_naming_the_variable(world, capsys, monkeypatch):
    monkeypatch.setenv("WEIQUAN_SECRET_KEY", "short")
    code, output = run(["calendar", "status"], capsys, monkeypatch)
    assert code == 2 and "WEIQUAN_SECRET_KEY: " in output and "Traceback" not in output


@pytest.mark.parametrize("argv", [
    pytest.param(["case", "show", "WQ-2099-999999"], id="unknown-case"),
    pytest.param(["case", "respond", "{case}", "--note", "x", "--at", "2026-10-05T10:00"],
                 id="time-without-offset"),
    pytest.param(["calendar", "load", "{tmp}/missing.yaml"], id="missing-file"),
])
def test_as_a_separate_process(argv, world, settings):
    """The installed entry point, as a user runs it: the same exit status and message."""
    before = row_counts(settings.effective_database_url)
    argv = [re.sub(r"\{(\w+)\}", lambda m: world[m[1]], part) for part in argv]
    env = {**os.environ, "WEIQUAN_DATA_DIR": str(settings.data_dir),
           "WEIQUAN_DATABASE_URL": settings.effective_database_url}
    done = subprocess.run([sys.executable, "-c", "from app.cli import main; raise SystemExit(main())",
                           *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert re.search(r"error: .*\S: \S", done.stderr), done.stderr
    assert row_counts(settings.effective_database_url) == before
