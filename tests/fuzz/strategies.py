"""Intake documents as a careless or hostile sender makes them: the contract's documents,
mutated — wrong types, missing and extra fields, huge and empty strings, odd Unicode and NUL
bytes, deep nesting, impossible dates and offsets, numbers where times belong."""

from __future__ import annotations

import copy
import json
import operator
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from models.db.orm import Base
from models.intake_schema import IntakeIn, PartyIn
from tests.conftest import SHARED

CONTRACT = [json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((SHARED / "contract" / "intake").glob("*.json"))]
TOP_FIELDS = sorted(IntakeIn.model_fields)
PARTY_FIELDS = sorted(PartyIn.model_fields)

# Values that json.dumps cannot write are placed as these strings and swapped in the text.
LONG_INTEGER = "\x01fuzz-long-integer\x01"
DEEP = "\x01fuzz-deep\x01"

odd_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x9F), max_size=12),  # C0/C1 controls
    st.sampled_from(["", " ", "\x00", "吴\x00某", "\u202e翻转", "\ud800", "a\udfffb", "\ufeff",
                     "\ufffe", "🙂", "𝔘𝔫𝔦", "\t\n\r", "null", "0", "-1", "990102001001 ",
                     "domestic_violence\x00", "\u3000", "٣", "²"]),
    # huge: 100 characters to past the document's 256 KiB limit
    st.builds(operator.mul, st.sampled_from(["x", "某", "\x00", "🙂"]), st.integers(100, 300_000)),
)

offsets = st.one_of(
    st.sampled_from([timedelta(hours=8), timedelta(0), timedelta(hours=14), timedelta(hours=-12),
                     timedelta(hours=14, minutes=1), timedelta(hours=8, minutes=5, seconds=43)]),
    st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                  max_value=timedelta(hours=23, minutes=59)),
)

plausible_times = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 11, 23)),
    st.sampled_from([timedelta(hours=8), timedelta(0), timedelta(hours=-5)]))

times = st.one_of(
    plausible_times,
    st.builds(lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
              st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), offsets),
    st.from_regex(r"\A\d{1,5}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d{1,9})?)?"
                  r"(Z|[+-]\d{1,2}:?\d{2}(:\d{2})?)?\Z"),
    st.integers(), st.floats(), st.booleans(),  # numbers (and worse) where a time belongs
    st.sampled_from(["0001-01-01T00:00:00+08:00", "1000-06-01T10:00:00+08:00",
                     "1900-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00",
                     "2026-02-30T10:00:00+08:00", "2026-11-23T24:00:00+08:00",
                     "2026-11-23T10:00:00+14:01", "2026-11-23T10:00:00", "2026-11-23",
                     "1764000000", "now", "", "2026-11-23T10:00:00+08:00\x00"]),
)

leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10**30, 10**30),
                   st.floats(), odd_text, times, st.just(LONG_INTEGER), st.just(DEEP))
json_values = st.recursive(
    leaves, lambda children: st.one_of(st.lists(children, max_size=4),
                                       st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=12)


@st.composite
def mutated_documents(draw) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(CONTRACT)))
    document["external_ref"] = draw(st.one_of(st.uuids().map(str), st.none()))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["set", "drop", "time", "extra", "party", "parties"]))
        if action == "set":
            document[draw(st.sampled_from(TOP_FIELDS))] = draw(json_values)
        elif action == "drop":
            document.pop(draw(st.sampled_from(TOP_FIELDS)), None)
        elif action == "time":
            document[draw(st.sampled_from(["received_at", "due_at"]))] = draw(times)
        elif action == "extra":
            document[draw(st.text(max_size=20))] = draw(json_values)
        elif action == "party" and isinstance(document.get("parties"), list) and document["parties"]:
            party = document["parties"][draw(st.integers(0, len(document["parties"]) - 1))]
            if isinstance(party, dict):
                party[draw(st.sampled_from(PARTY_FIELDS))] = draw(json_values)
        else:
            document["parties"] = draw(st.one_of(
                json_values,
                # copies: a later mutation must not change the contract documents themselves
                st.lists(st.sampled_from(CONTRACT[0]["parties"]).map(copy.deepcopy), max_size=40)))
    return document


@st.composite
def intake_texts(draw) -> str | bytes:
    """One document as it arrives: mostly a mutated contract document, sometimes anything."""
    document = draw(st.one_of(mutated_documents(), mutated_documents(), mutated_documents(),
                              json_values))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    text = text.replace(json.dumps(LONG_INTEGER), draw(st.sampled_from(["-", ""]))
                        + "7" * draw(st.integers(19, 6000)))
    depth = draw(st.integers(2, 1500))
    text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    # Mostly intact, so that the fields behind the document's own checks are reached.
    how = draw(st.sampled_from(["text"] * 6 + ["utf-8", "utf-16", "cut", "byte"]))
    if how == "utf-8":
        return text.encode("utf-8", "surrogatepass")
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "cut":
        return text[:draw(st.integers(0, len(text)))]
    if how == "byte":
        data = bytearray(text.encode("utf-8", "surrogatepass"))
        data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
        return bytes(data)
    return text


raw_intakes = st.one_of(intake_texts(), intake_texts(), intake_texts(),
                        st.binary(max_size=200), st.text(max_size=200))


def table_counts(sessions: sessionmaker) -> dict[str, int]:
    """Rows in every table, in one query: a refusal must leave all of them as they were."""
    tables = Base.metadata.sorted_tables
    with sessions() as session:
        row = session.execute(select(*[
            select(func.count()).select_from(table).scalar_subquery().label(table.name)
            for table in tables])).one()
    return dict(zip((table.name for table in tables), row, strict=True))
