"""The intake form's fields ↔ the intake contract's document and its field problems."""

from __future__ import annotations

from models.domain.errors import FieldProblem
from web.forms import form_errors, intake_document, party_row_of, with_beijing_offset


def test_browser_times_are_beijing_time() -> None:
    assert with_beijing_offset("2026-11-24T09:30") == "2026-11-24T09:30:00+08:00"
    assert with_beijing_offset("2026-11-24T09:30:15") == "2026-11-24T09:30:15+08:00"
    assert with_beijing_offset("yesterday") == "yesterday"  # validation names the field


def test_the_document_leaves_out_empty_fields_and_rows() -> None:
    form = {"channel": "online", "received_at": "2026-11-24T09:30", "jurisdiction": "990102001001",
            "category": "other", "summary": " 摘要 ", "tier": "", "external_ref": "",
            "party-0-role": "victim", "party-0-name": "", "party-1-role": "child",
            "party-1-age": "7", "party-2-role": "victim", "mediation_attempts": "x"}
    document = intake_document(form, risk_indicators=["hardship"])
    assert document == {
        "channel": "online", "received_at": "2026-11-24T09:30:00+08:00",
        "jurisdiction": "990102001001", "category": "other", "summary": "摘要",
        "risk_indicators": ["hardship"], "parties": [{"role": "child", "age": 7}],
        "mediation_attempts": "x",
    }


def test_party_problems_point_at_the_row_they_came_from() -> None:
    form = {"party-0-role": "victim", "party-1-role": "", "party-2-role": "child",
            "party-2-age": "abc"}
    rows = party_row_of({}, form=form)
    assert rows == [2]
    errors = form_errors([FieldProblem("parties.0.age", "not a number"),
                          FieldProblem("reporter.phone", "bad"),
                          FieldProblem("(document)", "too big"),
                          FieldProblem("summary", "empty"), FieldProblem("summary", "long")],
                         party_rows=rows)
    assert errors == {"party-2-age": "not a number", "reporter_phone": "bad", "_form": "too big",
                      "summary": "empty；long"}
