"""The digest mails as rendered from the pure digest: subject, sections, roll-up, escaping,
and nothing but case numbers, categories, dates, statuses and links."""

from __future__ import annotations

from datetime import date

from markupsafe import escape

from models.domain.digest import (
    LINE_FIELDS,
    ROW_FIELDS,
    ItemKind,
    build_cadre_digest,
    cadre_mail_context,
    rollup,
    supervisor_mail_context,
)
from notifications.message import _PERSONAL_DATA_KEY, render_mail
from tests.unit.test_digest import AS_OF, CALENDAR, NODES, PICTURE, at, item



def cadre_mail():
    items = [item("WQ-2026-000001", "2026-10-07", level=1),
             item("WQ-2026-000002", "2026-10-13", kind=ItemKind.REFERRAL, ref=17),
             item("WQ-2026-000003", "2026-10-12", kind=ItemKind.VISIT, ref=3)]
    digest = build_cadre_digest(items=items, as_of=at("2026-10-12T08:30:00"), calendar=CALENDAR)
    context = cadre_mail_context(digest, public_url="https://wq.example/")
    return context, render_mail(template="cadre_digest", context=context,
                                to=["fulian.donghu@example.org"], notice_key="digest:cadre:3:2026-10-12")


def test_cadre_digest_mail_subject_sections_and_links():
    context, mail = cadre_mail()
    assert mail.subject == "【每日待办】2026-10-12 您有 3 项待办，其中 1 项已逾期"
    text = mail.text
    assert text.index("■ 已逾期（1 项）") < text.index("■ 待回访（1 项）") < text.index("■ 待部门反馈的转介（1 项）")
    assert "1. WQ-2026-000001｜答复｜土地权益｜期限 2026-10-07 24:00｜逾期 4 个工作日，已报上 1 级督办" in text
    assert "办理：https://wq.example/cases/WQ-2026-000001/act/respond" in text
    assert "WQ-2026-000002｜转介反馈｜土地权益｜期限 2026-10-13 24:00｜还有 1 个工作日" in text
    assert "办理：https://wq.example/cases/WQ-2026-000002/act/referral-result?referral=17" in text
    assert "WQ-2026-000003｜回访｜土地权益｜期限 2026-10-12 24:00｜今日到期" in text
    assert '<a href="https://wq.example/cases/WQ-2026-000001/act/respond">' in mail.html
    assert "https://wq.example/today" in text  # the same list, on her home page
    assert "weiquan" not in text and "weiquan" not in mail.html
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")


def test_digest_lines_carry_only_the_listed_fields():
    context, _ = cadre_mail()
    for section in context["sections"]:
        for line in section["lines"]:
            assert tuple(line) == (*LINE_FIELDS, "act_url")
    for field in (*LINE_FIELDS, *ROW_FIELDS):
        assert not _PERSONAL_DATA_KEY.search(field), field  # what render_mail refuses at the top


def test_supervisor_mail_rolls_up_with_indentation():
    picture = rollup(items=PICTURE, root=NODES["990102"], nodes=NODES, as_of=AS_OF, calendar=CALENDAR)
    context = supervisor_mail_context(picture, week_of=date(2026, 10, 12), as_of=AS_OF,
                                      public_url="https://wq.example")
    assert all(tuple(row) == ROW_FIELDS for row in context["rows"])
    mail = render_mail(template="supervisor_digest", context=context, to=["sup@example.org"],
                       notice_key="digest:supervisor:user:1:2026-10-12")
    assert mail.subject == "【每周督办】示范县 2026年第42周：逾期 3 项，即将到期 2 项"
    assert "示范县（县）：逾期 3 项，即将到期 2 项\n    逾期：WQ-E（答复）\n" in mail.text
    assert "        南山社区（村）：逾期 0 项，即将到期 1 项\n            即将到期：WQ-D（转介反馈）" in mail.text
    assert "https://wq.example/board?under=990102" in mail.text
    assert "padding: 4px 4px 4px 44px" in mail.html  # a village, two levels in


def test_html_escapes_what_it_shows():
    picture = rollup(items=PICTURE, root=NODES["990102"].__class__("990102", "<b>县</b>", "county"),
                     nodes=NODES, as_of=AS_OF, calendar=CALENDAR)
    context = supervisor_mail_context(picture, week_of=date(2026, 10, 12), as_of=AS_OF,
                                      public_url="https://wq.example")
    mail = render_mail(template="supervisor_digest", context=context, to=["a@example.org"], notice_key="k")
    assert "<b>县</b>" not in mail.html and "&lt;b&gt;县&lt;/b&gt;" in mail.html
