"""Acknowledgement links: valid, expired, forged, another notice's or case's — through the
web routes over a real database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.db import repositories as repo
from models.db.orm import AuditEvent, Notice, Referral
from models.db.session import unit_of_work
from models.service import referrals
from models.service.ack import ack_url_for, make_ack_token
from models.service.calendar import current_calendar
from tests.web.conftest import VICTIM_ADDRESS, VICTIM_NAME, VICTIM_PHONE, store_case

PUBLIC = "http://board.example"


@pytest.fixture
def police_notice(web_ctx) -> tuple[int, int, str]:
    """(notice id, case id, case number): the at-once report to the police station about a
    threat to kill in 东湖村."""
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-24T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    with unit_of_work(web_ctx.sessions) as session:
        case = repo.case_by_key(session, number)
        notice = session.scalar(select(Notice).where(Notice.case_id == case.id,
                                                     Notice.kind == "at_once",
                                                     Notice.recipient_role == "police_station"))
        return notice.id, case.id, number


def link(app, web_ctx, notice_id: int, *, valid_for=timedelta(days=14)) -> str:
    with unit_of_work(web_ctx.sessions) as session:
        url = ack_url_for(session.get(Notice, notice_id), public_url=PUBLIC,
                          secret=app.state.secret, now=web_ctx.clock.now(), valid_for=valid_for)
    assert url.startswith(f"{PUBLIC}/ack/")
    return url.removeprefix(PUBLIC)


def nonce_of(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def test_the_page_shows_the_case_number_and_what_is_asked_but_no_personal_data(
        app, web_ctx, police_notice) -> None:
    notice_id, _, number = police_notice
    with TestClient(app) as client:  # no account, no sign-in
        page = client.get(link(app, web_ctx, notice_id))
    assert page.status_code == 200
    assert number in page.text and "家庭暴力" in page.text and "尚未确认" in page.text
    assert "危及生命安全" in page.text  # what the police are asked to do, as in the mail
    for secret in (VICTIM_NAME, VICTIM_PHONE, VICTIM_ADDRESS, "来访反映问题"):
        assert secret not in page.text


def test_confirming_receipt_records_and_audits_it_once(app, web_ctx, police_notice) -> None:
    notice_id, case_id, _ = police_notice
    path = link(app, web_ctx, notice_id)
    web_ctx.clock.at += timedelta(minutes=12)
    with TestClient(app) as client:
        page = client.get(path)
        done = client.post(path, data={"action": "receipt", "by": "东湖派出所 值班民警",
                                       "nonce": nonce_of(page.text)})
        assert done.status_code == 200 and "已确认收到" in done.text
        again = client.post(path, data={"action": "receipt", "by": "someone else",
                                        "nonce": nonce_of(client.get(path).text)})
        assert "此前已确认收到" in again.text
    with unit_of_work(web_ctx.sessions) as session:
        notice = session.get(Notice, notice_id)
        assert notice.acknowledged_at == web_ctx.clock.now()
        assert notice.acknowledged_by == "东湖派出所 值班民警"
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.kind == "notice_acknowledged")).all()
        assert len(events) == 1
        assert events[0].actor == "ack-link:police_station@990102001"
        assert events[0].detail["notice_id"] == notice_id


def test_recording_a_result_needs_the_result(app, web_ctx, police_notice) -> None:
    notice_id, case_id, _ = police_notice
    path = link(app, web_ctx, notice_id)
    with TestClient(app) as client:
        empty = client.post(path, data={"action": "result", "note": " ",
                                        "nonce": nonce_of(client.get(path).text)})
        assert empty.status_code == 422 and "请填写办理结果" in empty.text
        done = client.post(path, data={"action": "result", "note": "已出警，对施暴人批评教育并出具告诫书",
                                       "nonce": nonce_of(client.get(path).text)})
        assert "办理结果已记录" in done.text
    with unit_of_work(web_ctx.sessions) as session:
        assert session.get(Notice, notice_id).acknowledged_at is not None
        result = session.scalar(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                         AuditEvent.kind == "notice_result"))
        assert "告诫书" in result.note


def test_an_expired_link_says_so(app, web_ctx, police_notice) -> None:
    notice_id, _, _ = police_notice
    path = link(app, web_ctx, notice_id, valid_for=timedelta(days=14))
    with TestClient(app) as client:
        nonce = nonce_of(client.get(path).text)
        web_ctx.clock.at += timedelta(days=14)
        for response in (client.get(path), client.post(path, data={"action": "receipt", "nonce": nonce})):
            assert response.status_code == 410
            assert "链接已过期" in response.text
    with unit_of_work(web_ctx.sessions) as session:
        assert session.get(Notice, notice_id).acknowledged_at is None


def test_a_forged_or_altered_link_is_refused(app, web_ctx, police_notice) -> None:
    notice_id, case_id, _ = police_notice
    path = link(app, web_ctx, notice_id)
    token = path.removeprefix("/ack/")
    ids, mac = token.rsplit(".", 1)
    other_notice = f"{notice_id + 1}.{case_id}.{ids.split('.')[2]}.{mac}"
    later_expiry = f"{notice_id}.{case_id}.{int(ids.split('.')[2]) + 86400}.{mac}"
    wrong_key = make_ack_token(notice_id=notice_id, case_id=case_id,
                               expires_at=web_ctx.clock.now() + timedelta(days=1),
                               secret="not the secret " * 3)
    with TestClient(app) as client:
        for forged in (other_notice, later_expiry, wrong_key, "garbage", f"{ids}.{mac[:-2]}xx"):
            response = client.get(f"/ack/{forged}")
            assert response.status_code == 400, forged
            assert "链接无效" in response.text
            posted = client.post(f"/ack/{forged}", data={"action": "receipt", "nonce": "1.x"})
            assert posted.status_code == 400
    with unit_of_work(web_ctx.sessions) as session:
        assert session.get(Notice, notice_id).acknowledged_at is None


def test_a_link_signed_for_another_case_is_refused(app, web_ctx, police_notice) -> None:
    notice_id, case_id, _ = police_notice
    other_case = store_case(web_ctx, jurisdiction="990102001002", received="2026-11-24T09:30:00")
    with unit_of_work(web_ctx.sessions) as session:
        other_id = repo.case_by_key(session, other_case).id
    # Correctly signed, but notice and case do not belong together (or the notice is gone).
    mismatched = make_ack_token(notice_id=notice_id, case_id=other_id,
                                expires_at=web_ctx.clock.now() + timedelta(days=1),
                                secret=app.state.secret)
    missing = make_ack_token(notice_id=999_999, case_id=case_id,
                             expires_at=web_ctx.clock.now() + timedelta(days=1),
                             secret=app.state.secret)
    with TestClient(app) as client:
        for token in (mismatched, missing):
            response = client.get(f"/ack/{token}")
            assert response.status_code == 404
            assert "与通知记录不符" in response.text


def test_a_post_without_the_pages_nonce_is_refused(app, web_ctx, police_notice) -> None:
    notice_id, _, _ = police_notice
    path = link(app, web_ctx, notice_id)
    other_path = link(app, web_ctx, notice_id, valid_for=timedelta(days=2))
    with TestClient(app) as client:
        foreign_nonce = nonce_of(client.get(other_path).text)  # signed for another token
        for nonce in ("", "123.abc", foreign_nonce):
            response = client.post(path, data={"action": "receipt", "nonce": nonce})
            assert response.status_code == 422 and "表单校验失败" in response.text
        stale = nonce_of(client.get(path).text)
        web_ctx.clock.at += timedelta(hours=13)
        response = client.post(path, data={"action": "receipt", "nonce": stale})
        assert response.status_code == 422 and "刷新页面" in response.text
    with unit_of_work(web_ctx.sessions) as session:
        assert session.get(Notice, notice_id).acknowledged_at is None


def test_a_referral_link_acknowledges_the_referral_and_records_its_result(app, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-23T09:00:00")
    with unit_of_work(web_ctx.sessions) as session:
        case = repo.case_by_key(session, number)
        referral = referrals.refer(session, case=case, role="civil_affairs", purpose="请协助申请临时救助",
                                   now=web_ctx.clock.now(), actor="test",
                                   calendar=current_calendar(session))
        # The referral mail's notice (the due sweep makes it; made by hand here).
        notice = Notice(key=f"test:referral:{referral.id}", case_id=case.id, kind="referral",
                        recipient_role="civil_affairs", recipient_jurisdiction="990102001",
                        contact_id=referral.contact_id, to_address="minzheng.dhz@example.org",
                        due_at=web_ctx.clock.now(), status="sent", next_attempt_at=web_ctx.clock.now(),
                        created_at=web_ctx.clock.now(), referral_id=referral.id)
        session.add(notice)
        session.flush()
        notice_id, referral_id = notice.id, referral.id
    path = link(app, web_ctx, notice_id)
    web_ctx.clock.at += timedelta(hours=2)
    with TestClient(app) as client:
        page = client.get(path)
        assert "请协助申请临时救助" in page.text and "反馈期限" in page.text
        client.post(path, data={"action": "receipt", "by": "林民政", "nonce": nonce_of(page.text)})
        with unit_of_work(web_ctx.sessions) as session:
            referral = session.get(Referral, referral_id)
            assert referral.status == "acknowledged" and referral.acknowledged_by == "林民政"
        web_ctx.clock.at += timedelta(days=1)
        client.post(path, data={"action": "result", "by": "林民政", "note": "已办理临时救助 2000 元",
                                "nonce": nonce_of(client.get(path).text)})
        second = client.post(path, data={"action": "result", "by": "林民政", "note": "again",
                                         "nonce": nonce_of(client.get(path).text)})
        assert second.status_code == 422 and "已登记反馈结果" in second.text
    with unit_of_work(web_ctx.sessions) as session:
        referral = session.get(Referral, referral_id)
        assert referral.status == "resulted" and referral.result_note == "已办理临时救助 2000 元"
        assert referral.result_at == web_ctx.clock.now()


def test_confirming_the_resend_confirms_the_first_report_too(app, web_ctx, police_notice) -> None:
    notice_id, case_id, _ = police_notice
    with unit_of_work(web_ctx.sessions) as session:
        first = session.get(Notice, notice_id)
        again = Notice(key=f"{first.key}:again", case_id=case_id, kind="at_once_again",
                       recipient_role=first.recipient_role,
                       recipient_jurisdiction=first.recipient_jurisdiction,
                       contact_id=first.contact_id, to_address=first.to_address,
                       due_at=web_ctx.clock.now(), status="sent",
                       next_attempt_at=web_ctx.clock.now(), created_at=web_ctx.clock.now())
        session.add(again)
        session.flush()
        again_id = again.id
    path = link(app, web_ctx, again_id)
    with TestClient(app) as client:
        client.post(path, data={"action": "receipt", "nonce": nonce_of(client.get(path).text)})
    with unit_of_work(web_ctx.sessions) as session:
        assert session.get(Notice, again_id).acknowledged_at is not None
        assert session.get(Notice, notice_id).acknowledged_at is not None
        others = session.scalars(select(Notice).where(
            Notice.case_id == case_id, Notice.kind == "at_once",
            Notice.contact_id != session.get(Notice, notice_id).contact_id)).all()
        assert others and all(n.acknowledged_at is None for n in others)  # other recipients' own
