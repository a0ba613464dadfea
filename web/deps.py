"""What every page handler needs: the application context, the signed-in viewer, and a
render function that adds the common template variables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.runtime.bootstrap import Runtime
from models.db.orm import Jurisdiction, User
from models.db.session import read_only
from models.domain.access import (
    ROLE_LABELS,
    Principal,
    can_manage_users,
    can_see_case_rows,
)
from models.service.users import principal_of
from web.security import password_fingerprint, session_of


class SignInRequired(Exception):
    """Not signed in (or the session no longer matches the user): go to the sign-in page."""


class Forbidden(Exception):
    """Signed in, but the role may not do this (an operator opening a case page)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Viewer:
    user_id: int
    username: str
    display_name: str
    role: str
    jurisdiction_code: str
    jurisdiction_name: str
    principal: Principal
    contact_id: int | None = None  # her entry in the contact registry: what she answers for

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.principal.role]

    @property
    def sees_case_rows(self) -> bool:
        return can_see_case_rows(self.principal)

    @property
    def manages_users(self) -> bool:
        return can_manage_users(self.principal)

    @property
    def actor(self) -> str:
        """How the audit trail names her acts."""
        return f"web:{self.username}"


def context_of(request: Request) -> Runtime:
    return request.app.state.ctx


def templates_of(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def optional_viewer(request: Request) -> Viewer | None:
    cached = getattr(request.state, "viewer", False)
    if cached is not False:
        return cached
    data = session_of(request)
    viewer = None
    if data.user_id is not None:
        with read_only(context_of(request).sessions) as session:
            # The user and her place's name in one statement: every page asks it first.
            found = session.execute(
                select(User, Jurisdiction.name)
                .outerjoin(Jurisdiction, Jurisdiction.code == User.jurisdiction_code)
                .where(User.id == data.user_id)).first()
            user, place_name = found if found is not None else (None, None)
            if (user is not None and user.active
                    and password_fingerprint(user.password_hash) == data.password_fingerprint):
                viewer = Viewer(user_id=user.id, username=user.username,
                                display_name=user.display_name, role=user.role,
                                jurisdiction_code=user.jurisdiction_code,
                                jurisdiction_name=place_name or user.jurisdiction_code,
                                principal=principal_of(user), contact_id=user.contact_id)
    request.state.viewer = viewer
    return viewer


def place_name(session: Session, *, code: str) -> str:
    """A jurisdiction's name as pages show it (its code when the registry has no such place)."""
    node = session.get(Jurisdiction, code)
    return node.name if node else code


def current_viewer(request: Request) -> Viewer:
    viewer = optional_viewer(request)
    if viewer is None:
        raise SignInRequired()
    return viewer


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    values = {"request": request, "viewer": optional_viewer(request),
              "csrf_token": session_of(request).csrf, "now": context_of(request).clock.now()}
    values.update(context or {})
    return templates_of(request).TemplateResponse(request, template, values, status_code=status_code)
