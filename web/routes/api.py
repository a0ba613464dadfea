"""`POST /api/intake`: another system (the 12338 platform, a petition system) files a case.

The body is the contract's intake JSON; the caller is a source holding a bearer token
(`weiquan source add`). It goes through `parse_intake` and `store_intake`, the same path as
`weiquan intake` and the intake form: the same validation, deadline, routing, at-once
notices and idempotency by external_ref, in one transaction — nothing half-stored.

Token, not cookie: no session and no CSRF check here (a cross-site page cannot attach the
header), and the answer is JSON for every status.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from models.runtime.bootstrap import Runtime
from models.db.orm import Case, IntakeSource
from models.db.session import unit_of_work
from models.domain.errors import FieldProblem, InputError, Problem
from models.intake_schema import parse_intake
from models.service.intake import store_intake
from models.service.sources import (
    RateDecision,
    actor_of,
    count_request,
    intake_receipt,
    may_file_in,
    source_for_token,
)
from web.deps import context_of

log = logging.getLogger(__name__)
router = APIRouter()

API_PREFIX = "/api/"


class _OutsideSubtree(Exception):
    """The stored case an external_ref names lies outside the source's subtree."""


def problems_response(status_code: int, error: str, problems: tuple[Problem, ...] | list[Problem],
                      headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "problems": [{"field": p.field, "reason": p.reason}
                                                     for p in problems]},
                        status_code=status_code, headers=headers)


def _unauthorized(reason: str, *, invalid: bool) -> JSONResponse:
    challenge = 'Bearer realm="weiquan"' + (', error="invalid_token"' if invalid else "")
    return problems_response(401, "unauthorized", [FieldProblem("Authorization", reason)],
                             headers={"WWW-Authenticate": challenge})


def _too_large(limit: int) -> JSONResponse:
    return problems_response(413, "too large", [FieldProblem(
        "(document)", f"larger than the limit of {limit} bytes")])


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.post(API_PREFIX + "intake")
async def api_intake(request: Request) -> JSONResponse:
    ctx = context_of(request)
    limit = ctx.settings.max_intake_bytes
    declared = request.headers.get("content-length", "")
    # Refused before a byte is read: a body announced as too large is never buffered.
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    token = _bearer(request)
    if not token:
        return _unauthorized("send the source's token as 'Authorization: Bearer <token>'",
                             invalid=False)
    admitted = await run_in_threadpool(_admit, ctx, token)
    if admitted is None:
        return _unauthorized("unknown or revoked token", invalid=True)
    source, rate = admitted
    if not rate.allowed:
        return problems_response(429, "too many requests", [FieldProblem(
            "(source)", f"more than {ctx.settings.api_rate_per_minute} requests a minute; "
                        f"retry after {rate.retry_after_seconds} s")],
            headers={"Retry-After": str(rate.retry_after_seconds)})
    body = await _read_at_most(request, limit)
    if body is None:  # no Content-Length (chunked) or a false one: counted while reading
        return _too_large(limit)
    return await run_in_threadpool(_file, ctx, source, body)


def _admit(ctx: Runtime, token: str) -> tuple[IntakeSource, RateDecision] | None:
    with unit_of_work(ctx.sessions) as session:
        source = source_for_token(session, token=token)
        if source is None:
            return None
        return source, count_request(session, source_id=source.id, now=ctx.clock.now(),
                                     per_minute=ctx.settings.api_rate_per_minute)


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _file(ctx: Runtime, source: IntakeSource, body: bytes) -> JSONResponse:
    now = ctx.clock.now()
    try:
        intake = parse_intake(body, limits=ctx.intake_limits, now=now)
        if not may_file_in(source, jurisdiction_code=intake.jurisdiction):
            return problems_response(403, "forbidden", [FieldProblem(
                "jurisdiction", f"{intake.jurisdiction} is outside this source's jurisdiction "
                                f"{source.jurisdiction_code}")])

        def receipt(session: Session, case: Case, created: bool) -> tuple[dict[str, Any], bool]:
            if not created and not may_file_in(source, jurisdiction_code=case.jurisdiction_code):
                raise _OutsideSubtree()
            return intake_receipt(session, case), created

        view, created = store_intake(ctx.sessions, intake=intake, now=now,
                                     actor=actor_of(source),
                                     operator_email=ctx.settings.operator_email,
                                     cadences=ctx.settings.visit_cadences, then=receipt)
    except InputError as exc:  # every problem of the document, and an unknown jurisdiction
        return problems_response(400, "invalid intake", exc.problems)
    except _OutsideSubtree:
        return problems_response(403, "forbidden", [FieldProblem(
            "external_ref", "already used by a case outside this source's jurisdiction")])
    log.info("case %s %s by source %s", view["number"], "filed" if created else "filed again",
             source.name)
    return JSONResponse({**view, "created": created}, status_code=201 if created else 200)
