"""Bad intake documents: each gets an error naming the field and the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from models.intake_schema import IntakeLimits, IntakeValidationError, parse_intake

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
VALID = {
    "channel": "visit",
    "received_at": "2026-11-23T15:40:00+08:00",
    "jurisdiction": "990102001002",
    "category": "land_rights",
    "summary": "村集体分红未分给本人。",
    "parties": [{"role": "victim", "name": "吴某", "phone": "139-0000-0002", "age": 41}],
    "risk_indicators": [],
    "mediation_attempts": 0,
}


def problems(document: object, *, limits: IntakeLimits = IntakeLimits()) -> dict[str, str]:
    raw = document if isinstance(document, (str, bytes)) else json.dumps(document, ensure_ascii=False)
    with pytest.raises(IntakeValidationError) as error:
        parse_intake(raw, limits=limits, now=NOW)
    return {p.field: p.reason for p in error.value.problems}


def with_(**changes) -> dict:
    return {**VALID, **changes}


def test_valid_document_parses():
    intake = parse_intake(json.dumps(VALID), limits=IntakeLimits(), now=NOW)
    assert intake.jurisdiction == "990102001002"
    assert intake.received_at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        pytest.param(with_(channel="fax"), "channel", "unknown code 'fax'", id="unknown-channel"),
        pytest.param(with_(category="dv"), "category", "unknown code 'dv'", id="unknown-category"),
        pytest.param(with_(tier="urgent"), "tier", "unknown code 'urgent'", id="unknown-tier"),
        pytest.param(with_(risk_indicators=["threat_to_kill", "angry"]), "risk_indicators",
                     "unknown risk indicator 'angry'", id="unknown-indicator"),
        pytest.param(with_(parties=[{"role": "boss"}]), "parties.0.role", "unknown code 'boss'",
                     id="unknown-party-role"),
        pytest.param(with_(received_at="2026-11-23T15:40:00"), "received_at", "UTC offset",
                     id="time-without-offset"),
        pytest.param(with_(received_at="2026-11-24T18:00:00+08:00"), "received_at", "future",
                     id="receipt-in-future"),
        pytest.param(with_(mediation_attempts=-1), "mediation_attempts", "greater than or equal",
                     id="negative-count"),
        pytest.param(with_(mediation_attempts="2"), "mediation_attempts", "valid integer",
                     id="count-as-string"),
        pytest.param(with_(parties=[{"role": "victim", "age": -3}]), "parties.0.age",
                     "greater than or equal", id="negative-age"),
        pytest.param(with_(jurisdiction="99-01"), "jurisdiction", "digits", id="bad-code"),
        pytest.param(with_(jurisdiction="9901020"), "jurisdiction", "2, 4, 6, 9 or 12",
                     id="bad-code-length"),
        pytest.param(with_(summary="  "), "summary", "at least 1", id="empty-summary"),
        pytest.param(with_(summary="很长" * 3000), "summary", "limit is 4000", id="summary-too-long"),
        pytest.param(with_(due_at="2026-11-01T00:00:00+08:00", channel="assigned"), "due_at",
                     "later than received_at", id="due-before-receipt"),
        pytest.param({k: v for k, v in VALID.items() if k != "channel"}, "channel",
                     "Field required", id="missing-channel"),
        pytest.param("{not json", "(document)", "malformed JSON", id="malformed-json"),
        pytest.param("[1, 2]", "(document)", "JSON object", id="not-an-object"),
    ],
)
def test_bad_input_names_field_and_reason(document, field, words):
    found = problems(document)
    assert field in found, found
    assert words in found[field]


def test_document_far_too_large_is_refused_before_parsing():
    found = problems(with_(summary="x" * 10_000), limits=IntakeLimits(max_bytes=2048))
    assert "limit of 2048" in found["(document)"]


def test_small_clock_skew_is_tolerated():
    skewed = with_(received_at=(NOW + timedelta(minutes=3)).isoformat())
    assert parse_intake(json.dumps(skewed), limits=IntakeLimits(), now=NOW)


# --- strict input: each measured crash or silent misreading of the first fuzz run ----------

STRICT_CASES = {
    "year 0001 (overflowed when shifted to UTC)": (
        with_(received_at="0001-01-01T00:00:00+08:00"), "received_at", "year"),
    "year 1000": (with_(received_at="1000-06-01T10:00:00+08:00"), "received_at", "year"),
    "year 1900 (Shanghai's mean-time offset)": (
        with_(received_at="1900-01-01T00:00:00+08:00"), "received_at", "year"),
    "a bare number read as Unix seconds": (with_(received_at=1764000000), "received_at", "not a number"),
    "a float where a time belongs": (with_(received_at=1.5e9), "received_at", "not a number"),
    "offset +14:01": (with_(received_at="2026-11-23T15:40:00+14:01"), "received_at", "offset"),
    "offset -12:30": (with_(received_at="2026-11-23T15:40:00-12:30"), "received_at", "offset"),
    "due_at years ahead": (with_(channel="assigned", due_at="2036-01-01T00:00:00+08:00"),
                           "due_at", "years ahead"),
    "NUL in the summary": (with_(summary="村集体\x00分红"), "summary", "U+0000"),
    "C1 control in a name": (with_(parties=[{"role": "victim", "name": "吴\x85某"}]),
                             "parties.0.name", "U+0085"),
    "escape in the address": (with_(parties=[{"role": "victim", "address": "东湖村\x1b[2J"}]),
                              "parties.0.address", "U+001B"),
    "a lone surrogate": ('{"summary": "\\ud800"}', "summary", "unicode"),
}


@pytest.mark.parametrize("document,field,words", STRICT_CASES.values(), ids=STRICT_CASES.keys())
def test_strict_input_is_refused_naming_the_field(document, field, words):
    found = problems(document)
    assert words in found[field]


def test_a_5000_digit_number_names_its_field_before_any_conversion():
    raw = json.dumps(VALID).replace('"mediation_attempts": 0', '"mediation_attempts": ' + "7" * 5000)
    assert problems(raw) == {"mediation_attempts": "a number of 5000 digits is out of range"}


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_nesting_1000_deep_is_refused_without_recursing(opening):
    closing = "]" if opening == "[" else "}"
    found = problems(opening * 1000 + "1" + closing * 1000)
    assert "nested more than 8 levels" in found["(document)"]


def test_brackets_inside_strings_do_not_count_as_nesting():
    intake = parse_intake(json.dumps(with_(summary="[[[[[[[[[[{{{{{{{{{{ \\\" ]]")),
                          limits=IntakeLimits(), now=NOW)
    assert intake.summary.startswith("[[[[")


def test_tab_and_line_breaks_stay_allowed_in_text():
    intake = parse_intake(json.dumps(with_(summary="第一行\n第二行\r\n\t第三行")),
                          limits=IntakeLimits(), now=NOW)
    assert "\t第三行" in intake.summary


def test_a_real_offset_at_either_end_is_accepted():
    for received in ("2026-11-23T20:00:00+14:00", "2026-11-22T20:00:00-12:00"):
        assert parse_intake(json.dumps(with_(received_at=received)), limits=IntakeLimits(),
                            now=NOW).received_at.isoformat() == received
