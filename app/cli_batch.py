"""`weiquan intake --batch FILE.jsonl`: every good line stored, every refused line reported by
its number, field and reason; exit 2 when any line was refused. The summary is the last line."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from models.runtime.bootstrap import Runtime
from models.domain.errors import InputError
from models.domain.vocabulary import vocabulary
from models.service.batch_intake import ImportReport, import_intakes


def intake_batch(ctx: Runtime, *, name: str, as_json: bool, actor: str) -> int:
    source = "stdin" if name == "-" else Path(name).name
    try:
        handle: IO[bytes] = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(field="--batch", reason=f"cannot read {name} ({exc.strerror})") from None
    try:
        report = import_intakes(ctx.sessions, source=source, lines=_lines(handle),
                                limits=ctx.intake_limits, now=ctx.clock.now(), actor=actor,
                                operator_email=ctx.settings.operator_email,
                                cadences=ctx.settings.visit_cadences)
    finally:
        if name != "-":  # standard input is not ours to close
            handle.close()
    for refused in report.refused:
        for problem in refused.problems:
            print(f"weiquan intake: error: line {refused.line}: {problem}", file=sys.stderr)
    for known in report.known:
        print(f"line {known.line}: external_ref {known.external_ref} already stored as "
              f"{known.number}: nothing new was created", file=sys.stderr)
    if as_json:
        print(json.dumps(_summary(report), ensure_ascii=False, indent=2))
    else:
        _print_summary(report)
    return 2 if report.refused else 0


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, document); blank lines are skipped but still counted."""
    for number, raw in enumerate(handle, start=1):
        document = raw.rstrip(b"\r\n")
        if document.strip():
            yield number, document


def _summary(report: ImportReport) -> dict[str, object]:
    return {
        "import_id": report.import_id if report.stored else None, "source": report.source,
        "stored": len(report.stored), "already_known": len(report.known),
        "refused": len(report.refused),
        "cases": [{"line": s.line, "id": s.case_id, "number": s.number, "tier": s.tier,
                   "at_once_notices": s.at_once_notices} for s in report.stored],
        "known": [{"line": k.line, "id": k.case_id, "number": k.number,
                   "external_ref": k.external_ref} for k in report.known],
        "errors": [{"line": r.line, "field": p.field, "reason": p.reason}
                   for r in report.refused for p in r.problems],
    }


def _print_summary(report: ImportReport) -> None:
    voc = vocabulary()
    if report.stored:  # an import that stored nothing is not kept
        print(f"import #{report.import_id} ({report.source})")
        print(f"  {report.stored[0].number} … {report.stored[-1].number}")
        tiers = Counter(s.tier for s in report.stored)
        print("  " + "  ".join(f"{voc.label('tiers', tier)} {count}"
                               for tier, count in tiers.most_common()))
        reported = [s for s in report.stored if s.at_once_notices]
        if reported:
            print(f"  第一时间报告: {sum(s.at_once_notices for s in reported)} notice(s) "
                  f"for {len(reported)} case(s), queued")
    print(f"stored {len(report.stored)}, already known {len(report.known)}, "
          f"refused {len(report.refused)}")
