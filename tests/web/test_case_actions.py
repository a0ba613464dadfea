"""Every case action in the browser: allowed for the people who act on the case (the village
cadre on her village's cases, a supervisor on her subtree), refused for anyone else (another
village: 404; an operator: 403), CSRF-protected, audited with who/when/note, and refused with
the procedure's reason when the move is illegal. The cadre's home page lists what her digest
lists."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from models.db import repositories as repo
from models.db.orm import Case, Contact, Notice
from models.db.session import unit_of_work
from datetime import date

from models.domain.procedure import PauseReason, Status
from models.service import casework_records, procedure, referrals, users
from models.service.calendar import current_calendar
from models.service.digests import cadre_context
from tests.web.conftest import PASSWORD, at, csrf_of, store_case
from web import paging

NOW = "2026-11-24T10:00:00"  # a Tuesday
DONGHU = "990102001001"


def _case(ctx, number: str, act: Callable[[object, Case], None]) -> None:
    with unit_of_work(ctx.sessions) as session:
        act(session, repo.case_by_key(session, number))


def _contact(ctx, *, place: str, role: str) -> int:
    with unit_of_work(ctx.sessions) as session:
        return session.scalar(select(Contact.id).where(Contact.jurisdiction_code == place,
                                                       Contact.role == role))


def _paused(ctx, number: str) -> None:
    _case(ctx, number, lambda s, c: procedure.pause(
        s, c, reason=PauseReason.VICTIM_UNREACHABLE, at=ctx.clock.now(), actor="test", note=""))


def _answered(ctx, number: str) -> None:
    _case(ctx, number, lambda s, c: procedure.respond(s, c, at=ctx.clock.now(), actor="test",
                                                       note="已答复"))


def _closed(ctx, number: str) -> None:
    """Answered and closed the week before (the follow-up visit comes after closing)."""
    _case(ctx, number, lambda s, c: procedure.respond(s, c, at=at("2026-11-20T09:00:00"),
                                                       actor="test", note="已答复"))
    _case(ctx, number, lambda s, c: procedure.move(s, c, to=Status.CLOSED,
                                                    at=at("2026-11-20T10:00:00"), actor="test",
                                                    note="已解决", calendar=current_calendar(s)))


def _order_granted(ctx, number: str) -> None:
    _case(ctx, number, lambda s, c: casework_records.record_measure(
        s, case=c, kind="protection_order", status="granted", on=date(2026, 11, 20),
        until=date(2027, 5, 20), issuer="示范县人民法院", now=ctx.clock.now(), actor="test"))


def _referred(ctx, number: str) -> int:
    with unit_of_work(ctx.sessions) as session:
        referral = referrals.refer(session, case=repo.case_by_key(session, number),
                                   role="civil_affairs", now=ctx.clock.now(), actor="test",
                                   calendar=current_calendar(session))
        return referral.id


# slug: (set-up before the act, the form, the audit event it writes, what the case page shows)
ACTIONS: dict[str, tuple] = {
    "respond": (None, {"note": "已电话答复申请人", "at": "2026-11-24T09:30"}, "responded", "登记答复"),
    "pause": (None, {"reason": "victim_unreachable", "note": "电话无人接听"}, "paused", "暂停计时"),
    "resume": (_paused, {"note": "已联系上"}, "resumed", "恢复计时"),
    "assign": (None, {"contact": "{chair}", "note": "由村妇联主席承办"}, "assigned", "指定承办人"),
    "refer": (None, {"role": "civil_affairs", "working_days": "5", "purpose": "申请临时救助"},
              "referred", "转介"),
    "referral-result": (_referred, {"referral": "{referral}", "note": "已发放临时救助",
                                    "by": "林民政（电话告知）"}, "referral_result", "转介反馈"),
    "upper-result": (None, {"note": "县妇联协调解决"}, "upper_result", "登记上级结果"),
    "incident": (None, {"occurred_at": "2026-11-23T21:00", "risk_indicators": "threat_to_kill",
                        "note": "再次威胁"}, "incident_recorded", "登记事件"),
    "risk": (None, {"level": "high", "reason": "邻居反映近期常有争吵"}, "risk_level_set", "调整风险等级"),
    "safe-contact": (None, {"do_not_contact": "on", "safe_channel": "经其姐姐转告",
                            "quiet_hours": "18:00-08:00"}, "safe_contact_set", "安全联系设置"),
    "investigate": (None, {"note": "入户核实"}, "status_investigating", "转入调查"),
    "handle": (None, {"note": "协调处理"}, "status_handling", "转入处理"),
    "close": (_answered, {"note": "问题已解决"}, "status_closed", "结案"),
    "verify": (None, {"verified_at": "2026-11-23T15:00", "method": "visit", "with_whom": "当事人、村委会",
                      "findings": "反映情况基本属实", "veracity": "true",
                      "reasonableness": "reasonable"}, "verification_recorded", "登记核实"),
    "mediation": (None, {"held_on": "2026-11-23", "mediator": "村人民调解员李某",
                         "outcome": "failed", "note": "双方分歧较大"}, "mediation_recorded", "登记调解"),
    "reject": (None, {"reason": "不属于妇联维权范围", "redirected_to": "镇司法所"}, "not_accepted",
               "不予受理"),
    "follow-up": (_closed, {"visited_at": "2026-11-24T09:00", "visited_by": "陈美华",
                            "outcome": "问题已解决，生活恢复正常", "satisfaction": "satisfied"},
                  "follow_up_recorded", "登记结案回访"),
    "measure": (None, {"kind": "protection_order", "status": "granted", "on": "2026-11-20",
                       "until": "2027-05-20", "issuer": "示范县人民法院"}, "measure_recorded",
                "登记保护措施"),
    "order-breach": (_order_granted, {"occurred_at": "2026-11-23T21:00", "note": "施暴者再次上门"},
                     "protection_order_breached", "违反人身安全保护令"),
}
DV_ACTIONS = {"measure", "order-breach"}


@pytest.fixture
def case_number(web_ctx, request) -> str:
    slug = getattr(request, "param", "")
    tier = "difficult" if slug == "upper-result" else "ordinary"
    category = "domestic_violence" if slug in DV_ACTIONS else "land_rights"
    number = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-16T09:00:00", tier=tier,
                        category=category)
    web_ctx.clock.at = at(NOW)
    return number


def _form(ctx, slug: str, number: str) -> dict[str, str]:
    setup, form, _, _ = ACTIONS[slug]
    found = setup(ctx, number) if setup else None
    values = {}
    for name, value in form.items():
        if value == "{chair}":
            value = str(_contact(ctx, place=DONGHU, role="federation_chair"))
        elif value == "{referral}":
            value = str(found)
        values[name] = value
    return values


def _post(client, number: str, slug: str, data: dict[str, str], *, csrf: bool = True):
    page = client.get(f"/cases/{number}/act/{slug}")
    assert page.status_code == 200, page.text
    payload = dict(data)
    if csrf:
        payload["csrf_token"] = csrf_of(page.text)
    return client.post(f"/cases/{number}/act/{slug}", data=payload, follow_redirects=False)


def _audit(ctx, number: str) -> list:
    with unit_of_work(ctx.sessions) as session:
        case = repo.case_by_key(session, number)
        return [(e.kind, e.actor, e.at, e.note) for e in repo.audit_events(session, case_id=case.id)]


def test_the_case_page_offers_every_action_as_a_button(client_for, case_number) -> None:
    html = client_for("donghu").get(f"/cases/{case_number}").text
    buttons = re.findall(r"<button type=\"submit\">([^<]+)</button>", html)
    # A land-rights case just accepted: no protective measures (DV only), no follow-up yet
    # (after closing), and 不予受理 while it is at the 受理 stage.
    assert [b for b in buttons if b != "退出"] == [
        "登记核实", "登记调解", "登记答复", "暂停计时", "恢复计时", "指定承办人", "转介",
        "登记上级结果", "登记事件", "调整风险等级", "安全联系设置", "调查", "处理", "结案",
        "不予受理"]


def test_a_dv_case_offers_protective_measures(client_for, web_ctx) -> None:
    number = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-16T09:00:00",
                        category="domestic_violence")
    html = client_for("donghu").get(f"/cases/{number}").text
    buttons = re.findall(r"<button type=\"submit\">([^<]+)</button>", html)
    assert "登记保护措施" in buttons and "登记违反保护令" in buttons


@pytest.mark.parametrize("case_number", list(ACTIONS), indirect=True)
@pytest.mark.parametrize("username", ["donghu", "dhz"])
def test_each_action_is_done_and_audited(client_for, web_ctx, case_number, username,
                                         request) -> None:
    slug = request.node.callspec.params["case_number"]
    client = client_for(username)
    form = client.get(f"/cases/{case_number}/act/{slug}").text
    # labelled fields and one submit button named 提交
    assert re.findall(r"<button type=\"submit\">([^<]+)</button>", form)[-1] == "提交"
    for name in ACTIONS[slug][1]:
        assert re.search(rf'<label[^>]*for="{name}"', form) or f'name="{name}"' in form, name
    before = len(_audit(web_ctx, case_number))
    response = _post(client, case_number, slug, _form(web_ctx, slug, case_number))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/cases/{case_number}?done={slug}"
    events = _audit(web_ctx, case_number)
    kind, actor, when, note = [e for e in events[before:] if e[0] == ACTIONS[slug][2]][0]
    # when: the act's own time (an answer given earlier is recorded at its time), else now
    expected = at("2026-11-24T09:30:00") if slug == "respond" else web_ctx.clock.now()
    assert actor == f"web:{username}" and when == expected
    page = client.get(response.headers["location"]).text
    assert 'id="done"' in page and ACTIONS[slug][3] in page  # the timeline names the act


@pytest.mark.parametrize("slug", ["respond", "refer", "close", "safe-contact"])
def test_others_may_not_act(client_for, web_ctx, slug) -> None:
    number = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-16T09:00:00")
    web_ctx.clock.at = at(NOW)
    before = _audit(web_ctx, number)
    other = client_for("xiling")  # another village: the case does not exist for her
    token = csrf_of(other.get("/board").text)
    assert other.get(f"/cases/{number}/act/{slug}").status_code == 404
    assert other.post(f"/cases/{number}/act/{slug}", data={"csrf_token": token, "note": "x"},
                      follow_redirects=False).status_code == 404
    ops = client_for("ops")  # counts only
    token = csrf_of(ops.get("/board").text)
    assert ops.get(f"/cases/{number}/act/{slug}").status_code == 403
    assert ops.post(f"/cases/{number}/act/{slug}", data={"csrf_token": token, "note": "x"},
                    follow_redirects=False).status_code == 403
    assert _audit(web_ctx, number) == before


def test_an_action_without_the_csrf_token_is_refused(client_for, web_ctx, case_number) -> None:
    client = client_for("donghu")
    response = _post(client, case_number, "respond", {"note": "已答复", "at": "2026-11-24T09:30"},
                     csrf=False)
    assert response.status_code == 403
    bad = client.post(f"/cases/{case_number}/act/respond",
                      data={"note": "已答复", "at": "2026-11-24T09:30", "csrf_token": "forged"})
    assert bad.status_code == 403
    assert "responded" not in [e[0] for e in _audit(web_ctx, case_number)]


@pytest.mark.parametrize(("slug", "data", "reason"), [
    ("close", {"note": "想结案"}, "不能结案：请先登记答复"),
    ("resume", {"note": ""}, "不能恢复计时：未暂停计时"),
    ("upper-result", {"note": "上级结果"}, "只有转报上级的疑难个案"),
])
def test_an_illegal_move_is_refused_with_its_reason(client_for, web_ctx, case_number, slug,
                                                    data, reason) -> None:
    before = _audit(web_ctx, case_number)
    response = _post(client_for("donghu"), case_number, slug, data)
    assert response.status_code == 409
    assert reason in response.text and 'id="refused"' in response.text
    assert response.text.count("不能") == 1  # the reason says what cannot be done, once
    assert _audit(web_ctx, case_number) == before


def test_a_second_answer_is_refused_and_the_first_stands(client_for, web_ctx, case_number) -> None:
    client = client_for("donghu")
    assert _post(client, case_number, "respond", {"note": "第一次", "at": "2026-11-24T09:00"}
                 ).status_code == 303
    again = _post(client, case_number, "respond", {"note": "第二次", "at": "2026-11-24T09:30"})
    assert again.status_code == 409 and "答复已登记" in again.text


@pytest.mark.parametrize(("slug", "data", "field", "reason"), [
    ("respond", {"note": "已答复", "at": "2026-11-25T09:00"}, "at", "答复时间不能晚于当前时间"),
    ("respond", {"note": "", "at": "2026-11-24T09:00"}, "note", "请填写答复内容"),
    ("refer", {"role": "court", "working_days": "7", "purpose": ""}, "role", "都没有登记邮箱的法院"),
    ("refer", {"role": "civil_affairs", "working_days": "0", "purpose": ""}, "working_days",
     "1–60"),
    ("safe-contact", {"quiet_hours": "晚上"}, "quiet_hours", "晚上"),
    ("risk", {"level": "none", "reason": ""}, None, None),
])
def test_bad_input_comes_back_beside_its_field(client_for, web_ctx, case_number, slug, data,
                                               field, reason) -> None:
    if field is None:  # lowering below the rules' level without a reason: pick a DV case
        number = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-20T09:00:00",
                            category="domestic_violence", tier=None, risk=["threat_to_kill"])
        web_ctx.clock.at = at(NOW)
        response = _post(client_for("donghu"), number, slug, data)
        assert response.status_code == 422
        assert re.search(r'id="error-reason">[^<]+<', response.text)
        return
    before = _audit(web_ctx, case_number)
    response = _post(client_for("donghu"), case_number, slug, data)
    assert response.status_code == 422
    shown = re.search(rf'id="error-{field}">([^<]+)<', response.text)
    assert shown and reason in shown.group(1)
    for name, value in data.items():  # nothing typed is lost
        assert value in response.text
    assert _audit(web_ctx, case_number) == before


def test_the_referral_form_shows_whom_each_department_reaches(client_for, case_number) -> None:
    form = client_for("donghu").get(f"/cases/{case_number}/act/refer").text
    # 东湖村 has no civil-affairs contact: the township's serves (walking up the tree)
    assert re.search(r'<option value="civil_affairs"[^>]*>民政 → 东湖镇民政助理员（林民政）', form)
    assert re.search(r'<option value="court"[^>]*>法院 → 未登记', form)
    assert 'name="working_days"' in form and 'value="7"' in form


# --- 今日待办 ---------------------------------------------------------------------------------

def _linked_cadre(ctx) -> None:
    chair = _contact(ctx, place=DONGHU, role="federation_chair")
    with unit_of_work(ctx.sessions) as session:
        users.add_user(session, username="chen", password=PASSWORD, role="cadre",
                       jurisdiction_code=DONGHU, contact_id=chair, now=ctx.clock.now(),
                       actor="test")


def test_a_cadre_lands_on_her_todo_list_with_the_items_of_her_digest(client_for, web_ctx) -> None:
    overdue = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-02T09:00:00")
    soon = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-18T09:00:00")
    referred = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-10T09:00:00")
    _answered(web_ctx, referred)
    _referred(web_ctx, referred)  # sent 11-10: feedback overdue since 11-19
    web_ctx.clock.at = at("2026-11-13T10:00:00")
    _referred(web_ctx, referred)  # due 11-24: today
    store_case(web_ctx, jurisdiction="990102001002", received="2026-11-02T09:00:00")  # not hers
    protected = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-10T09:00:00",
                           category="domestic_violence")
    _answered(web_ctx, protected)
    web_ctx.clock.at = at(NOW)
    _case(web_ctx, protected, lambda s, c: casework_records.record_measure(
        s, case=c, kind="protection_order", status="granted", on=date(2026, 6, 1),
        until=date(2026, 12, 1), issuer="示范县人民法院", now=web_ctx.clock.now(), actor="test"))
    _linked_cadre(web_ctx)

    client = client_for("chen")
    assert client.get("/", follow_redirects=False).headers["location"] == "/today"
    page = client.get("/today").text
    shown = {section: re.findall(r'class="case" href="/cases/([^"]+)"', body)
             for section, body in re.findall(r'<section class="card todo" id="todo-(\w+)">(.*?)</section>',
                                             page, flags=re.S)}
    chair = _contact(web_ctx, place=DONGHU, role="federation_chair")
    with unit_of_work(web_ctx.sessions) as session:
        mail = cadre_context(session, notice=Notice(contact_id=chair), as_of=web_ctx.clock.now(),
                             calendar=current_calendar(session), public_url="https://wq.example")
    digest = {s["title"]: [line["case_number"] for line in s["lines"]] for s in mail["sections"]}
    titles = re.findall(r'<section class="card todo" id="todo-\w+">\s*<h2>([^（]+)', page)
    assert dict(zip(titles, shown.values())) == digest
    assert overdue in shown["overdue"] and soon in shown["due_soon"]
    assert referred in shown["referrals"]
    assert shown["protection_orders"] == [protected]  # expires in 5 working days
    assert f'href="/cases/{protected}/act/measure?kind=protection_order"' in page
    assert "保护令到期" in page and "期限 2026-12-01 24:00" in page
    # each line links to the case and to the form that acts on it
    assert f'href="/cases/{overdue}/act/respond"' in page
    assert re.search(rf'href="/cases/{referred}/act/referral-result\?referral=\d+"', page)
    # supervisors keep the board
    assert client_for("dhz").get("/", follow_redirects=False).headers["location"] == "/board"


def test_a_long_todo_list_comes_a_page_at_a_time_with_every_sections_count(
        client_for, web_ctx, monkeypatch) -> None:
    late = [store_case(web_ctx, jurisdiction=DONGHU, received=f"2026-11-02T09:0{n}:00") for n in range(3)]
    soon = store_case(web_ctx, jurisdiction=DONGHU, received="2026-11-18T09:00:00")
    web_ctx.clock.at = at(NOW)
    _linked_cadre(web_ctx)
    monkeypatch.setattr(paging, "PAGE_ROWS", 2)
    client = client_for("chen")

    def sections(html: str) -> dict[str, tuple[str, list[str]]]:
        return {bucket: (re.search(r"<h2>[^（]+（(\d+) 项）", body).group(1),
                         re.findall(r'class="case" href="/cases/([^"]+)"', body))
                for bucket, body in re.findall(
                    r'<section class="card todo" id="todo-(\w+)">(.*?)</section>', html, flags=re.S)}

    first, second = client.get("/today").text, client.get("/today?page=2").text
    assert sections(first) == {"overdue": ("3", late[:2])}
    assert sections(second) == {"overdue": ("3", late[2:]), "due_soon": ("1", [soon])}
    # every section's count and where it starts, on each page; then the page control
    for html in (first, second):
        assert "共 <strong>4</strong> 项需要办理" in html
        assert 'href="/today?page=1#todo-overdue"' in html and 'href="/today?page=2#todo-due_soon"' in html
    assert "第 1–2 项，共 4 项" in first and 'href="/today?page=2" rel="next"' in first
    assert "第 3–4 项，共 4 项" in second and 'rel="next"' not in second
    assert sections(client.get("/today?page=7").text) == sections(second)  # past the end: the last
    assert client.get("/today?page=x").status_code == 400
    monkeypatch.setattr(paging, "PAGE_ROWS", 100)
    whole = client.get("/today").text
    assert sections(whole) == {"overdue": ("3", late), "due_soon": ("1", [soon])}
    assert 'class="pager"' not in whole and "#todo-overdue" not in whole
