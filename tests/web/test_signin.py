"""Sign-in, sign-out, sessions and CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from models.db.orm import AuditEvent, User
from models.db.session import unit_of_work
from models.service.users import hash_password
from tests.web.conftest import PASSWORD, csrf_of, sign_in


def test_pages_need_a_signed_in_user(app) -> None:
    with TestClient(app) as client:
        for path in ("/board", "/intake", "/cases/WQ-2026-000001", "/users"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/signin?next=")


def test_sign_in_lands_on_the_page_asked_for_and_is_audited(app, web_ctx) -> None:
    with TestClient(app) as client:
        first = client.get("/board?level=village")
        assert first.url.path == "/signin"
        token = csrf_of(first.text)
        response = client.post("/signin", data={"username": "dhz", "password": PASSWORD,
                                                "csrf_token": token,
                                                "next": "/board?level=village"},
                               follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/board?level=village"
        page = client.get("/board?level=village")
        assert page.status_code == 200 and "东湖镇" in page.text
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("samesite", "SameSite")
    with unit_of_work(web_ctx.sessions) as session:
        kinds = session.scalars(select(AuditEvent.actor).where(AuditEvent.kind == "signed_in")).all()
    assert kinds == ["web:dhz"]


def test_wrong_password_and_unknown_user_are_refused_alike(app) -> None:
    with TestClient(app) as client:
        wrong = sign_in(client, "dhz", "not the password")
        unknown = sign_in(client, "nobody", PASSWORD)
        for response in (wrong, unknown):
            assert response.status_code == 401
            assert "用户名或密码不正确" in response.text
        assert client.get("/board", follow_redirects=False).status_code == 303


def test_sign_in_without_the_csrf_token_is_refused(app) -> None:
    with TestClient(app) as client:
        client.get("/signin")
        for token in ("", "forged-token"):
            response = client.post("/signin", data={"username": "dhz", "password": PASSWORD,
                                                    "csrf_token": token}, follow_redirects=False)
            assert response.status_code == 403
            assert "CSRF" in response.text
        assert client.get("/board", follow_redirects=False).status_code == 303


def test_a_token_from_another_session_does_not_pass(app) -> None:
    with TestClient(app) as attacker, TestClient(app) as victim:
        attacker_token = csrf_of(attacker.get("/signin").text)
        assert sign_in(victim, "dhz").status_code == 303
        response = victim.post("/signout", data={"csrf_token": attacker_token},
                               follow_redirects=False)
        assert response.status_code == 403
        assert victim.get("/board").url.path == "/board"  # still signed in


def test_sign_in_rotates_the_csrf_token(app) -> None:
    with TestClient(app) as client:
        before = csrf_of(client.get("/signin").text)
        sign_in(client, "dhz")
        after = csrf_of(client.get("/board").text)
        assert after != before


def test_sign_out_ends_the_session(app) -> None:
    with TestClient(app) as client:
        sign_in(client, "dhz")
        token = csrf_of(client.get("/board").text)
        response = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
        assert client.get("/board", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_an_anonymous_one(app) -> None:
    with TestClient(app) as client:
        sign_in(client, "dhz")
        cookie = client.cookies.get("wq_session")
        client.cookies.clear()
        client.cookies.set("wq_session", cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB"))
        assert client.get("/board", follow_redirects=False).status_code == 303


def test_changing_the_password_or_deactivating_ends_existing_sessions(app, web_ctx) -> None:
    with TestClient(app) as first, TestClient(app) as second:
        sign_in(first, "dhz")
        sign_in(second, "county")
        with unit_of_work(web_ctx.sessions) as session:
            session.scalar(select(User).where(User.username == "dhz")).password_hash = \
                hash_password("a new password")
            session.scalar(select(User).where(User.username == "county")).active = False
        assert first.get("/board", follow_redirects=False).status_code == 303
        assert second.get("/board", follow_redirects=False).status_code == 303
        assert sign_in(second, "county").status_code == 401


def test_next_never_leaves_the_site(app) -> None:
    with TestClient(app) as client:
        for target in ("//evil.example/x", "https://evil.example/", "\\\\evil"):
            client.cookies.clear()
            token = csrf_of(client.get("/signin").text)
            response = client.post("/signin", data={"username": "dhz", "password": PASSWORD,
                                                    "csrf_token": token, "next": target},
                                   follow_redirects=False)
            assert response.headers["location"] == "/"  # home: the board for her


def test_pages_carry_protective_headers(app) -> None:
    with TestClient(app) as client:
        headers = client.get("/signin").headers
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
