"""People read words, not codes: no code of the vocabulary and no notice kind appears as a
word of its own in the text a person reads — the case page of a DV case with notices,
referrals, a visit plan and a timeline; the board; 今日待办; the users page; every mail
template; the CLI's human output."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from app import cli
from models.db.orm import Contact
from models.db.session import unit_of_work
from models.domain.digest import ItemKind, build_cadre_digest, cadre_mail_context
from models.domain.notice_kinds import NoticeKind
from models.domain.vocabulary import vocabulary
from models.service import users
from notifications.message import render_mail
from tests.unit.test_digest import CALENDAR, at as digest_at, item
from tests.unit.test_message import CONTEXTS, TEMPLATE_NAMES
from tests.web.conftest import PASSWORD, USERS, at, csrf_of, store_case

CODES = sorted({code for group in vocabulary().groups.values() for code in group}
               | {kind.value for kind in NoticeKind})
WORD = re.compile(r"(?<![A-Za-z0-9_.@-])(" + "|".join(map(re.escape, CODES))
                  + r")(?![A-Za-z0-9_@-]|\.[A-Za-z])")


def visible_text(page: str) -> str:
    """What a browser shows: no tags, attributes, scripts or styles; entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def bare_codes(text: str) -> list[str]:
    """Codes standing as words; a link is an address to click, not words to read."""
    return sorted(set(WORD.findall(re.sub(r"https?://\S+", " ", text))))


def test_the_pattern_finds_a_bare_code_and_spares_words_that_contain_one() -> None:
    assert bare_codes("风险：strangulation_or_weapon；状态 reported_at_once") == [
        "reported_at_once", "strangulation_or_weapon"]
    assert bare_codes("duty.dhpolice@example.org web:donghu status_closed") == ["status_closed"]
    assert bare_codes("hotline12338.county@example.org") == []
    assert bare_codes("办理：https://wq.example/cases/WQ-1/visit") == []


@pytest.fixture
def dv_case(web_ctx, client_for) -> str:
    """A DV case taken in with life-threatening indicators (at-once notices, a visit plan),
    then referred, answered, its risk and safe contact set and an incident recorded — all
    through the case page's forms."""
    number = store_case(web_ctx, jurisdiction="990102001001", received="2026-11-16T09:00:00",
                        category="domestic_violence", tier=None,
                        risk=["strangulation_or_weapon", "threat_to_kill"])
    web_ctx.clock.at = at("2026-11-24T10:00:00")
    client = client_for("donghu")
    for slug, data in (
            ("refer", {"role": "civil_affairs", "working_days": "7", "purpose": "临时救助"}),
            ("incident", {"occurred_at": "2026-11-23T21:00", "risk_indicators": "threat_to_kill",
                          "note": "再次威胁"}),
            ("safe-contact", {"do_not_contact": "on", "safe_channel": "经其姐姐转告",
                              "quiet_hours": "18:00-08:00"}),
            ("investigate", {"note": "入户"}),
            ("respond", {"note": "已答复", "at": "2026-11-24T09:00"}),
            ("pause", {"reason": "victim_unreachable"})):  # refused: an answered case
        token = csrf_of(client.get(f"/cases/{number}/act/{slug}").text)
        client.post(f"/cases/{number}/act/{slug}", data={**data, "csrf_token": token})
    return number


def test_pages_show_labels_not_codes(web_ctx, client_for, dv_case) -> None:
    with unit_of_work(web_ctx.sessions) as session:
        chair = session.scalar(select(Contact.id).where(
            Contact.jurisdiction_code == "990102001001", Contact.role == "federation_chair"))
        users.add_user(session, username="chen", password=PASSWORD, role="cadre",
                       jurisdiction_code="990102001001", contact_id=chair,
                       now=web_ctx.clock.now(), actor="test")
    cadre = client_for("chen")
    case_page = cadre.get(f"/cases/{dv_case}").text
    assert "掐脖子" in case_page and "第一时间报告" in case_page and "转介" in case_page
    assert "经其姐姐转告" in case_page and "列入" in case_page  # the plan and the timeline
    pages = {
        "case": case_page,
        "refused form": cadre.post(f"/cases/{dv_case}/act/pause", data={
            "csrf_token": csrf_of(case_page), "reason": "victim_unreachable"}).text,
        "today": cadre.get("/today").text,
        "board (cadre)": cadre.get("/board").text,
        "board (county)": client_for("county").get("/board").text,
        "board (operator)": client_for("ops").get("/board").text,
    }
    for slug in ("refer", "incident", "risk", "pause", "referral-result"):
        pages[f"form {slug}"] = cadre.get(f"/cases/{dv_case}/act/{slug}").text
    pages["users"] = client_for("root").get("/users").text
    for name, page in pages.items():
        # user names are what people chose to be called, not codes (a test user is called
        # "county", a level's code): the header and the users table name them
        for user in [*USERS, "chen"]:
            page = page.replace(f"<td>{user}</td>", "<td></td>").replace(f"<span>{user}（", "<span>（")
        text = visible_text(page)
        assert bare_codes(text) == [], (name, [text[max(0, m.start() - 80):m.end() + 20] for m in WORD.finditer(text)])


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_mails_show_labels_not_codes(template) -> None:
    mail = render_mail(template=template, context=CONTEXTS[template], to=["a@example.org"],
                       notice_key="k")
    for part in (mail.subject, mail.text, visible_text(mail.html)):
        assert bare_codes(part) == [], template


def test_the_digest_mail_shows_labels_not_codes() -> None:
    items = [item("WQ-2026-000001", "2026-10-07", level=1),
             item("WQ-2026-000002", "2026-10-13", kind=ItemKind.REFERRAL, ref=17),
             item("WQ-2026-000003", "2026-10-12", kind=ItemKind.VISIT, ref=3)]
    digest = build_cadre_digest(items=items, as_of=digest_at("2026-10-12T08:30:00"),
                                calendar=CALENDAR)
    mail = render_mail(template="cadre_digest",
                       context=cadre_mail_context(digest, public_url="https://wq.example"),
                       to=["a@example.org"], notice_key="k")
    for part in (mail.subject, mail.text, visible_text(mail.html)):
        assert bare_codes(part) == []


def test_the_clis_human_output_shows_labels_and_json_keeps_codes(web_ctx, dv_case, capsys,
                                                                 monkeypatch) -> None:
    monkeypatch.setattr(web_ctx, "close", lambda: None)  # the fixture closes it
    assert cli.main(["case", "show", dv_case], runtime_factory=lambda: web_ctx) == 0
    text = capsys.readouterr().out
    assert "第一时间报告" in text and bare_codes(text) == []
    assert cli.main(["case", "show", dv_case, "--json"], runtime_factory=lambda: web_ctx) == 0
    assert '"category": "domestic_violence"' in capsys.readouterr().out
