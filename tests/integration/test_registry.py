"""The registry: load, re-load as upsert, bad rows all-or-nothing, role lookup walks up."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.db import repositories as repo
from models.db.orm import Contact, Jurisdiction
from models.db.session import unit_of_work
from models.domain.registry import RegistryFileError
from models.service.registry import load_registry
from tests.conftest import DEMO, SHARED


def load(ctx, *, jurisdictions=None, contacts=None):
    with unit_of_work(ctx.sessions) as session:
        return load_registry(session, jurisdictions=jurisdictions, contacts=contacts,
                             now=ctx.clock.now(), actor="test")


def row_counts(ctx) -> tuple[int, int]:
    with unit_of_work(ctx.sessions) as session:
        return (session.scalar(select(func.count()).select_from(Jurisdiction)),
                session.scalar(select(func.count()).select_from(Contact)))


def test_contract_examples_load(ctx):
    result = load(ctx, jurisdictions=SHARED / "contract" / "jurisdictions.example.csv",
                  contacts=SHARED / "contract" / "contacts.example.csv")
    assert (result.jurisdictions_added, result.contacts_added) == (8, 25)
    with unit_of_work(ctx.sessions) as session:
        village = session.get(Jurisdiction, "990102001001")
        assert (village.level, village.parent_code) == ("village", "990102001")


def test_reload_is_an_upsert_not_a_duplicate(ctx, tmp_path):
    load(ctx, jurisdictions=DEMO / "jurisdictions.csv", contacts=DEMO / "contacts.csv")
    changed = tmp_path / "contacts.csv"
    changed.write_text(
        (DEMO / "contacts.csv").read_text(encoding="utf-8").replace(
            "fulian.donghu@example.org", "new.fulian.donghu@example.org"),
        encoding="utf-8")

    result = load(ctx, jurisdictions=DEMO / "jurisdictions.csv", contacts=changed)

    assert row_counts(ctx) == (8, 25)
    assert (result.jurisdictions_added, result.contacts_added, result.contacts_updated) == (0, 0, 1)
    with unit_of_work(ctx.sessions) as session:
        chair = repo.contacts_for_role(session, jurisdiction_code="990102001001",
                                       role="federation_chair")
        assert [c.email for c in chair] == ["new.fulian.donghu@example.org"]


def test_bad_rows_are_all_reported_and_nothing_is_loaded(ctx, tmp_path):
    contacts = tmp_path / "bad.csv"
    contacts.write_text(
        "jurisdiction_code,role,name,post,phone,email\n"
        "990102001001,federation_chair,陈美华,妇联主席,0577-0000-1003,fulian@example.org\n"
        "990102001009,federation_chair,某某,妇联主席,0577-1,x@example.org\n"
        "990102001001,wizard,某某,巫师,0577-2,y@example.org\n"
        "990102001001,director,李秀兰,主任,0577-3,not-an-email\n",
        encoding="utf-8")

    with pytest.raises(RegistryFileError) as error:
        load(ctx, jurisdictions=DEMO / "jurisdictions.csv", contacts=contacts)

    lines = {(p.line, p.reason.split(":")[0]) for p in error.value.problems}
    assert lines == {(3, "jurisdiction_code"), (4, "role"), (5, "email")}
    assert all(p.file == str(contacts) for p in error.value.problems)
    assert row_counts(ctx) == (0, 0)  # the good jurisdictions file was not half-stored


def test_jurisdiction_level_must_match_its_code(ctx, tmp_path):
    tree = tmp_path / "tree.csv"
    tree.write_text("code,name,level\n99,示范省,province\n9901,示范市,county\n", encoding="utf-8")

    with pytest.raises(RegistryFileError) as error:
        load(ctx, jurisdictions=tree)

    assert [(p.line, p.reason.split(":")[0]) for p in error.value.problems] == [(3, "level")]


def test_missing_file_is_named(ctx, tmp_path):
    with pytest.raises(RegistryFileError) as error:
        load(ctx, jurisdictions=tmp_path / "nope.csv")
    assert "nope.csv" in str(error.value) and "not found" in str(error.value)


@pytest.mark.parametrize(
    ("code", "role", "expected"),
    [
        pytest.param("990102001001", "federation_chair", ["fulian.donghu@example.org"], id="own-level"),
        pytest.param("990102001002", "director", ["mayor.dhz@example.org"], id="village-falls-to-township"),
        pytest.param("990102001001", "hotline_12338", ["hotline12338.county@example.org"], id="up-to-county"),
        pytest.param("990102002001", "police_station", ["duty.nspolice@example.org"], id="other-township"),
        pytest.param("990102001001", "procuratorate", [], id="nowhere-up-the-tree"),
    ],
)
def test_role_lookup_walks_up_to_the_nearest_level(demo_ctx, code, role, expected):
    with unit_of_work(demo_ctx.sessions) as session:
        found = repo.contacts_for_role(session, jurisdiction_code=code, role=role)
        assert [c.email for c in found] == expected
