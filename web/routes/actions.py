"""Acting on a case from its page: one table of actions, each a form (labelled fields, a
submit button named 提交) whose handler calls the same service function as the CLI.

Who may act is who may open the case (a cadre on her place's cases, a supervisor on her
subtree; operators and admins none — `case_in_scope`). The rules of each act live in the
service layer only: a refused act comes back as the service's `InputError` (the form again,
the reason beside its field, 422) or `IllegalMoveError` (the form again, the reason on top,
409); nothing is stored then. The service audits every act with who (`web:<username>`),
when and the note.

Adding an action is one entry in `ACTIONS`: its fields and a `perform` function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from models.runtime.bootstrap import Runtime
from models.db import repositories as repo
from models.db.orm import Case
from models.db.session import unit_of_work
from models.domain.casework import takes_protective_measures
from models.domain.errors import InputError, parse_aware_time, parse_date
from models.domain.procedure import PAUSE_LABELS, IllegalMoveError, PauseReason, Status
from models.domain.referrals import AWAITING_FEEDBACK, DEFAULT_FEEDBACK_WORKING_DAYS
from models.domain.vocabulary import vocabulary
from models.service import case_page, casework_records, procedure, referrals, visits
from models.service.calendar import current_calendar
from web.deps import Viewer, context_of, current_viewer, render
from web.forms import local_input_value, with_beijing_offset
from web.routes.cases import case_in_scope
from web.security import check_csrf

router = APIRouter()


@dataclass
class Act:
    """What a form handler gets: the case (in scope), the submitted values, who and when."""

    session: Session
    case: Case
    values: dict[str, str]
    lists: dict[str, list[str]]
    now: datetime
    actor: str
    viewer: Viewer
    ctx: Runtime


Choices = Callable[[Session, Case], list[tuple[str, str]]]


@dataclass(frozen=True)
class Field:
    name: str  # the service's field name, so its InputError lands beside this input
    label: str
    kind: str = "text"  # text | textarea | select | datetime | number | checkbox | checks
    required: bool = False
    choices: Choices | None = None
    default: Callable[[Act], str] | None = None
    hint: str = ""


@dataclass(frozen=True)
class Action:
    slug: str
    label: str  # the button on the case page, exactly
    perform: Callable[[Act], None]
    fields: tuple[Field, ...] = ()
    intro: str = ""
    done: str = field(default="")  # the message on the case page afterwards
    # Whether the case page offers it: a button that can only be refused is noise. The service
    # still decides (a form opened by its address is refused there, with the reason).
    shown: Callable[[Case], bool] = lambda case: True


# --- the values a form carries ------------------------------------------------------------------

def _time(act: Act, name: str) -> datetime:
    return parse_aware_time(with_beijing_offset(act.values.get(name, "")), field=name,
                            reason="请填写时间（年-月-日 时:分）")


def _now_value(act: Act) -> str:
    return local_input_value(act.now)


def _note(act: Act) -> str:
    return act.values.get("note", "").strip()


def _vocabulary_choices(group: str) -> Choices:
    return lambda session, case: list(vocabulary().groups[group].items())


def _pause_choices(session: Session, case: Case) -> list[tuple[str, str]]:
    return [(reason.value, label) for reason, label in PAUSE_LABELS.items()]


def _contact_choices(session: Session, case: Case) -> list[tuple[str, str]]:
    voc = vocabulary()
    return [(str(c.id), f"{c.post or voc.label('contact_roles', c.role)} {c.name}"
                        f"（{voc.label('contact_roles', c.role)}）")
            for c in case_page.assignable_contacts(session, case)]


def _referral_role_choices(session: Session, case: Case) -> list[tuple[str, str]]:
    voc = vocabulary()
    options = []
    for option in case_page.referral_options(session, case):
        label = voc.label("contact_roles", option.role)
        target = option.contact
        options.append((option.role, f"{label} → {target.post or target.name}（{target.name}）"
                        if target else f"{label} → 未登记，无法转介"))
    return options


def _awaiting_referrals(session: Session, case: Case) -> list[tuple[str, str]]:
    voc = vocabulary()
    return [(str(r["referral"].id), f"{voc.label('contact_roles', r['referral'].role)}"
                                    f"（{r['contact'].post or r['contact'].name}）：{r['referral'].purpose}")
            for r in case_page.referrals(session, case) if r["referral"].status in AWAITING_FEEDBACK]


def _victim_value(name: str) -> Callable[[Act], str]:
    def value(act: Act) -> str:
        people = visits.victims(act.case)
        current = getattr(people[0], name) if people else None
        if isinstance(current, bool):
            return "on" if current else ""
        return current or ""
    return value


# --- what each action does: the service call, as the CLI makes it --------------------------------

def _respond(act: Act) -> None:
    procedure.respond(act.session, act.case, at=_time(act, "at"), actor=act.actor, note=_note(act),
                      now=act.now)


def _move(to: Status) -> Callable[[Act], None]:
    def perform(act: Act) -> None:
        procedure.move(act.session, act.case, to=to, at=act.now, actor=act.actor, note=_note(act),
                       calendar=current_calendar(act.session),
                       follow_up_working_days=act.ctx.settings.closing_visit_working_days)
    return perform


def _pause(act: Act) -> None:
    reason = act.values.get("reason", "")
    if reason not in set(PauseReason):
        raise InputError(field="reason", reason="请选择暂停原因")
    procedure.pause(act.session, act.case, reason=PauseReason(reason), at=act.now,
                    actor=act.actor, note=_note(act))


def _resume(act: Act) -> None:
    procedure.resume(act.session, act.case, at=act.now, actor=act.actor, note=_note(act),
                     calendar=current_calendar(act.session))


def _assign(act: Act) -> None:
    contact = repo.contact_by_key(act.session, act.values.get("contact", ""))
    if contact is None or str(contact.id) not in {v for v, _ in _contact_choices(act.session, act.case)}:
        raise InputError(field="contact", reason="请从名单中选择承办人")
    procedure.assign(act.session, act.case, contact=contact, at=act.now, actor=act.actor,
                     note=_note(act))


def _upper_result(act: Act) -> None:
    procedure.record_upper_result(act.session, act.case, at=act.now, actor=act.actor,
                                  note=_note(act))


def _refer(act: Act) -> None:
    days = act.values.get("working_days", "").strip()
    if not days.isdigit() or not 1 <= int(days) <= 60:
        raise InputError(field="working_days", reason="请填写 1–60 的工作日数")
    referrals.refer(act.session, case=act.case, role=act.values.get("role", ""),
                    working_days=int(days), purpose=act.values.get("purpose", ""), now=act.now,
                    actor=act.actor, calendar=current_calendar(act.session))


def _referral_result(act: Act) -> None:
    key = act.values.get("referral", "")
    referral = referrals.referral_by_key(act.session, key)
    if referral is None or referral.case_id != act.case.id:
        raise InputError(field="referral", reason="请选择本个案的一项转介")
    referrals.record_referral_result(act.session, referral=referral, note=_note(act),
                                     by=act.values.get("by", "").strip() or act.viewer.display_name,
                                     at=act.now, actor=act.actor)


def _incident(act: Act) -> None:
    known = vocabulary().codes("risk_indicators")
    chosen = [code for code in act.lists.get("risk_indicators", []) if code in known]
    visits.record_incident(act.session, case=act.case, occurred_at=_time(act, "occurred_at"),
                           risk_indicators=list(dict.fromkeys(chosen)), note=_note(act),
                           now=act.now, actor=act.actor,
                           operator_email=act.ctx.settings.operator_email,
                           cadences=act.ctx.settings.visit_cadences)


def _risk(act: Act) -> None:
    visits.set_risk_level(act.session, case=act.case, level=act.values.get("level", ""),
                          reason=act.values.get("reason", "").strip() or None, now=act.now,
                          actor=act.actor, cadences=act.ctx.settings.visit_cadences)


def _safe_contact(act: Act) -> None:
    visits.set_safe_contact(act.session, case=act.case,
                            do_not_contact=act.values.get("do_not_contact") == "on",
                            safe_channel=act.values.get("safe_channel", ""),
                            quiet_hours=act.values.get("quiet_hours", ""), now=act.now,
                            actor=act.actor)


def _day(act: Act, name: str, *, required: bool = True):
    text = act.values.get(name, "").strip()
    if not text and not required:
        return None
    return parse_date(text, field=name, reason="请填写日期（年-月-日）")


def _verify(act: Act) -> None:
    casework_records.record_verification(
        act.session, case=act.case, verified_at=_time(act, "verified_at"),
        method=act.values.get("method", ""), with_whom=act.values.get("with_whom", "").strip(),
        findings=act.values.get("findings", "").strip(), veracity=act.values.get("veracity", ""),
        reasonableness=act.values.get("reasonableness", ""), now=act.now, actor=act.actor)


def _mediation(act: Act) -> None:
    casework_records.record_mediation(
        act.session, case=act.case, held_on=_day(act, "held_on"),
        mediator=act.values.get("mediator", "").strip(), outcome=act.values.get("outcome", ""),
        note=_note(act), now=act.now, actor=act.actor,
        operator_email=act.ctx.settings.operator_email)


def _reject(act: Act) -> None:
    casework_records.reject_case(
        act.session, case=act.case, reason=act.values.get("reason", "").strip(),
        redirected_to=act.values.get("redirected_to", "").strip() or None, now=act.now,
        actor=act.actor)


def _measure(act: Act) -> None:
    casework_records.record_measure(
        act.session, case=act.case, kind=act.values.get("kind", ""),
        status=act.values.get("status", "") or None, on=_day(act, "on"),
        until=_day(act, "until", required=False), issuer=act.values.get("issuer", "").strip(),
        note=_note(act), now=act.now, actor=act.actor)


def _order_breach(act: Act) -> None:
    casework_records.record_order_breach(
        act.session, case=act.case, occurred_at=_time(act, "occurred_at"), note=_note(act),
        now=act.now, actor=act.actor, operator_email=act.ctx.settings.operator_email,
        cadences=act.ctx.settings.visit_cadences)


def _follow_up(act: Act) -> None:
    casework_records.record_follow_up(
        act.session, case=act.case, visited_at=_time(act, "visited_at"),
        visited_by=act.values.get("visited_by", "").strip() or act.viewer.display_name,
        outcome=act.values.get("outcome", "").strip(),
        satisfaction=act.values.get("satisfaction", ""), now=act.now, actor=act.actor)


def _today_value(act: Act) -> str:
    return local_input_value(act.now)[:10]


NOTE = Field("note", "说明", kind="textarea")

ACTIONS: dict[str, Action] = {a.slug: a for a in (
    Action("respond", "登记答复", _respond, (
        Field("note", "答复内容", kind="textarea", required=True),
        Field("at", "答复时间", kind="datetime", required=True, default=_now_value)),
        intro="登记后答复期限停止计时，提醒和督办随之停止。", done="答复已登记。"),
    Action("pause", "暂停计时", _pause, (
        Field("reason", "暂停原因", kind="select", required=True, choices=_pause_choices), NOTE),
        intro="暂停期间的工作日在恢复计时后顺延答复期限。", done="已暂停计时。"),
    Action("resume", "恢复计时", _resume, (NOTE,),
           intro="暂停的工作日数顺延答复期限。", done="已恢复计时。"),
    Action("assign", "指定承办人", _assign, (
        Field("contact", "承办人", kind="select", required=True, choices=_contact_choices), NOTE),
        intro="名单为本级及上级联络名册（附表1）中的人员。", done="承办人已指定。"),
    Action("refer", "转介", _refer, (
        Field("role", "转介部门", kind="select", required=True, choices=_referral_role_choices,
              hint="箭头后为接收人：本级没有登记的，由最近的上级接收。"),
        Field("working_days", "反馈期限（工作日）", kind="number", required=True,
              default=lambda act: str(DEFAULT_FEEDBACK_WORKING_DAYS)),
        Field("purpose", "转介事项", kind="textarea",
              hint="请勿填写当事人姓名、电话、住址：转介邮件会发给接收部门。")),
        intro="接收部门收到邮件和签收链接；逾期未反馈的，报综治中心及上级妇联督办。",
        done="已转介。"),
    Action("referral-result", "登记转介反馈", _referral_result, (
        Field("referral", "转介", kind="select", required=True, choices=_awaiting_referrals),
        Field("note", "反馈结果", kind="textarea", required=True),
        Field("by", "反馈人", hint="如：派出所张警官（电话告知）；不填则记为您本人。")),
        intro="部门电话或当面告知的办理结果，由您代为登记；提醒和督办随之停止。",
        done="转介反馈已登记。"),
    Action("upper-result", "登记上级结果", _upper_result, (
        Field("note", "上级处理结果", kind="textarea", required=True),),
        intro="疑难个案转报上级后，上级反馈的处理结果。", done="上级结果已登记。"),
    Action("incident", "登记事件", _incident, (
        Field("occurred_at", "发生时间", kind="datetime", required=True, default=_now_value),
        Field("risk_indicators", "风险情形", kind="checks",
              choices=_vocabulary_choices("risk_indicators")), NOTE),
        intro="新发事件重新评估风险、收紧回访计划，须第一时间报告的即时报告。",
        done="事件已登记。"),
    Action("risk", "调整风险等级", _risk, (
        Field("level", "风险等级", kind="select", required=True,
              choices=_vocabulary_choices("risk_levels"),
              default=lambda act: act.case.risk_level),
        Field("reason", "理由", kind="textarea", hint="低于规则评定的等级时必须说明理由。")),
        done="风险等级已调整。"),
    Action("safe-contact", "安全联系设置", _safe_contact, (
        Field("do_not_contact", "勿直接联系当事人", kind="checkbox",
              default=_victim_value("do_not_contact")),
        Field("safe_channel", "安全联系渠道", default=_victim_value("safe_channel"),
              hint="如：经其姐姐转告；留空为清除。"),
        Field("quiet_hours", "勿扰时段", default=_victim_value("quiet_hours"),
              hint="时:分-时:分，如 18:00-08:00；留空为清除。")),
        done="安全联系设置已保存。"),
    Action("verify", "登记核实", _verify, (
        Field("verified_at", "核实时间", kind="datetime", required=True, default=_now_value),
        Field("method", "核实方式", kind="select", required=True,
              choices=_vocabulary_choices("verification_methods")),
        Field("with_whom", "核实对象", required=True, hint="如：当事人、村委会、派出所"),
        Field("findings", "了解到的实际情况", kind="textarea", required=True),
        Field("veracity", "是否属实", kind="select", required=True,
              choices=_vocabulary_choices("veracity")),
        Field("reasonableness", "诉求是否合理", kind="select", required=True,
              choices=_vocabulary_choices("reasonableness"))),
        intro="上级交办、12338转介和舆情事项须先核实再答复；核实情况写入附表5和情况报告。",
        done="核实情况已登记。"),
    Action("mediation", "登记调解", _mediation, (
        Field("held_on", "调解日期", kind="date", required=True, default=_today_value),
        Field("mediator", "调解人", required=True,
              hint="名册中的人员填其邮箱，或直接填写姓名（如：村人民调解员李某）"),
        Field("outcome", "调解结果", kind="select", required=True,
              choices=_vocabulary_choices("mediation_outcomes")), NOTE),
        intro="两次调解未果的，系统第一时间报告上级妇联或12338。", done="调解已登记。"),
    Action("measure", "登记保护措施", _measure, (
        Field("kind", "措施", kind="select", required=True,
              choices=_vocabulary_choices("measure_kinds")),
        Field("status", "状态", kind="select", choices=_vocabulary_choices("measure_statuses"),
              hint="人身安全保护令：已申请、已签发（填到期日）或被驳回"),
        Field("on", "日期", kind="date", required=True, default=_today_value),
        Field("until", "有效期至 / 庇护至", kind="date",
              hint="保护令到期前10个工作日和到期当日提醒承办人"),
        Field("issuer", "出具单位", hint="如：东湖派出所、示范县人民法院"), NOTE),
        done="保护措施已登记。", shown=lambda case: takes_protective_measures(category=case.category)),
    Action("order-breach", "登记违反保护令", _order_breach, (
        Field("occurred_at", "发生时间", kind="datetime", required=True, default=_now_value),
        NOTE),
        intro="违反人身安全保护令是新发事件：重新评估风险并第一时间报告派出所等。",
        done="违反保护令事件已登记并报告。", shown=lambda case: takes_protective_measures(category=case.category)),
    Action("follow-up", "登记结案回访", _follow_up, (
        Field("visited_at", "回访时间", kind="datetime", required=True, default=_now_value),
        Field("visited_by", "回访人", hint="不填则记为您本人"),
        Field("outcome", "回访情况", kind="textarea", required=True),
        Field("satisfaction", "当事人满意度", kind="select", required=True,
              choices=_vocabulary_choices("satisfaction"))),
        intro="结案后回访一次，记录办理效果和当事人满意度。", done="结案回访已登记。",
        shown=lambda case: case.status == Status.CLOSED),
    Action("reject", "不予受理", _reject, (
        Field("reason", "不予受理的理由", kind="textarea", required=True),
        Field("redirected_to", "转办至", hint="转由其他单位办理的，填写单位名称")),
        intro="仅限受理阶段；答复期限停止计时，个案不再列入待办。", done="已登记不予受理。",
        shown=lambda case: case.status == Status.ACCEPTED),
    Action("investigate", "调查", _move(Status.INVESTIGATING), (NOTE,), done="已转入调查。"),
    Action("handle", "处理", _move(Status.HANDLING), (NOTE,), done="已转入处理。"),
    Action("close", "结案", _move(Status.CLOSED), (NOTE,),
           intro="结案前须已登记答复。", done="已结案。"),
)}

# The buttons on the case page, in this order (登记转介反馈 sits with the referrals).
BUTTONS = ("verify", "mediation", "respond", "pause", "resume", "assign", "refer", "upper-result",
           "incident", "risk", "safe-contact", "measure", "investigate", "handle", "close",
           "reject", "follow-up", "order-breach")


def action_of(slug: str) -> Action:
    action = ACTIONS.get(slug)
    if action is None:
        raise HTTPException(404)
    return action


# --- the routes ----------------------------------------------------------------------------------

def _form(request: Request, *, action: Action, act: Act, errors: dict[str, str],
          refused: str = "", status_code: int = 200) -> HTMLResponse:
    choices = {f.name: f.choices(act.session, act.case) for f in action.fields if f.choices}
    return render(request, "action.html", {
        "case": act.case, "action": action, "values": act.values, "lists": act.lists,
        "choices": choices, "errors": errors, "refused": refused}, status_code=status_code)


def _act(request: Request, session: Session, *, key: str, viewer: Viewer,
         values: dict[str, str], lists: dict[str, list[str]]) -> Act:
    ctx = context_of(request)
    return Act(session=session, case=case_in_scope(session, key=key, viewer=viewer),
               values=values, lists=lists, now=ctx.clock.now(), actor=viewer.actor,
               viewer=viewer, ctx=ctx)


@router.get("/cases/{key}/act/{slug}", response_class=HTMLResponse)
def action_page(request: Request, key: str, slug: str,
                viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    action = action_of(slug)
    with unit_of_work(context_of(request).sessions) as session:
        act = _act(request, session, key=key, viewer=viewer, values={}, lists={})
        for f in action.fields:  # a link may preselect a value (登记转介反馈 of one referral)
            given = request.query_params.get(f.name)
            act.values[f.name] = given if given is not None else (f.default(act) if f.default else "")
        return _form(request, action=action, act=act, errors={})


@router.post("/cases/{key}/act/{slug}", response_class=HTMLResponse)
async def action_submit(request: Request, key: str, slug: str,
                        viewer: Viewer = Depends(current_viewer)) -> HTMLResponse:
    action = action_of(slug)
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    values = {f.name: str(form.get(f.name) or "") for f in action.fields if f.kind != "checks"}
    lists = {f.name: [str(v) for v in form.getlist(f.name)] for f in action.fields
             if f.kind == "checks"}
    with unit_of_work(context_of(request).sessions) as session:
        act = _act(request, session, key=key, viewer=viewer, values=values, lists=lists)
        missing = {f.name: f"请填写{f.label}" for f in action.fields
                   if f.required and f.kind != "checks" and not values[f.name].strip()}
        if missing:
            return _form(request, action=action, act=act, errors=missing, status_code=422)
        number = act.case.number
        try:
            with session.begin_nested():  # a refused act leaves nothing behind
                action.perform(act)
        except IllegalMoveError as error:
            return _form(request, action=action, act=act, errors={}, refused=error.reason,
                         status_code=409)
        except InputError as error:
            names = {f.name for f in action.fields}
            errors = {p.field if p.field in names else "_form": p.reason for p in error.problems}
            return _form(request, action=action, act=act, errors=errors, status_code=422)
    return RedirectResponse(f"/cases/{number}?done={slug}", status_code=303)
