"""The admin's list of users in her subtree (users are added with `weiquan user add`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from models.db.orm import User
from models.db.session import unit_of_work
from web.deps import Forbidden, Viewer, context_of, current_viewer, render

router = APIRouter()


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    if not viewer.manages_users:
        raise Forbidden("只有管理员可以查看用户列表。")
    with unit_of_work(context_of(request).sessions) as session:
        users = session.scalars(select(User)
                                .where(User.jurisdiction_code.startswith(viewer.jurisdiction_code))
                                .order_by(User.jurisdiction_code, User.username)).all()
    return render(request, "users.html", {"users": users})
