"""Who sees what (domain.md §10), table-driven."""

from __future__ import annotations

import pytest

from models.domain.access import (
    Principal,
    can_open_case,
    can_see_case_rows,
    can_take_in,
    within_scope,
)
from models.domain.errors import InputError

DONGHU, XILING, TOWNSHIP, NANSHAN, COUNTY = (
    "990102001001", "990102001002", "990102001", "990102002001", "990102")


def who(role: str, code: str) -> Principal:
    return Principal.of(username="u", role=role, jurisdiction_code=code)


@pytest.mark.parametrize(("role", "home", "case", "opens"), [
    pytest.param("cadre", DONGHU, DONGHU, True, id="cadre-own-village"),
    pytest.param("cadre", DONGHU, XILING, False, id="cadre-sister-village"),
    pytest.param("cadre", DONGHU, TOWNSHIP, False, id="cadre-level-above"),
    pytest.param("supervisor", TOWNSHIP, DONGHU, True, id="township-sees-village"),
    pytest.param("supervisor", TOWNSHIP, TOWNSHIP, True, id="township-own-level"),
    pytest.param("supervisor", TOWNSHIP, NANSHAN, False, id="township-other-township"),
    pytest.param("supervisor", COUNTY, NANSHAN, True, id="county-sees-all-below"),
    pytest.param("supervisor", "990102000000", DONGHU, True, id="zero-padded-home"),
    pytest.param("supervisor", "9901020", DONGHU, False, id="malformed-prefix-is-nothing"),
    pytest.param("operator", COUNTY, DONGHU, False, id="operator-counts-only"),
    pytest.param("admin", "99", DONGHU, False, id="admin-counts-only"),
])
def test_who_may_open_a_case(role, home, case, opens) -> None:
    try:
        principal = who(role, home)
    except InputError:
        assert not opens
        return
    assert can_open_case(principal, case_jurisdiction=case) is opens


def test_a_prefix_that_is_not_a_level_does_not_match() -> None:
    # 99010200 is not a division code; string prefixes alone would let it match.
    assert not within_scope(who("supervisor", TOWNSHIP), "9901020011")
    assert not within_scope(who("supervisor", TOWNSHIP), "not-a-code")


def test_rows_and_intake_are_for_casework_roles() -> None:
    assert can_see_case_rows(who("cadre", DONGHU)) and can_see_case_rows(who("supervisor", COUNTY))
    assert not can_see_case_rows(who("operator", COUNTY)) and not can_see_case_rows(who("admin", "99"))
    assert can_take_in(who("cadre", DONGHU), jurisdiction_code=DONGHU)
    assert not can_take_in(who("cadre", DONGHU), jurisdiction_code=XILING)
    assert not can_take_in(who("operator", COUNTY), jurisdiction_code=DONGHU)


def test_unknown_roles_and_codes_name_the_field() -> None:
    with pytest.raises(InputError, match="^role: unknown role 'chief'"):
        who("chief", DONGHU)
    with pytest.raises(InputError, match="^jurisdiction:"):
        who("cadre", "99x")
