"""The supervisors' board: FastAPI with server-rendered Jinja2 pages, no front-end build.

`create_app(ctx)` builds the app over an application context (settings, database, clock),
so tests build it over a test database and the main job over the real one.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.runtime.bootstrap import Runtime
from models.runtime.secret_key import load_secret_key
from models.domain.access import ROLE_LABELS
from models.domain.calendar import SHANGHAI
from models.domain.errors import FieldProblem, InputError
from models.domain.notice_kinds import KINDS
from models.domain.procedure import PAUSE_LABELS, STATUS_LABELS
from models.domain.referrals import AWAITING_FEEDBACK
from models.domain.vocabulary import vocabulary
from web.deps import Forbidden, SignInRequired, render
from web.routes import ack, actions, api, auth, board, cases, home, intake, ledgers, users
from web.security import SECURITY_HEADERS, CsrfError, SessionCodec, write_session_cookie

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent

def create_app(ctx: Runtime) -> FastAPI:
    app = FastAPI(title="维权 督办看板", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.state.secret = load_secret_key(ctx.settings)
    app.state.session_codec = SessionCodec(secret=app.state.secret,
                                           max_age_seconds=ctx.settings.session_hours * 3600)
    app.state.templates = _templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def sessions_and_headers(request: Request, call_next):
        # The API authenticates by token, not cookie: no session (and so no CSRF) there.
        browser = not request.url.path.startswith(api.API_PREFIX)
        codec: SessionCodec = request.app.state.session_codec
        if browser:
            request.state.session = codec.load(request.cookies.get("wq_session"))
        response = await call_next(request)
        if browser:
            write_session_cookie(request, response, codec)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    _error_pages(app)

    for module in (auth, home, board, cases, actions, intake, ack, users, ledgers, api):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


def _error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        return render(request, "error.html", {"title": "无权查看", "message": exc.message},
                      status_code=403)

    # Input a page did not show beside its form field (a refused move, a bad value in a link):
    # a page naming each field and reason. Nothing was stored: the unit of work rolled back.
    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> HTMLResponse:
        return render(request, "error.html", {
            "title": "输入有误", "message": "；".join(f"{p.field}：{p.reason}" for p in exc.problems)},
            status_code=422)

    @app.exception_handler(CsrfError)
    async def csrf(request: Request, exc: CsrfError) -> HTMLResponse:
        log.warning("CSRF check failed on %s %s", request.method, request.url.path)
        return render(request, "error.html", {
            "title": "表单已失效", "message": "表单校验失败（CSRF）：请返回、刷新页面后重新提交。"},
            status_code=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(api.API_PREFIX):
            return api.problems_response(exc.status_code, str(exc.detail), [
                FieldProblem("(request)", f"{request.method} {request.url.path}: {exc.detail}")])
        titles = {404: "未找到", 405: "不支持的操作"}
        message = exc.detail if exc.status_code != 404 else "没有这个页面，或您无权查看。"
        return render(request, "error.html", {"title": titles.get(exc.status_code, "出错了"),
                                              "message": message}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) for e in exc.errors())
        return render(request, "error.html", {"title": "请求有误",
                                              "message": f"字段有误：{fields}"}, status_code=400)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    voc = vocabulary()
    env.filters["local"] = local_time
    env.filters["local_day"] = lambda value: value.astimezone(SHANGHAI).strftime("%Y-%m-%d") if value else ""
    env.filters["label"] = lambda code, group: voc.label(group, code) if code else ""
    env.globals["vocabulary"] = voc
    env.globals["awaiting_feedback"] = AWAITING_FEEDBACK  # the one definition, as the board's
    env.globals["case_actions"] = [actions.ACTIONS[slug] for slug in actions.BUTTONS]
    env.globals["all_actions"] = actions.ACTIONS
    # Every label a page shows comes from the vocabulary, the procedure's and the notice
    # kinds' own tables: pages never show a code.
    env.globals["labels"] = {
        "status": {s.value: label for s, label in STATUS_LABELS.items()},
        "pause": {r.value: label for r, label in PAUSE_LABELS.items()},
        "notice_kind": {kind.value: spec.label for kind, spec in KINDS.items()},
        "notice_status": voc.groups["notice_statuses"],
        "risk": voc.groups["risk_levels"],
        "referral_status": voc.groups["referral_statuses"],
        "ledger": voc.groups["ledgers"],
        "plan_level": voc.groups["plan_levels"],
        "visit_mode": voc.groups["visit_modes"],
        "audit": voc.groups["audit_events"],
        "role": {r.value: label for r, label in ROLE_LABELS.items()},
    }
    return templates


def local_time(value: datetime | None, *, seconds: bool = False) -> str:
    """Beijing time; a deadline at 23:59:59 reads as 24:00 of its day, as the mails say."""
    if value is None:
        return ""
    local = value.astimezone(SHANGHAI)
    if local.strftime("%H:%M:%S") == "23:59:59":
        return local.strftime("%Y-%m-%d") + " 24:00"
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
