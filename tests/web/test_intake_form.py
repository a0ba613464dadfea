"""The online complaint window: the form goes through the intake contract's validation and
`take_in`; problems are shown beside their fields and nothing is stored."""

from __future__ import annotations

from sqlalchemy import func, select

from models.db.orm import Case, Party
from models.db.session import unit_of_work
from tests.web.conftest import csrf_of

FORM = {
    "channel": "online", "received_at": "2026-11-24T09:30", "jurisdiction": "990102001001",
    "category": "marriage_family", "tier": "", "summary": "婚后遭受家庭冷暴力，希望调解。",
    "party-0-role": "victim", "party-0-name": "赵某", "party-0-phone": "139-5555-0000",
    "party-0-age": "29", "party-0-address": "东湖村一组", "party-1-role": "", "party-2-role": "",
    "mediation_attempts": "2", "reporter_name": "", "reporter_phone": "",
}


def case_count(ctx) -> int:
    with unit_of_work(ctx.sessions) as session:
        return session.scalar(select(func.count()).select_from(Case))


def submit(client, **changes):
    token = csrf_of(client.get("/intake").text)
    return client.post("/intake", data={**FORM, "csrf_token": token, **changes},
                       follow_redirects=False)


def test_a_valid_form_stores_the_case_and_shows_it(client_for, web_ctx) -> None:
    client = client_for("donghu")
    response = submit(client, risk_indicators=["family_conflict_record"])
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/cases/WQ-2026-") and location.endswith("?created=1")
    page = client.get(location).text
    assert "已受理" in page and "赵某" in page and "139-5555-0000" in page
    with unit_of_work(web_ctx.sessions) as session:
        case = session.scalar(select(Case))
        assert case.channel == "online" and case.mediation_attempts == 2
        assert case.received_at.isoformat() == "2026-11-24T01:30:00+00:00"  # Beijing time
        assert case.tier_proposed and case.risk_indicators == ["family_conflict_record"]
        assert [(p.role, p.name, p.age) for p in case.parties] == [("victim", "赵某", 29)]
    assert case_count(web_ctx) == 1


def test_the_case_appears_on_the_supervisors_board_when_overdue(client_for, web_ctx) -> None:
    response = submit(client_for("donghu"), received_at="2026-11-02T09:00", tier="ordinary")
    number = response.headers["location"].split("/")[2].split("?")[0]
    assert number in client_for("dhz").get("/board").text


def test_field_problems_are_shown_and_nothing_is_stored(client_for, web_ctx) -> None:
    client = client_for("donghu")
    response = submit(client, summary="  ", **{"party-0-age": "abc", "party-1-name": "钱某"})
    assert response.status_code == 422
    html = response.text
    assert "未保存任何内容" in html
    for field in ("summary", "party-0-age", "party-1-role"):
        assert f'id="error-{field}"' in html, field
    assert 'value="钱某"' in html and 'value="139-5555-0000"' in html  # what was typed stays
    future = submit(client, received_at="2026-11-30T09:00")
    assert future.status_code == 422 and 'id="error-received_at"' in future.text
    assert "lies in the future" in future.text
    assert case_count(web_ctx) == 0
    with unit_of_work(web_ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Party)) == 0


def test_a_case_outside_her_jurisdiction_is_refused(client_for, web_ctx) -> None:
    response = submit(client_for("donghu"), jurisdiction="990102001002")
    assert response.status_code == 422 and 'id="error-jurisdiction"' in response.text
    assert "不在您的辖区内" in response.text
    assert case_count(web_ctx) == 0


def test_the_form_offers_only_her_subtree(client_for) -> None:
    html = client_for("dhz").get("/intake").text
    assert 'value="990102001002"' in html and 'value="990102002001"' not in html


def test_without_the_csrf_token_nothing_is_stored(client_for, web_ctx) -> None:
    client = client_for("donghu")
    response = client.post("/intake", data={**FORM, "csrf_token": "nope"})
    assert response.status_code == 403
    assert case_count(web_ctx) == 0
