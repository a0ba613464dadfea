"""The overdue board and case pages: each user sees exactly her subtree; personal data only
for the people who act on the case; operators see counts."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.db import repositories as repo
from models.db.orm import Case, Notice
from models.domain.notice_kinds import NoticeKind
from models.domain.statuses import NoticeStatus
from models.db.session import unit_of_work
from models.service import referrals
from models.service.calendar import current_calendar
from web import paging
from tests.web.conftest import VICTIM_ADDRESS, VICTIM_NAME, VICTIM_PHONE, at, case_numbers, store_case

NOW = "2026-11-24T10:00:00"  # a Tuesday


@pytest.fixture
def cases(web_ctx) -> dict[str, str]:
    """Ordinary cases received 2026-11-02 (due 11-11, overdue by NOW) in four places, and one
    answered case that is not overdue. {place: case number}."""
    numbers = {
        "donghu": store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00"),
        "xiling": store_case(web_ctx, jurisdiction="990102001002", received="2026-11-02T09:10:00"),
        "township": store_case(web_ctx, jurisdiction="990102001", received="2026-11-02T09:20:00"),
        "nanshan": store_case(web_ctx, jurisdiction="990102002001", received="2026-11-02T09:30:00"),
        "recent": store_case(web_ctx, jurisdiction="990102001001", received="2026-11-20T09:00:00"),
    }
    web_ctx.clock.at = at(NOW)
    return numbers


def test_a_village_cadre_sees_her_village_only(client_for, cases) -> None:
    client = client_for("donghu")
    assert case_numbers(client.get("/board").text) == {cases["donghu"]}
    own = client.get(f"/cases/{cases['donghu']}")
    assert own.status_code == 200 and VICTIM_NAME in own.text
    for other in ("xiling", "township", "nanshan"):
        response = client.get(f"/cases/{cases[other]}")
        assert response.status_code == 404, other
        assert VICTIM_NAME not in response.text and cases[other] not in response.text
    # by id too, and a case that does not exist answers the same
    assert client.get("/cases/999999").status_code == 404
    assert client.get("/cases/WQ-2026-999999").status_code == 404


def test_a_supervisors_board_contains_exactly_her_subtree(client_for, cases) -> None:
    township = client_for("dhz").get("/board").text
    assert case_numbers(township) == {cases["donghu"], cases["xiling"], cases["township"]}
    county = client_for("county").get("/board").text
    assert case_numbers(county) == {cases["donghu"], cases["xiling"], cases["township"],
                                    cases["nanshan"]}
    assert cases["recent"] not in county  # not overdue


def test_a_supervisor_cannot_drill_outside_her_subtree(client_for, cases) -> None:
    client = client_for("dhz")
    assert client.get("/board?under=990102002").status_code == 404
    assert client.get("/board?under=990102").status_code == 404
    narrowed = client.get("/board?under=990102001002")
    assert case_numbers(narrowed.text) == {cases["xiling"]}
    assert client.get(f"/cases/{cases['nanshan']}").status_code == 404


def test_counts_roll_up_the_tree(client_for, cases) -> None:
    html = client_for("county").get("/board").text
    rollup = html.split('class="rollup"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr class=\"depth-\d[^\"]*\">(.*?)</tr>", rollup, re.S):
        name = re.search(r">([^<]+)</a>", row).group(1)
        cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
        rows[name] = re.sub(r"<[^>]+>", "", cells[-1]).strip()
    assert rows == {"示范县": "4", "东湖镇": "3", "东湖村": "1", "西岭村": "1",
                    "南山街道": "1", "南山社区": "1"}


def test_filters_by_level_kind_and_days(client_for, cases, web_ctx) -> None:
    client = client_for("county")
    assert case_numbers(client.get("/board?level=township").text) == {cases["township"]}
    assert case_numbers(client.get("/board?level=village").text) == {
        cases["donghu"], cases["xiling"], cases["nanshan"]}
    assert case_numbers(client.get("/board?kind=referral").text) == set()
    assert len(case_numbers(client.get("/board?kind=response&min_days=13").text)) == 4
    assert case_numbers(client.get("/board?min_days=14").text) == set()  # due 11-11: 13 days
    assert client.get("/board?min_days=lots").status_code == 400


def test_sorting_by_case_number(client_for, cases) -> None:
    client = client_for("county")
    ascending = re.findall(r'<a href="/cases/(WQ-[^"]+)">', client.get("/board?sort=case&order=asc").text)
    descending = re.findall(r'<a href="/cases/(WQ-[^"]+)">', client.get("/board?sort=case&order=desc").text)
    assert ascending == sorted(ascending) and descending == ascending[::-1] and len(ascending) == 4


def test_the_items_table_pages_with_the_counts_of_all_above(client_for, cases, monkeypatch) -> None:
    monkeypatch.setattr(paging, "PAGE_ROWS", 3)
    client = client_for("county")
    first = client.get("/board?sort=case&order=asc").text
    on_first = re.findall(r'<a href="/cases/(WQ-[^"]+)">', first)
    assert len(on_first) == 3 and "逾期事项（4）" in first and "第 1–3 项，共 4 项" in first
    assert '<td class="num"><strong>4</strong></td>' in first  # the roll-up counts every item
    # the next page keeps the sort and the filters, and holds the rest
    link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "sort=case" in link and "order=asc" in link and "page=2" in link
    second = client.get(link).text
    on_second = re.findall(r'<a href="/cases/(WQ-[^"]+)">', second)
    assert on_first + on_second == sorted(on_first + on_second)
    assert set(on_first + on_second) == {cases[p] for p in ("donghu", "xiling", "township", "nanshan")}
    assert "第 4–4 项，共 4 项" in second and 'rel="prev"' in second and 'rel="next"' not in second
    # past the end: the last page; not a page number: refused, naming the field
    assert re.findall(r'<a href="/cases/(WQ-[^"]+)">', client.get("/board?sort=case&order=asc&page=9").text) == on_second
    refused = client.get("/board?page=0")
    assert refused.status_code == 400 and "page" in refused.text
    # one page: no page control
    monkeypatch.setattr(paging, "PAGE_ROWS", 100)
    assert 'class="pager"' not in client.get("/board").text


def test_the_health_line_counts_failed_late_and_unconfirmed_notices(client_for, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    web_ctx.clock.at = at(NOW)

    def line() -> dict[str, int]:
        html = client_for("county").get("/board").text
        health = html.split('id="health"', 1)[1].split("</section>", 1)[0]
        return {label: int(n) for label, n in re.findall(r"<span>(\S+) <b>(\d+)</b></span>", health)}

    with unit_of_work(web_ctx.sessions) as session:
        stored = session.scalars(select(Notice).join(Case).where(Case.number == number)
                                 .order_by(Notice.id)).all()
        at_once = [n for n in stored if n.kind == NoticeKind.AT_ONCE]
        queued = [n for n in stored if n.status == NoticeStatus.QUEUED]
    assert len(at_once) >= 2 and all(n.status == NoticeStatus.QUEUED for n in at_once)
    # Queued since 11-02 and never tried: the outbox is behind by every queued notice.
    counts = line()
    assert (counts["发送失败的通知"], counts["积压未发的通知"], counts["未确认的第一时间报告"]) == (
        0, len(queued), 0)
    with unit_of_work(web_ctx.sessions) as session:
        session.get(Notice, at_once[0].id).status = NoticeStatus.FAILED
        sent = session.get(Notice, at_once[1].id)
        sent.status, sent.sent_at = NoticeStatus.SENT, at("2026-11-02T09:01:00")
    counts = line()
    assert (counts["发送失败的通知"], counts["积压未发的通知"], counts["未确认的第一时间报告"]) == (
        1, len(queued) - 2, 1)
    assert client_for("dhz").get("/board?under=990102001002").status_code == 200
    assert "<b>1</b>" not in client_for("dhz").get("/board?under=990102001002").text.split(
        'id="health"', 1)[1].split("</section>", 1)[0]  # another village: none of it


def test_referral_feedback_and_missed_visits_are_on_the_board(client_for, web_ctx) -> None:
    # A DV case with a threat to kill goes on the high-risk ledger (first visit within days);
    # a referral to civil affairs with 5 working days for feedback.
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    with unit_of_work(web_ctx.sessions) as session:
        case = repo.case_by_key(session, number)
        referrals.refer(session, case=case, role="civil_affairs", working_days=5,
                        purpose="请协助临时安置", now=web_ctx.clock.now(), actor="test",
                        calendar=current_calendar(session))
    web_ctx.clock.at = at(NOW)
    client = client_for("dhz")
    html = client.get("/board?kind=referral").text
    assert case_numbers(html) == {number} and "转介" in html and "林民政" in html
    assert case_numbers(client.get("/board?kind=visit").text) == {number}
    assert client.get(f"/cases/{number}").status_code == 200


def test_a_visit_is_overdue_from_midnight_after_its_day(web_ctx) -> None:
    from models.domain.digest import ItemKind
    from models.service.board import BoardFilter, overdue_board

    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    with unit_of_work(web_ctx.sessions) as session:
        from models.service.visits import active_plan

        due = active_plan(session, repo.case_by_key(session, number)).next_due_at
        calendar = current_calendar(session)
        day = due.astimezone(at(NOW).tzinfo).date()

        def visits_at(text: str) -> int:
            board = overdue_board(session, as_of=at(text), under="990102", calendar=calendar,
                                  board_filter=BoardFilter(kinds=frozenset({ItemKind.VISIT})))
            return len(board.items)

        assert visits_at(f"{day}T23:59:59") == 0
        assert visits_at(f"{day.fromordinal(day.toordinal() + 1)}T00:00:00") == 1


def test_an_operator_sees_counts_and_no_personal_data(client_for, cases) -> None:
    client = client_for("ops")
    html = client.get("/board").text
    assert "南山社区" in html and ">4<" in html.replace(" ", "")  # the rolled-up total
    assert 'id="overdue-items"' not in html
    for secret in (VICTIM_NAME, VICTIM_PHONE, VICTIM_ADDRESS, *cases.values()):
        assert secret not in html
    response = client.get(f"/cases/{cases['donghu']}")
    assert response.status_code == 403 and VICTIM_NAME not in response.text
    assert client.get("/intake").status_code == 403
    health = html.split('id="health"', 1)[1].split("</section>", 1)[0]
    assert "待启动的流程 <b>5</b>" in health  # the intake flow runs nobody has started here


def test_an_admin_lists_users_but_sees_no_cases(client_for, cases) -> None:
    client = client_for("root")
    assert "donghu" in client.get("/users").text
    assert client.get(f"/cases/{cases['donghu']}").status_code == 403
    assert VICTIM_NAME not in client.get("/board").text
    assert client_for("county").get("/users").status_code == 403


def test_the_case_page_shows_timeline_deadlines_and_notices(client_for, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    web_ctx.clock.at = at(NOW)
    html = client_for("donghu").get(f"/cases/{number}").text
    for expected in (number, "办理记录", "intake", "第一时间报告", "duty.dhpolice@example.org",
                     VICTIM_PHONE, VICTIM_ADDRESS, "登记回访", "高风险家庭"):
        assert expected in html, expected


def test_a_cadre_records_a_visit_and_the_missed_visit_leaves_the_board(client_for, web_ctx) -> None:
    from sqlalchemy import select

    from models.db.orm import Visit
    from tests.web.conftest import csrf_of

    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-02T09:00:00",
                        category="domestic_violence", tier=None, risk=["threat_to_kill"])
    web_ctx.clock.at = at(NOW)
    client = client_for("donghu")
    assert number in client.get("/board?kind=visit").text
    token = csrf_of(client.get(f"/cases/{number}/visit").text)
    form = {"csrf_token": token, "visited_at": "2026-11-24T09:00", "visited_by": "陈美华",
            "mode": "home", "met_alone": "on", "needs": "希望申请法律援助",
            "condition": "情绪稳定，孩子已返校", "help_given": "联系司法所"}
    refused = client.post(f"/cases/{number}/visit", data={**form, "visited_at": "2026-11-25T09:00"})
    assert refused.status_code == 422 and 'id="error-visited_at"' in refused.text
    done = client.post(f"/cases/{number}/visit", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{number}?visit=1"
    page = client.get(done.headers["location"]).text
    assert "回访已登记" in page and "情绪稳定，孩子已返校" in page
    assert number not in client.get("/board?kind=visit").text
    with unit_of_work(web_ctx.sessions) as session:
        visits = session.scalars(select(Visit)).all()
        assert [(v.visited_by, v.met_alone, v.recorded_by) for v in visits] == [
            ("陈美华", True, "web:donghu")]
    # another village's cadre cannot even see the form
    assert client_for("xiling").get(f"/cases/{number}/visit").status_code == 404
    operator = client_for("ops")
    own_token = csrf_of(operator.get("/board").text)
    refused = operator.post(f"/cases/{number}/visit", data={**form, "csrf_token": own_token})
    assert refused.status_code == 403 and "只能查看统计数字" in refused.text
