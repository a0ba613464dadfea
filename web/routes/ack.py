"""Acknowledgement links (no account): confirm receipt of a notice or report a result.

The page shows what the mail showed — the case number, its category and place, what is
asked and whom to call — and nothing more: no party's name, phone or address. There is no
session to tie a CSRF token to; the POST must carry the link's token (in the path) and a
form nonce this server signed for that token when it rendered the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sqlalchemy.orm import Session

from models.db.orm import Case, Contact, Notice, Referral
from models.db.session import unit_of_work
from models.domain.errors import InputError
from models.service.ack import (
    AckError,
    AckLinkExpired,
    AckLinkInvalid,
    acknowledge_notice,
    check_form_nonce,
    form_nonce,
    resolve_ack_token,
)
from models.service.mail_content.common import responsible_cadre
from web.deps import context_of, place_name, render

router = APIRouter()

STATUS = {AckLinkInvalid: 400, AckLinkExpired: 410}


def _refused(request: Request, error: AckError) -> HTMLResponse:
    return render(request, "ack_refused.html", {"reason": error.reason,
                                                "expired": isinstance(error, AckLinkExpired)},
                  status_code=STATUS.get(type(error), 404))


def _page_facts(session: Session, *, notice: Notice, case: Case) -> dict[str, Any]:
    """What the mail said, and whether it is confirmed: nothing about the parties."""
    referral = session.get(Referral, notice.referral_id) if notice.referral_id else None
    asked = referral.purpose if referral is not None and referral.purpose else notice.reason
    responsible = responsible_cadre(session, case)
    recipient = session.get(Contact, notice.contact_id) if notice.contact_id else None
    return {
        "case_number": case.number, "category": case.category,
        "jurisdiction_code": case.jurisdiction_code,
        "kind": notice.kind, "asked": asked.split("\n")[0] if asked else "",
        "referral": referral, "recipient_post": recipient.post if recipient else notice.recipient_role,
        "responsible": (f"{responsible.name}（{responsible.post}）{responsible.phone}"
                        if responsible else "（未指定）"),
        "acknowledged_at": notice.acknowledged_at, "acknowledged_by": notice.acknowledged_by,
        "place": place_name(session, code=case.jurisdiction_code),
    }


@router.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(request: Request, token: str, done: str = "") -> HTMLResponse:
    ctx = context_of(request)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        try:
            notice, case = resolve_ack_token(session, token, secret=request.app.state.secret, now=now)
        except AckError as error:
            return _refused(request, error)
        facts = _page_facts(session, notice=notice, case=case)
    return render(request, "ack.html", {**facts, "token": token, "done": done, "errors": {},
                                        "nonce": form_nonce(token, secret=request.app.state.secret, now=now),
                                        "values": {}})


@router.post("/ack/{token}", response_class=HTMLResponse)
def ack_submit(request: Request, token: str, action: str = Form("receipt"), by: str = Form(""),
               note: str = Form(""), nonce: str = Form("")) -> HTMLResponse:
    ctx = context_of(request)
    now = ctx.clock.now()
    secret = request.app.state.secret
    with unit_of_work(ctx.sessions) as session:
        try:
            notice, case = resolve_ack_token(session, token, secret=secret, now=now)
        except AckError as error:
            return _refused(request, error)
        try:
            check_form_nonce(nonce, token=token, secret=secret, now=now)
            with session.begin_nested():  # a refused result leaves the receipt untouched too
                outcome = acknowledge_notice(session, notice=notice, case=case, action=action,
                                             by=by, note=note, now=now)
        except InputError as error:
            facts = _page_facts(session, notice=notice, case=case)
            return render(request, "ack.html", {
                **facts, "token": token, "done": "", "errors": {p.field: p.reason for p in error.problems},
                "nonce": form_nonce(token, secret=secret, now=now),
                "values": {"by": by, "note": note, "action": action}}, status_code=422)
    done = "already" if outcome.already else outcome.action
    return RedirectResponse(f"/ack/{token}?done={done}", status_code=303)

