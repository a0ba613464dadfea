"""The table of notice kinds is the only list of kinds: every row is complete, and no product
module spells a kind as a bare string or keeps a kind set of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.domain.notice_kinds import (
    KINDS,
    Family,
    NoticeKind,
    Priority,
    kinds_where,
    label_of,
    priority_of,
    spec_of,
    template_names,
    template_of,
)
from notifications.message import TEMPLATES_DIR

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("app", "web", "flows", "tasks", "models", "notifications", "bench")
TABLE = ROOT / "models" / "domain" / "notice_kinds.py"
# Kinds that are also ordinary words of the product (a CLI command `referral`, the board's
# sort column `escalation`): for these only comparisons with a kind are looked for.
ALSO_WORDS = {NoticeKind.REFERRAL, NoticeKind.ESCALATION}


def product_files() -> list[Path]:
    return sorted(path for top in PRODUCT for path in (ROOT / top).rglob("*.py")
                  if path != TABLE)


def test_every_kind_has_a_row() -> None:
    assert set(KINDS) == set(NoticeKind)


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_row_has_its_three_templates_and_a_chinese_label(kind: NoticeKind) -> None:
    template = template_of(kind)
    for suffix in (".subject.txt", ".txt", ".html"):
        assert (TEMPLATES_DIR / f"{template}{suffix}").is_file(), f"{kind}: no {template}{suffix}"
    label = KINDS[kind].label
    assert label and re.search(r"[\u4e00-\u9fff]", label), f"{kind}: label {label!r}"
    assert label_of(kind.value) == label


def test_template_names_come_from_the_table() -> None:
    assert set(template_names()) == {template_of(kind) for kind in NoticeKind}


def test_an_unknown_kind_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="kind: unknown notice kind 'no_such'"):
        spec_of("no_such")
    assert label_of("no_such") == "no_such"


def test_priorities_put_a_life_at_risk_first_and_digests_last() -> None:
    assert priority_of(NoticeKind.AT_ONCE, life_at_risk=True) == Priority.LIFE_AT_RISK
    assert priority_of(NoticeKind.CALL_110) == Priority.LIFE_AT_RISK
    assert priority_of(NoticeKind.AT_ONCE) == Priority.AT_ONCE
    assert priority_of(NoticeKind.AT_ONCE_AGAIN) == Priority.AT_ONCE
    assert priority_of(NoticeKind.ESCALATION, life_at_risk=True) == Priority.ROUTINE
    assert priority_of(NoticeKind.REMINDER_DUE) == Priority.ROUTINE
    assert priority_of(NoticeKind.CADRE_DIGEST) == Priority.DIGEST


def test_kinds_where_filters_by_the_rows() -> None:
    assert kinds_where(family=Family.VISIT) == {NoticeKind.VISIT_DUE, NoticeKind.VISIT_OVERDUE}
    assert kinds_where(confirmable=True) == {NoticeKind.AT_ONCE, NoticeKind.AT_ONCE_AGAIN}


def test_no_product_module_spells_a_kind_as_a_bare_string() -> None:
    plain = [kind for kind in NoticeKind if kind not in ALSO_WORDS]
    # A quoted kind, unless it is a mapping key of something else (an audit detail's
    # "call_110": the routing's flag); mappings keyed by kinds are the next test's business.
    bare = re.compile(r"""["'](%s)["'](?!\s*:)""" % "|".join(re.escape(k.value) for k in plain))
    compared = re.compile(r"""kind\s*(==|!=|=|in)\s*\(?["'](%s)["']"""
                          % "|".join(re.escape(k.value) for k in ALSO_WORDS))
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in product_files()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if bare.search(line) or compared.search(line)]
    assert found == []


def test_no_product_module_keeps_a_kind_set_of_its_own() -> None:
    defined = re.compile(r"^\s*(\w*(KIND|TEMPLATE)\w*)\s*(:[^=]*)?=", re.MULTILINE)
    kind_names = {kind.value for kind in NoticeKind}
    found = []
    for path in product_files():
        source = path.read_text(encoding="utf-8")
        for match in defined.finditer(source):
            rest = _statement(source[match.end():])
            if any(f"NoticeKind.{kind.name}" in rest for kind in NoticeKind) \
                    or any(f'"{name}"' in rest for name in kind_names):
                found.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
    assert found == []


def _statement(text: str) -> str:
    """The rest of an assignment: its first line and the indented lines that continue it."""
    first, *more = text.split("\n")
    lines = [first]
    for line in more:
        if not line.startswith((" ", ")", "}", "]")):
            break
        lines.append(line)
    return "\n".join(lines)
