"""Sign-in and sign-out."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from models.db.session import unit_of_work
from models.domain.errors import text_problem
from models.service.users import MAX_PASSWORD_CHARS, sign_in
from web.deps import context_of, optional_viewer, render
from web.security import check_csrf, end_session, safe_next, start_user_session

log = logging.getLogger(__name__)
router = APIRouter()

MAX_USERNAME_CHARS = 64  # the users table's width: anything longer names nobody


def _typed_wrong(username: str, password: str) -> str | None:
    """What is wrong with the form itself, checked before any look-up (PostgreSQL refuses a
    NUL in a query, which would otherwise surface as a server error)."""
    if text_problem(username.strip(), max_chars=MAX_USERNAME_CHARS) is not None:
        return f"用户名（username）不能含控制字符，且不超过{MAX_USERNAME_CHARS}个字符。"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"密码（password）不超过{MAX_PASSWORD_CHARS}个字符。"
    return None


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/") -> HTMLResponse:
    if optional_viewer(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "signin.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, username: str = Form(""), password: str = Form(""),
           next: str = Form("/"), csrf_token: str = Form("")) -> HTMLResponse:
    check_csrf(request, csrf_token)
    typed_wrong = _typed_wrong(username, password)
    if typed_wrong is not None:
        return render(request, "signin.html", {"next": safe_next(next), "username": "",
                                               "error": typed_wrong}, status_code=422)
    ctx = context_of(request)
    # The socket's peer: behind a reverse proxy that is the proxy (see README, sign-in).
    address = request.client.host if request.client else "unknown"
    with unit_of_work(ctx.sessions) as session:
        user = sign_in(session, username=username, password=password, address=address,
                       now=ctx.clock.now())
        if user is not None:
            user_id, password_hash = user.id, user.password_hash
    if user is None:
        # One answer for an unknown name, a wrong password and a lock (models/service/users).
        log.info("sign-in refused from %s", address)
        return render(request, "signin.html", {"next": safe_next(next), "username": username,
                                               "error": "用户名或密码不正确。"}, status_code=401)
    start_user_session(request, user_id=user_id, password_hash=password_hash)
    request.state.viewer = False  # re-read on the next request
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/signout")
def signout(request: Request, csrf_token: str = Form("")) -> RedirectResponse:
    check_csrf(request, csrf_token)
    end_session(request)
    return RedirectResponse("/signin", status_code=303)
