"""Visit cadences from a file (WEIQUAN_VISIT_CADENCES_FILE): the shipped file is the defaults,
and a file that would leave a family unvisited is refused, naming the level and field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from models.runtime.settings import ConfigError, load_settings
from models.domain.errors import InputError
from models.domain.visits import (
    DEFAULT_CADENCES,
    describe_cadence,
    next_visit_due,
    parse_cadences,
)

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "visit_cadences.yaml"


def shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def test_the_shipped_file_is_the_defaults():
    assert dict(parse_cadences(shipped())) == dict(DEFAULT_CADENCES)


def test_a_changed_cadence_is_used():
    data = shipped()
    data["critical"] = {"first_within_days": 1,
                        "steps": [{"every_days": 3, "until_days": 14}, {"every_days": 14}]}
    critical = parse_cadences(data)["critical"]
    assert critical.first_within == timedelta(days=1)
    assert describe_cadence(critical) == "1日内首访，每3天一次（头一个两周），此后每两周一次"


def _with(change) -> dict:
    data = copy.deepcopy(shipped())
    change(data)
    return data


@pytest.mark.parametrize(("change", "names"), [
    pytest.param(lambda d: d.pop("focus"), "focus: missing", id="level-missing"),
    pytest.param(lambda d: d.update(urgent=d["high"]), "urgent: unknown plan level", id="unknown-level"),
    pytest.param(lambda d: d["high"].update(first_within_days=0), "high.first_within_days: must be 1 to 366",
                 id="zero-days"),
    pytest.param(lambda d: d["high"].update(first_within_days="7"), "high.first_within_days: expected a whole",
                 id="days-as-text"),
    pytest.param(lambda d: d["high"].update(first_within_days=True), "high.first_within_days: expected a whole",
                 id="days-as-bool"),
    pytest.param(lambda d: d["focus"]["steps"][0].update(until_days=365),
                 "focus.steps[0].until_days: the last step must be open-ended", id="visits-would-stop"),
    pytest.param(lambda d: d["critical"]["steps"][0].pop("until_days"),
                 "critical.steps[0].until_days: required", id="open-step-before-the-last"),
    pytest.param(lambda d: d["critical"].update(steps=[]), "critical.steps: expected a non-empty list",
                 id="no-steps"),
    pytest.param(lambda d: d["critical"]["steps"][0].update(every=7), "critical.steps[0].every: unknown field",
                 id="misspelt-field"),
    pytest.param(lambda d: d["high"]["steps"].insert(1, {"every_days": 7, "until_days": 30}),
                 "high.steps: until_days must increase", id="steps-out-of-order"),
])
def test_bad_cadences_name_the_field(change, names):
    with pytest.raises(InputError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_cadences(_with(change))


def test_not_a_mapping_is_refused():
    with pytest.raises(InputError, match="expected a mapping"):
        parse_cadences(["critical"])


def test_a_parsed_cadence_schedules_like_the_default():
    parsed = parse_cadences(shipped())["high"]
    start = datetime(2026, 3, 2, 2, tzinfo=UTC)
    for days in (0, 40, 120):
        visited = start + timedelta(days=days)
        assert next_visit_due(plan_started_at=start, last_visit_at=visited, cadence=parsed) == \
            next_visit_due(plan_started_at=start, last_visit_at=visited, cadence=DEFAULT_CADENCES["high"])


def test_settings_read_the_file_and_fail_fast_naming_the_variable(monkeypatch, tmp_path):
    good = tmp_path / "cadences.yaml"
    data = shipped()
    data["focus"]["first_within_days"] = 10
    good.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("WEIQUAN_VISIT_CADENCES_FILE", str(good))
    assert load_settings().visit_cadences["focus"].first_within == timedelta(days=10)

    data["focus"]["steps"] = [{"every_days": 91, "until_days": 365}]
    good.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="WEIQUAN_VISIT_CADENCES_FILE .*focus.steps"):
        load_settings()
    monkeypatch.setenv("WEIQUAN_VISIT_CADENCES_FILE", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()


def test_unset_means_the_defaults(monkeypatch):
    monkeypatch.delenv("WEIQUAN_VISIT_CADENCES_FILE", raising=False)
    assert load_settings().visit_cadences is DEFAULT_CADENCES
