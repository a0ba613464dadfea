"""Generated intake documents: 0 crashes, every refusal a field-and-reason error, 0 partial
writes — through the parser, the real storage path, and the command line."""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta

import pytest
from hypothesis import event, given, settings

from app.cli import main
from models.db.session import unit_of_work
from models.domain.errors import text_problem
from models.intake_schema import IntakeIn, IntakeLimits, IntakeValidationError, parse_intake
from models.service.calendar import current_calendar
from models.service.intake import take_in
from tests.conftest import FIXED_NOW, point_the_command_at
from tests.fuzz.conftest import EXAMPLES
from tests.fuzz.strategies import raw_intakes, table_counts


def assert_named(error: IntakeValidationError) -> None:
    assert error.problems
    for problem in error.problems:
        assert problem.field.strip() and problem.reason.strip(), problem


def assert_plausible(intake: IntakeIn) -> None:
    """What acceptance promises: real offsets, plausible years, text free of controls."""
    for moment in (intake.received_at, intake.due_at):
        if moment is not None:
            assert timedelta(hours=-12) <= moment.utcoffset() <= timedelta(hours=14)
            assert 2000 <= moment.year
    texts = [intake.summary, intake.external_ref, intake.assigned_by]
    texts += [value for party in intake.parties
              for value in (party.name, party.phone, party.address, party.safe_channel)]
    assert all(text_problem(text) is None for text in texts if text is not None)


@given(raw=raw_intakes)
def test_every_document_is_accepted_or_refused_naming_field_and_reason(raw):
    try:
        intake = parse_intake(raw, limits=IntakeLimits(), now=FIXED_NOW)
    except IntakeValidationError as error:
        assert_named(error)
        event(f"refused: {error.problems[0].field.split('.')[0]}")  # --hypothesis-show-statistics
    else:
        assert_plausible(intake)
        event("accepted")


@given(raw=raw_intakes)
def test_storing_keeps_one_case_or_nothing(fuzz_ctx, raw):
    now = fuzz_ctx.clock.now()
    before = table_counts(fuzz_ctx.sessions)
    try:
        intake = parse_intake(raw, limits=fuzz_ctx.intake_limits, now=now)
        with unit_of_work(fuzz_ctx.sessions) as session:
            _, created = take_in(session, intake=intake, calendar=current_calendar(session),
                                 now=now, actor="fuzz")
    except IntakeValidationError as error:
        assert_named(error)
        assert table_counts(fuzz_ctx.sessions) == before
        return
    after = table_counts(fuzz_ctx.sessions)
    event("stored" if created else "already stored")
    if created:
        assert after["cases"] == before["cases"] + 1
    else:  # the same external_ref again: the stored case, nothing new
        assert after == before


@pytest.fixture(scope="module")
def cli_environment(fuzz_ctx):
    """The command line on the fuzz database (it builds its own context from the environment)."""
    with pytest.MonkeyPatch.context() as patch:
        point_the_command_at(patch, settings=fuzz_ctx.settings)
        patch.setenv("WEIQUAN_DIGESTS_ENABLED", "false")
        yield fuzz_ctx


# Each command builds its context (and checks migrations): a sample, not the full count.
@settings(max_examples=max(25, EXAMPLES // 40))
@given(raw=raw_intakes)
def test_the_command_line_exits_0_or_2_without_a_traceback(cli_environment, tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("cli") / "intake.json"
    path.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    before = table_counts(cli_environment.sessions)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["intake", str(path)])
    assert status in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if status == 2:
        assert err.getvalue().startswith("weiquan intake: error: ")
        assert table_counts(cli_environment.sessions) == before
