"""The acknowledgement token: signed, expiring, bound to one notice of one case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.db.orm import Notice
from models.domain.errors import InputError
from models.service.ack import (
    AckLinkExpired,
    AckLinkInvalid,
    ack_url_for,
    check_form_nonce,
    form_nonce,
    make_ack_token,
    read_ack_token,
)

SECRET = "s" * 40
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def token(**changes) -> str:
    values = {"notice_id": 17, "case_id": 5, "expires_at": NOW + timedelta(days=14), "secret": SECRET}
    return make_ack_token(**{**values, **changes})


def test_a_token_reads_back_what_it_binds() -> None:
    parsed = read_ack_token(token(), secret=SECRET, now=NOW)
    assert (parsed.notice_id, parsed.case_id) == (17, 5)
    assert parsed.expires_at == NOW + timedelta(days=14)


def test_the_url_is_under_the_public_address() -> None:
    notice = Notice(id=17, case_id=5)
    url = ack_url_for(notice, public_url="https://wq.example/", secret=SECRET, now=NOW)
    assert url.startswith("https://wq.example/ack/17.5.")
    assert read_ack_token(url.rsplit("/", 1)[1], secret=SECRET, now=NOW).notice_id == 17


@pytest.mark.parametrize("altered", [
    pytest.param(lambda t: t.replace("17.5.", "18.5.", 1), id="other-notice"),
    pytest.param(lambda t: t.replace("17.5.", "17.6.", 1), id="other-case"),
    pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="mac-changed"),
    pytest.param(lambda t: t.rsplit(".", 1)[0], id="mac-missing"),
    pytest.param(lambda t: t + ".1", id="extra-part"),
    pytest.param(lambda t: "x" + t, id="not-a-number"),
    pytest.param(lambda t: token(secret="another secret of enough length!!"), id="other-key"),
])
def test_altered_tokens_are_invalid(altered) -> None:
    with pytest.raises(AckLinkInvalid):
        read_ack_token(altered(token()), secret=SECRET, now=NOW)


def test_the_expiry_cannot_be_pushed_back() -> None:
    original = token()
    notice, case, expires, mac = original.split(".")
    with pytest.raises(AckLinkInvalid):
        read_ack_token(f"{notice}.{case}.{int(expires) + 3600}.{mac}", secret=SECRET, now=NOW)


def test_expiry_is_exact_and_checked_after_the_signature() -> None:
    expires = NOW + timedelta(hours=1)
    read_ack_token(token(expires_at=expires), secret=SECRET, now=expires - timedelta(seconds=1))
    with pytest.raises(AckLinkExpired):
        read_ack_token(token(expires_at=expires), secret=SECRET, now=expires)
    with pytest.raises(AckLinkInvalid):  # forged and expired: forged is what it is
        read_ack_token(token(expires_at=expires)[:-2] + "zz", secret=SECRET, now=expires)


def test_the_form_nonce_is_for_one_token_and_twelve_hours() -> None:
    nonce = form_nonce("a.token", secret=SECRET, now=NOW)
    check_form_nonce(nonce, token="a.token", secret=SECRET, now=NOW + timedelta(hours=11))
    for bad_token, when in (("another.token", NOW), ("a.token", NOW + timedelta(hours=13))):
        with pytest.raises(InputError):
            check_form_nonce(nonce, token=bad_token, secret=SECRET, now=when)
