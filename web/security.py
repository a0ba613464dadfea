"""Sessions, CSRF and response headers for the board.

The session is a cookie signed with the secret key (itsdangerous): the user id, a CSRF
token and a fingerprint of the password hash, so changing a password ends the sessions made
with the old one. Every visitor gets a session (anonymous until sign-in) so the sign-in form
is CSRF-protected too. Every form carries the session's CSRF token in a hidden field and the
POST handler compares the two (double submit, tied to the signed session); SameSite=Lax
keeps the cookie off cross-site POSTs besides.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "wq_session"
CSRF_FIELD = "csrf_token"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Ack links carry their token in the path: never hand it to another site.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "script-src 'none'; form-action 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'"),
    # Pages may show personal data: no copies in shared caches or the browser's history cache.
    "Cache-Control": "no-store",
}


class CsrfError(Exception):
    pass


@dataclass
class SessionData:
    csrf: str
    user_id: int | None = None
    password_fingerprint: str = ""
    dirty: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {"csrf": self.csrf, "uid": self.user_id, "pw": self.password_fingerprint}


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


class SessionCodec:
    def __init__(self, *, secret: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="weiquan-session")
        self.max_age_seconds = max_age_seconds

    def load(self, cookie: str | None) -> SessionData:
        """The session in the cookie, or a fresh anonymous one (tampered, expired, absent)."""
        if cookie:
            try:
                payload = self._serializer.loads(cookie, max_age=self.max_age_seconds)
            except BadSignature:  # includes SignatureExpired
                payload = None
            if isinstance(payload, dict) and isinstance(payload.get("csrf"), str):
                uid = payload.get("uid")
                return SessionData(csrf=payload["csrf"], user_id=uid if isinstance(uid, int) else None,
                                   password_fingerprint=str(payload.get("pw") or ""))
        return SessionData(csrf=secrets.token_urlsafe(32), dirty=True)

    def dump(self, data: SessionData) -> str:
        return self._serializer.dumps(data.to_payload())


def session_of(request: Request) -> SessionData:
    return request.state.session


def start_user_session(request: Request, *, user_id: int, password_hash: str) -> None:
    """Sign in: a new session (new CSRF token: nothing from before sign-in carries over)."""
    request.state.session = SessionData(csrf=secrets.token_urlsafe(32), user_id=user_id,
                                        password_fingerprint=password_fingerprint(password_hash),
                                        dirty=True)


def end_session(request: Request) -> None:
    request.state.session = SessionData(csrf=secrets.token_urlsafe(32), dirty=True)


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = session_of(request).csrf
    if not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfError()


def write_session_cookie(request: Request, response: Response, codec: SessionCodec) -> None:
    data: SessionData | None = getattr(request.state, "session", None)
    if data is None or not data.dirty:
        return
    response.set_cookie(SESSION_COOKIE, codec.dump(data), max_age=codec.max_age_seconds,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        path="/")


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path on this site only (no `//host`, no scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"  # the home page: 今日待办 for a cadre, the board for everyone else
    return value
