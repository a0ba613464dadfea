"""Mail building: templates, escaping, strictness, Message-ID, MIME structure. Pure: no I/O."""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import re
from typing import Any

import pytest
from jinja2 import meta
from markupsafe import escape

from models.domain.notice_kinds import KINDS, Family, template_of
from notifications.message import (
    NOTICE_HEADER,
    TEMPLATES_DIR,
    Attachment,
    Mail,
    TemplateError,
    message_id_for,
    render_mail,
    template_environment,
    to_email_message,
)

# The templates of the notice kinds table: one mail per case, the digests, and the
# operator's mails about the machinery (tests/service/test_backlog.py renders those).
TEMPLATE_NAMES = tuple(template_of(k) for k, spec in KINDS.items() if spec.about_a_case)
DIGEST_TEMPLATE_NAMES = tuple(template_of(k) for k, spec in KINDS.items()
                              if spec.family == Family.DIGEST)
OPERATIONS_TEMPLATE_NAMES = tuple(template_of(k) for k, spec in KINDS.items()
                                  if spec.family == Family.OPERATIONS)

ACT = 'weiquan case respond WQ-2026-000001 --note "已电话联系，约定面谈"'

REMINDER_CONTEXT: dict[str, Any] = {
    "case_number": "WQ-2026-000001",
    "tier_label": "紧急",
    "category_label": "家庭暴力",
    "jurisdiction_name": "城关区城关街道妇联",
    "due_at": "2026-10-15 24:00",
    "received_at": "2026-10-12 09:30",
    "act_command": ACT,
    "case_url": None,
}

CONTEXTS: dict[str, dict[str, Any]] = {
    "reminder_before": REMINDER_CONTEXT,
    "reminder_due": REMINDER_CONTEXT,
    "escalation": {
        **REMINDER_CONTEXT,
        "overdue_working_days": 3,
        "escalation_level": 1,
        "responsible_name": "王丽",
        "responsible_post": "权益部部长",
        "responsible_jurisdiction_name": "城关街道妇联",
    },
    "difficult_transfer": {
        "case_number": "WQ-2026-000001",
        "category_label": "婚姻家庭纠纷",
        "jurisdiction_name": "城关区妇联",
        "received_at": "2026-10-12 09:30",
        "summary_for_recipient": "涉及跨省协调的家庭暴力个案，需上级协调公安与法院",
        "act_command": "weiquan case accept WQ-2026-000001",
    },
    "difficult_tracking": {
        "case_number": "WQ-2026-000001",
        "days_since_transfer": 14,
        "act_command": "weiquan case report-back WQ-2026-000001 --note ...",
    },
    "at_once": {
        "case_number": "WQ-2026-000001",
        "category_label": "家庭暴力",
        "jurisdiction_name": "东湖村",
        "received_at": "2026-09-30 10:15",
        "purpose": "危及生命安全，立即报警",
        "reasons_text": "危及生命安全，立即报警；违法犯罪线索",
        "responsible_name": "陈美华",
        "responsible_post": "东湖村妇联主席",
        "responsible_contact": "0577-0000-1003",
        "act_command": "weiquan notice ack 12",
    },
    "call_110": {
        "case_number": "WQ-2026-000001",
        "category_label": "家庭暴力",
        "jurisdiction_name": "东湖村",
        "reasons_text": "掐脖子、用管制刀具吓唬",
        "told_text": "东湖派出所值班室、东湖镇妇联主席",
        "act_command": "weiquan case show WQ-2026-000001",
    },
    "routing_gap": {
        "case_number": "WQ-2026-000001",
        "jurisdiction_name": "东湖村",
        "missing_text": "东湖村及以上各级均未登记公安派出所",
        "act_command": "weiquan registry load --contacts contacts.csv",
    },
    "referral": {
        "case_number": "WQ-2026-000001",
        "category_label": "家庭暴力",
        "jurisdiction_name": "东湖村",
        "responsible_name": "陈美华",
        "responsible_post": "东湖村妇联主席",
        "responsible_contact": "0577-0000-1003",
        "referred_to": "东湖镇民政助理员",
        "referred_at": "2026-10-08 10:00",
        "purpose": "临时生活救助",
        "feedback_due_at": "2026-10-19 24:00",
        "act_command": 'weiquan referral result 3 --note "办理结果"',
    },
    "visit_due": {
        "case_number": "WQ-2026-000001",
        "category_label": "家庭暴力",
        "jurisdiction_name": "东湖村",
        "ledger_label": "高风险家庭",
        "plan_label": "危急：3日内首访，每周一次（头一个月），此后每月一次",
        "last_visit_at": "2026-10-09 15:00",
        "visit_due_on": "2026-10-16",
        "suggested_time": "10:00",
        "act_command": "weiquan visit record WQ-2026-000001 --at ... --by ... --mode home --alone",
    },
}
CONTEXTS["referral_reminder"] = CONTEXTS["referral"]
CONTEXTS["at_once_again"] = CONTEXTS["at_once"]
CONTEXTS["phone_unconfirmed"] = {
    "case_number": "WQ-2026-000001", "category_label": "家庭暴力", "jurisdiction_name": "东湖村",
    "unconfirmed_text": "派出所：0577-0000-2110", "act_command": "weiquan case show WQ-2026-000001"}
CONTEXTS["referral_overdue"] = {**CONTEXTS["referral"], "overdue_working_days": 2,
                                "escalation_level": 1, "acknowledged_text": "未签收",
                                "earlier_told": ""}
CONTEXTS["follow_up"] = {
    "case_number": "WQ-2026-000001", "category_label": "土地权益", "jurisdiction_name": "东湖村",
    "closed_on": "2026-09-30", "visit_due_on": "2026-10-20", "overdue": False,
    "overdue_working_days": 0, "escalation_level": 0, "responsible_name": "陈美华",
    "responsible_post": "东湖村妇联主席",
    "act_command": "weiquan case follow-up WQ-2026-000001 --at T --by 回访人 --outcome 情况 "
                   "--satisfaction satisfied"}
CONTEXTS["protection_order"] = {
    "case_number": "WQ-2026-000001", "category_label": "家庭暴力", "jurisdiction_name": "东湖村",
    "expires_today": False, "granted_on": "2026-10-20", "expires_on": "2026-12-31",
    "issuer": "示范县人民法院", "working_days_left": 10,
    "act_command": "weiquan case show WQ-2026-000001"}
CONTEXTS["visit_overdue"] = {**CONTEXTS["visit_due"], "overdue_working_days": 2,
                             "escalation_level": 1, "responsible_name": "陈美华",
                             "responsible_post": "东湖村妇联主席"}

# What the mails say "what is due": one characteristic phrase per template.
HEADLINES = {
    "reminder_before": "即将到期",
    "reminder_due": "今日到期",
    "escalation": "逾期督办",
    "difficult_transfer": "疑难个案转报",
    "difficult_tracking": "疑难个案跟踪",
    "at_once": "紧急报告",
    "call_110": "立即报警",
    "routing_gap": "登记缺失",
    "referral": "转介",
    "referral_reminder": "转介反馈提醒",
    "referral_overdue": "转介逾期督办",
    "visit_due": "回访提醒",
    "visit_overdue": "回访逾期督办",
    "at_once_again": "再次紧急报告",
    "phone_unconfirmed": "请立即致电确认",
    "follow_up": "结案回访提醒",
    "protection_order": "保护令即将到期",
}

# Every variable any template may use. A new one must be added here on purpose, after
# checking it cannot carry a party's name, phone, address or ID.
ALLOWED_VARIABLES = {
    "case_number", "tier_label", "category_label", "jurisdiction_name", "due_at",
    "received_at", "act_command", "case_url", "overdue_working_days", "escalation_level",
    "responsible_name", "responsible_post", "responsible_jurisdiction_name",
    "summary_for_recipient", "days_since_transfer", "tracking_every_working_days",
    "purpose", "reasons_text", "responsible_contact", "told_text", "missing_text",
    # referrals and return visits: the department, dates and the plan, never the family
    "referred_to", "referred_at", "feedback_due_at", "acknowledged_text", "earlier_told", "ledger_label",
    "plan_label", "last_visit_at", "visit_due_on", "suggested_time",
    # safe contact: an instruction (how not to reach her), never the channel itself
    "safety_note", "ack_url",
    # institutions (police station, hotline) that have not confirmed: posts and office phones
    "unconfirmed_text",
    # digests: dates, counts and lists of lines whose fields are case numbers, category labels,
    # due dates, statuses and links (tests/unit/test_digest_mail.py checks those fields)
    "digest_date", "total_count", "overdue_count", "sections", "week_label", "root_name",
    "due_soon_count", "rows", "home_url", "board_url",
    # the monthly statistics: a month, counts with their labels, the attachment's file name
    # (a jurisdiction code and dates) and the board's statistics page
    "month_label", "period_from", "period_to", "received_count", "on_time_text", "lines",
    "stats_url", "attachment_name",
    # the casework records: dates, the issuing court or station, whether it is late or today
    "closed_on", "overdue", "expires_today", "granted_on", "expires_on", "issuer",
    "working_days_left",
    # the operator's backlog alert: instants, counts, minutes and a reason's label
    "began_at", "sent_at", "waiting", "late", "oldest_wait_minutes", "threshold_minutes",
    "reason_label",
}
PERSONAL_DATA_WORDS = re.compile(
    r"victim|applicant|complainant|party|parties|phone|mobile|address|id_card|"
    r"姓名|电话|手机|住址|地址|身份证", re.IGNORECASE)


def body(message: email.message.EmailMessage, subtype: str) -> email.message.MIMEPart:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part


def render(template: str, **overrides: Any) -> Mail:
    context = {**CONTEXTS[template], **overrides}
    return render_mail(template=template, context=context, to=["chair@fulian.example.cn"],
                       notice_key=f"{template}:case-1:2026-10-14")


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_each_template_renders_case_number_due_and_action(template: str) -> None:
    context = CONTEXTS[template]
    mail = render(template)

    assert "\n" not in mail.subject and mail.subject == mail.subject.strip()
    assert context["case_number"] in mail.subject
    assert HEADLINES[template] in mail.subject
    for part in (mail.text, mail.html):
        assert context["case_number"] in part
    # People read words and links, not commands (the operator's registry gap aside: the
    # registry is loaded from a shell).
    if template != "routing_gap":
        assert "weiquan" not in mail.text and "weiquan" not in mail.html
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")
    assert mail.to == ("chair@fulian.example.cn",)


@pytest.mark.parametrize("template", ["reminder_before", "reminder_due", "escalation"])
def test_deadline_mails_say_when(template: str) -> None:
    mail = render(template)
    assert "2026-10-15 24:00" in mail.text and "2026-10-15 24:00" in mail.html
    if template != "escalation":  # its subject says how late instead
        assert "2026-10-15 24:00" in mail.subject


def test_escalation_names_the_responsible_cadre_and_the_delay() -> None:
    mail = render("escalation")
    assert "逾期 3 个工作日" in mail.subject
    assert "王丽（权益部部长，城关街道妇联）" in mail.text
    assert "向上第 1 级督办" in mail.text
    assert "此前已逐级督办" not in mail.text
    assert "此前已逐级督办" in render("escalation", escalation_level=2).text


# Mails to people without an account: the signed link and the cadre's phone, never the
# login-only case page.
NO_ACCOUNT = ("at_once", "at_once_again", "referral", "referral_reminder", "referral_overdue")


@pytest.mark.parametrize("template", [t for t in TEMPLATE_NAMES if t not in NO_ACCOUNT])
def test_case_url_line_only_when_given(template: str) -> None:
    without = render(template, case_url=None)
    assert "登录后办理" not in without.text and "<a " not in without.html

    url = "https://weiquan.example.cn/cases/WQ-2026-000001?tab=respond&x=1"
    with_url = render(template, case_url=url)
    assert f"个案页面（登录后办理）：{url}" in with_url.text
    assert f'href="{escape(url)}"' in with_url.html


@pytest.mark.parametrize("template", NO_ACCOUNT)
def test_mails_to_people_without_an_account_never_link_the_case_page(template: str) -> None:
    url = "https://weiquan.example.cn/cases/WQ-2026-000001"
    mail = render(template, case_url=url, ack_url="https://weiquan.example.cn/ack/1.2.3.sig",
                  responsible_contact="0577-0000-1003")
    for part in (mail.text, mail.html):
        assert "/cases/" not in part and "登录" not in part
        assert "0577-0000-1003" in part
    if template != "referral_overdue":  # its recipients (综治中心, federations) get no link
        assert "https://weiquan.example.cn/ack/1.2.3.sig" in mail.text


@pytest.mark.parametrize("template", ["difficult_transfer", "difficult_tracking"])
def test_tracking_interval_follows_the_policy_setting(template: str) -> None:
    assert "每 7 个工作日提醒一次" in render(template).text
    assert "每 7 个工作日提醒一次" in render(template, tracking_every_working_days=None).text
    configured = render(template, tracking_every_working_days=5)
    assert "每 5 个工作日提醒一次" in configured.text
    assert "每 5 个工作日提醒一次" in configured.html


def test_case_url_may_be_absent_from_the_context() -> None:
    context = {k: v for k, v in REMINDER_CONTEXT.items() if k != "case_url"}
    mail = render_mail(template="reminder_due", context=context, to=["a@example.cn"],
                       notice_key="k")
    assert "登录后办理" not in mail.text


def test_html_part_escapes_and_text_part_keeps_verbatim() -> None:
    hostile = "<script>alert('x')</script>城关区妇联"
    mail = render("reminder_due", jurisdiction_name=hostile)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;城关区妇联" in mail.html
    assert hostile in mail.text


def test_subject_is_one_line_even_when_a_value_has_line_breaks() -> None:
    mail = render("difficult_transfer", jurisdiction_name="城关区\r\n妇联")
    assert mail.subject.startswith("【疑难个案转报】城关区 妇联 转报个案")


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_missing_variable_raises_template_error_naming_it(template: str) -> None:
    context = {k: v for k, v in CONTEXTS[template].items() if k != "case_number"}
    with pytest.raises(TemplateError) as caught:
        render_mail(template=template, context=context, to=["a@example.cn"], notice_key="k")
    assert caught.value.variable == "case_number"
    assert caught.value.template == template
    assert "case_number" in str(caught.value) and template in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_variables_are_all_named() -> None:
    context = {k: v for k, v in CONTEXTS["escalation"].items()
               if k not in ("responsible_post", "due_at")}
    with pytest.raises(TemplateError, match=r"\['due_at', 'responsible_post'\]"):
        render_mail(template="escalation", context=context, to=["a@example.cn"], notice_key="k")


def test_none_in_a_required_variable_is_refused_not_printed() -> None:
    with pytest.raises(TemplateError) as caught:
        render("reminder_due", tier_label=None)
    assert caught.value.variable == "tier_label"
    assert "must not be None" in str(caught.value)


@pytest.mark.parametrize("name", ["no_such_template", "base", "../templates/reminder_due", ""])
def test_unknown_template_raises_template_error(name: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_mail(template=name, context=REMINDER_CONTEXT, to=["a@example.cn"], notice_key="k")
    assert caught.value.template == name


@pytest.mark.parametrize("key", ["victim_name", "party_phone", "applicant", "home_address"])
def test_context_keys_that_look_like_personal_data_are_refused(key: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render("reminder_due", **{key: "x"})
    assert caught.value.variable == key


def test_recipients_must_be_a_sequence_not_a_string() -> None:
    with pytest.raises(TypeError):
        render_mail(template="reminder_due", context=REMINDER_CONTEXT, to="a@example.cn",
                    notice_key="k")


def test_rendering_is_deterministic() -> None:
    assert render("escalation") == render("escalation")


def test_message_id_is_stable_per_notice_and_distinct_across_notices() -> None:
    first = message_id_for(notice_key="reminder_due:case-1:2026-10-15")
    assert first == message_id_for(notice_key="reminder_due:case-1:2026-10-15")
    assert first != message_id_for(notice_key="reminder_due:case-2:2026-10-15")
    assert first != message_id_for(notice_key="reminder_before:case-1:2026-10-15")
    assert re.fullmatch(r"<[0-9a-f]{32}\.notice@weiquan\.local>", first)
    assert message_id_for(notice_key="k", domain="fulian.example.cn").endswith(
        ".notice@fulian.example.cn>")
    assert render("reminder_due").message_id == message_id_for(
        notice_key="reminder_due:case-1:2026-10-14")


@pytest.mark.parametrize("bad", [{"notice_key": ""}, {"notice_key": "k", "domain": "a b"}])
def test_message_id_rejects_bad_input(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        message_id_for(**bad)


def test_mail_carries_notice_key_and_auto_submitted_headers() -> None:
    headers = dict(render("reminder_due").headers)
    assert headers[NOTICE_HEADER] == "reminder_due:case-1:2026-10-14"
    assert headers["Auto-Submitted"] == "auto-generated"


def test_to_email_message_is_alternative_utf8_without_date() -> None:
    mail = render("reminder_due")
    message = to_email_message(mail, mail_from="weiquan@fulian.example.cn")

    assert message.get_content_type() == "multipart/alternative"
    assert message["Date"] is None  # stamped by the sender
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == mail.subject
    assert parsed["Message-ID"] == mail.message_id
    assert parsed["From"] == "weiquan@fulian.example.cn"
    assert parsed[NOTICE_HEADER] == "reminder_due:case-1:2026-10-14"
    assert body(parsed, "plain").get_content() == mail.text
    assert body(parsed, "html").get_content() == mail.html
    assert body(parsed, "plain").get_content_charset() == "utf-8"


def test_attachments_make_it_mixed() -> None:
    report = Attachment(filename="逾期清单.csv", content_type="text/csv",
                        data="个案编号,逾期工作日\nWQ-2026-000001,3\n".encode())
    mail = render("escalation")
    mail = dataclasses.replace(mail, attachments=(report,))
    message = to_email_message(mail, mail_from="weiquan@localhost")

    assert message.get_content_type() == "multipart/mixed"
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    (attached,) = list(parsed.iter_attachments())
    assert attached.get_filename() == "逾期清单.csv"
    assert attached.get_content_type() == "text/csv"
    assert body(parsed, "plain").get_content() == mail.text


@pytest.mark.parametrize("field,value", [
    ("subject", "a\r\nBcc: x@evil.example"),
    ("to", ("a@example.cn\nBcc: x@evil.example",)),
    ("to", ()),
    ("headers", (("Subject", "override"),)),
])
def test_mail_refuses_header_injection_and_reserved_headers(field: str, value: Any) -> None:
    fields: dict[str, Any] = {"to": ("a@example.cn",), "subject": "s", "text": "t",
                              "html": "h", "message_id": "<x@y>"}
    with pytest.raises(ValueError):
        Mail(**{**fields, field: value})


def test_template_directory_holds_exactly_the_declared_templates() -> None:
    names = {path.name for path in TEMPLATES_DIR.iterdir() if path.is_file()}
    mail_files = {name for name in names if not name.startswith("_") and name != "base.html"}
    expected = {f"{t}{suffix}" for t in (*TEMPLATE_NAMES, *DIGEST_TEMPLATE_NAMES,
                                         *OPERATIONS_TEMPLATE_NAMES)
                for suffix in (".subject.txt", ".txt", ".html")}
    assert mail_files == expected


@pytest.mark.parametrize("path", sorted(p.name for p in TEMPLATES_DIR.iterdir() if p.is_file()))
def test_templates_reference_no_personal_data(path: str) -> None:
    source = (TEMPLATES_DIR / path).read_text(encoding="utf-8")
    used = meta.find_undeclared_variables(template_environment().parse(source))
    assert used <= ALLOWED_VARIABLES, f"{path} uses {sorted(used - ALLOWED_VARIABLES)}"
    assert not PERSONAL_DATA_WORDS.search(source), f"{path}: {PERSONAL_DATA_WORDS.search(source)}"
