"""The counts an office is audited on (001 维权服务工作标准, 004 "统计有分类"), as rules.

Pure: what a period is (Asia/Shanghai calendar days, the board's presets), when an answer is
on time, when a return visit counts as missed, how a jurisdiction's counts roll up the tree,
the shape of the JSON, the Chinese labels and which rows of the 001 checklist the data fills.
`models.service.stats` runs the queries.

Counts are kept as a flat Counter keyed by metric paths ("by_channel.visit",
"referrals.late"), so rolling up is adding Counters and every shape comes from one table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.errors import InputError
from models.domain.ledgers import Period
from models.domain.vocabulary import vocabulary

# --- periods ----------------------------------------------------------------------------------

PRESETS = {"this_month": "本月", "last_month": "上月", "this_quarter": "本季", "this_year": "本年"}


def preset_period(name: str, *, today: date) -> Period:
    if name == "this_month":
        return Period(first=today.replace(day=1), last=_month_end(today))
    if name == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(first=last.replace(day=1), last=last)
    if name == "this_quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        return Period(first=first, last=_month_end(date(first.year, first.month + 2, 1)))
    if name == "this_year":
        return Period(first=date(today.year, 1, 1), last=date(today.year, 12, 31))
    raise InputError(field="preset", reason=f"unknown preset {name!r} (one of: {', '.join(PRESETS)})")


def monthly_statistics_period(day: date, *, calendar: WorkCalendar) -> Period | None:
    """Last month's period when `day` is the first working day of its month by the official
    calendar (a make-up Saturday can be; a holiday Monday cannot), else None: the day the
    supervisors' monthly statistics go out."""
    first, _ = calendar.first_working_day_on_or_after(day.replace(day=1))
    if day != first:
        return None
    return preset_period("last_month", today=day)


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def as_at(period: Period, *, now: datetime) -> datetime:
    """States ("overdue", "late", "on the ledger") are taken at the period's end, or now when
    the period has not ended yet: nothing is late before its time."""
    return min(period.end, now)


# --- the rules counted -------------------------------------------------------------------------

def is_on_time(*, answered_at: datetime, due_at: datetime) -> bool:
    """Answered by the deadline. `due_at` is the stored response deadline, which already
    carries every pause's working days (a resume extends it; models.service.procedure)."""
    return answered_at <= due_at


def day_end(instant: datetime) -> datetime:
    """24:00 (Beijing) of the instant's day: a visit due that day is missed after it."""
    day = instant.astimezone(SHANGHAI).date()
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)


@dataclass(frozen=True)
class PlanHistory:
    """One family's visit plan as recorded: when its first visit was due, each visit made
    (when, and the next visit it planned) and, while the plan runs, the visit due now."""

    first_due: datetime | None
    visits: Sequence[tuple[datetime, datetime | None]]  # (visited_at, next_due_at), by time
    outstanding_due: datetime | None  # the active plan's next_due_at (None when ended)


def missed_visits(plan: PlanHistory, *, start: datetime, until: datetime) -> int:
    """Visits due whose day ended in [start, until) without a visit by then. Each due is the
    one in force before a visit: the plan's first, then each visit's next; the last is the
    plan's current next visit (a visit brought forward counts at its new day)."""
    dues: list[tuple[datetime | None, datetime | None]] = []  # (due, the visit that answered it)
    previous_due = plan.first_due
    for visited_at, next_due in plan.visits:
        dues.append((previous_due, visited_at))
        previous_due = next_due
    if plan.outstanding_due is not None:
        dues.append((plan.outstanding_due, None))
    missed = 0
    for due, answered_at in dues:
        if due is None:
            continue
        deadline = day_end(due)
        if start <= deadline < until and (answered_at is None or answered_at >= deadline):
            missed += 1
    return missed


# --- shape and roll-up ---------------------------------------------------------------------------

SCALARS = ("received", "answered", "answered_on_time", "overdue", "legal_aid",
           "assigned_answered", "assigned_on_time", "online_answered", "online_on_time")
GROUPS: Mapping[str, tuple[str, ...]] = {
    "at_once_reports": ("made", "confirmed"),
    "referrals": ("sent", "acknowledged", "answered", "late"),
    "mediations": ("held", "failed"),
    "ledger_families": ("high_risk", "focus"),
    "visits": ("done", "missed"),
}
BY_CODE = {"by_channel": "channels", "by_category": "categories", "by_tier": "tiers"}

LABELS = {
    "received": "收到投诉（件）", "by_channel": "按来源", "by_category": "按问题类别",
    "by_tier": "按个案类型", "answered": "已答复", "answered_on_time": "按时答复",
    "on_time_rate": "按时答复率", "overdue": "逾期未答复（期末）",
    "at_once_reports": "第一时间报告", "at_once_reports.made": "已报告",
    "at_once_reports.confirmed": "已确认收到",
    "referrals": "转介", "referrals.sent": "转介发出", "referrals.acknowledged": "已签收",
    "referrals.answered": "已反馈结果", "referrals.late": "反馈逾期",
    "mediations": "调解", "mediations.held": "调解次数", "mediations.failed": "调解未果",
    "legal_aid": "法律援助（件）", "ledger_families": "台账家庭（期末）",
    "ledger_families.high_risk": "高风险家庭", "ledger_families.focus": "重点关注家庭",
    "visits": "回访", "visits.done": "已回访", "visits.missed": "逾期未回访",
    "assigned_answered": "上级交办事项已答复", "assigned_on_time": "上级交办事项按时答复",
    "online_answered": "网上投诉已答复", "online_on_time": "网上投诉按时答复",
}


def label(key: str) -> str:
    """A metric's words; a part is named with its group ("转介·反馈逾期")."""
    group = key.split(".", 1)[0]
    return f"{LABELS[group]}·{LABELS[key]}" if "." in key else LABELS[key]


def on_time_rate(tally: Mapping[str, int]) -> float | None:
    answered = tally.get("answered", 0)
    return round(tally.get("answered_on_time", 0) / answered, 4) if answered else None


def shaped(tally: Mapping[str, int]) -> dict[str, object]:
    """The JSON shape: codes, every vocabulary code present (zeros included)."""
    voc = vocabulary()
    out: dict[str, object] = {"received": tally.get("received", 0)}
    for key, group in BY_CODE.items():
        out[key] = {code: tally.get(f"{key}.{code}", 0) for code in voc.groups[group]}
    for key in SCALARS[1:]:
        out[key] = tally.get(key, 0)
    out["on_time_rate"] = on_time_rate(tally)
    for key, parts in GROUPS.items():
        out[key] = {part: tally.get(f"{key}.{part}", 0) for part in parts}
    return out


def roll_up(tallies: Mapping[str, Counter], *, nodes: Iterable[str]) -> dict[str, Counter]:
    """Each node's counts include everything below it (division codes nest by prefix)."""
    totals: dict[str, Counter] = {}
    for node in nodes:
        total: Counter = Counter()
        for code, tally in tallies.items():
            if code.startswith(node):
                total.update(tally)
        totals[node] = total
    return totals


# --- the 001 checklist ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ChecklistRow:
    item: str  # 服务内容
    standard: str  # 工作标准
    answer: str  # 现实情况: the choice offered ("有/无", "是/否")
    fill: str  # what the last column asks for
    metric: str | None = None  # the count that fills it; None: the office types it
    basic: bool = False  # one of the 12 basic requirements (*)


CHECKLIST: tuple[ChecklistRow, ...] = (
    ChecklistRow("1.1 开展妇女儿童维权问题调查研究", "能够发现本地区妇女儿童侵权苗头性、倾向性问题，并对典型问题进行调研", "有/无", "数量、名称"),
    ChecklistRow("1.2 提出法规政策建议", "形成维权问题调查研究专题报告，向本级人大、党委、政府、有关部门提出法规政策建议", "有/无", "数量、名称"),
    ChecklistRow("1.2 提出法规政策建议", "提出法规政策建议的采纳情况", "有/无", "数量、名称"),
    ChecklistRow("2.1 12338热线建设", "12338热线在工作时间有专人接听", "是/否", "数量", basic=True),
    ChecklistRow("2.1 12338热线建设", "12338热线接听时能够使用规范语言", "是/否", "数量", basic=True),
    ChecklistRow("2.1 12338热线建设", "12338热线能够提供有效的咨询意见或正确转介（12338热线转介件数）", "是/否", "数量", "by_channel.hotline_12338", basic=True),
    ChecklistRow("2.2 来信/网上投诉受理", "开通网上投诉受理窗口（网上投诉件数）", "有/无", "数量", "by_channel.online"),
    ChecklistRow("2.2 来信/网上投诉受理", "网上投诉能够得到及时回复或处理（按时答复件数）", "是/否", "数量", "online_on_time"),
    ChecklistRow("2.3 接待场所建设", "符合安全要求", "是/否", "数量"),
    ChecklistRow("2.3 接待场所建设", "有残疾人通道，对儿童和老年人优先接谈", "是/否", "数量"),
    ChecklistRow("2.3 接待场所建设", "能够提供法律咨询、心理咨询等服务", "是/否", "数量"),
    ChecklistRow("2.4 妇联信访信息管理系统", "使用妇联信访信息管理系统记录群众来信、来访、来电和网上投诉（登记件数）", "是/否", "数量", "received", basic=True),
    ChecklistRow("2.4 妇联信访信息管理系统", "定期进行信访数据统计分析，按规定报送信访信息", "是/否", "数量", basic=True),
    ChecklistRow("2.5 信访交办事项办理", "按照《妇联组织信访工作规定》处理上级妇联交办信访事项并及时回复（按时答复件数）", "是/否", "数量、层级", "assigned_on_time", basic=True),
    ChecklistRow("2.5 信访交办事项办理", "对交办的典型个案处理情况进行分析总结，提出推动解决同一类信访事项的措施建议", "有/无", "数量、列举"),
    ChecklistRow("2.5 信访交办事项办理", "对侵害妇女儿童权益重点个案能够督办/做到案结事了", "是/否", "数量、列举"),
    ChecklistRow("2.6 信访事项转介", "依据妇女权益保障法第53条向有关部门发建议函", "有/无", "数量、列举"),
    ChecklistRow("2.6 信访事项转介", "对妇联转介的信访事项完整记录、跟进、回访（转介并收到反馈件数）", "有/无", "数量、列举", "referrals.answered"),
    ChecklistRow("2.7 妇女法律援助", "为困难妇女儿童提供法律援助服务", "有/无", "数量、列举", "legal_aid"),
    ChecklistRow("3.1 开发制作宣传品", "开发制作的宣传品能够按要求发放", "是/否", "妇女之家数、妇女儿童数", basic=True),
    ChecklistRow("3.1 开发制作宣传品", "宣传对象能够基本了解宣传品的主要信息/搜集了宣传对象的反馈", "是/否", "举例"),
    ChecklistRow("3.2 开展各类普法宣传活动", "结合地方特色开展宣传活动", "有/无", "数量、妇女参与人数"),
    ChecklistRow("3.2 开展各类普法宣传活动", "利用网络新媒体开展宣传", "有/无", "数量、网民参与人数"),
    ChecklistRow("3.2 开展各类普法宣传活动", "重要节点开展网上网下宣传", "是/否", "层级、列举"),
    ChecklistRow("3.2 开展各类普法宣传活动", "主动设置维权议题进行宣传引导", "有/无", "数量、名称"),
    ChecklistRow("4.1 发声与舆情应对工作机制", "主动发现和上报本地区涉及妇女儿童权益的重大舆情隐患（舆情事项件数）", "有/无", "层级、列举", "by_channel.media", basic=True),
    ChecklistRow("4.1 发声与舆情应对工作机制", "对本地区涉及妇女儿童权益的重大舆情适时发声", "有/无", "层级、列举", basic=True),
    ChecklistRow("4.1 发声与舆情应对工作机制", "在重大侵权案件成为舆情热点之前，基层妇联曾主动发现报告或采取过有效干预措施", "有/无", "数量、列举"),
    ChecklistRow("4.1 发声与舆情应对工作机制", "及时为舆情热点案件提供维权服务，配合做好情绪疏导工作", "有/无", "数量、列举", basic=True),
    ChecklistRow("4.1 发声与舆情应对工作机制", "与相关部门联合发文，出台规范制度", "有/无", "数量、发文单位、名称"),
    ChecklistRow("4.2 婚姻家庭纠纷调解工作", "建立婚姻家庭调解委员会和调解员队伍", "有/无", "调委会数量、调解员数量"),
    ChecklistRow("4.2 婚姻家庭纠纷调解工作", "对婚姻家庭调解员进行专题培训", "是/否", "频次、层级"),
    ChecklistRow("4.2 婚姻家庭纠纷调解工作", "调解婚姻家庭矛盾纠纷（调解次数）", "有/无", "调解案件数量", "mediations.held"),
    ChecklistRow("4.3 就业性别歧视约谈机制", "出台规章制度", "有/无", "数量、名称"),
    ChecklistRow("4.3 就业性别歧视约谈机制", "对就业性别歧视问题进行约谈", "有/无", "数量、列举"),
    ChecklistRow("4.4 基层维权工作机制创新", "设立一站式维权咨询服务窗口", "有/无", "数量、层级"),
    ChecklistRow("4.4 基层维权工作机制创新", "建立妇女信访代理/协理制度，解决矛盾纠纷", "有/无", "信访代理协理员数量"),
    ChecklistRow("4.4 基层维权工作机制创新", "建立妇女议事会，有议事活动记录", "有/无", "代理协理事项数量"),
    ChecklistRow("4.4 基层维权工作机制创新", "建立妇女互助组，帮助困难妇女解决实际问题", "有/无", "数量"),
    ChecklistRow("4.4 基层维权工作机制创新", "对妇女儿童侵权案件及时发现和报告有工作记录（第一时间报告次数）", "有/无", "数量、列举", "at_once_reports.made", basic=True),
    ChecklistRow("4.4 基层维权工作机制创新", "对妇女儿童维权隐患、高危家庭排查建档（台账家庭户数）", "有/无", "数量、层级", "ledger_families"),
    ChecklistRow("4.4 基层维权工作机制创新", "发挥维权工作志愿者作用", "有/无", "志愿者数量"),
    ChecklistRow("4.4 基层维权工作机制创新", "各地因地制宜创新的社会化维权工作机制", "有/无", "数量、名称"),
    ChecklistRow("5.1 维权干部能力建设", "举办维权信访干部专题培训班", "有/无", "频次、层级"),
    ChecklistRow("5.1 维权干部能力建设", "专职维权干部具有法律/心理/社工/婚姻家庭咨询师等职业资格", "有/无", "分类数量"),
    ChecklistRow("5.1 维权干部能力建设", "为专职维权信访干部/热线接线员提供心理调适和业务辅导服务", "有/无", "次数、人数"),
    ChecklistRow("5.2 与妇女维权社会组织的合作", "对本地区妇女维权的社会组织主动联系、合作、引导", "有/无", "数量、名称"),
    ChecklistRow("5.2 与妇女维权社会组织的合作", "报送本地区妇女维权社会组织活动情况信息", "有/无", "数量、名称"),
)


def checklist_count(row: ChecklistRow, tally: Mapping[str, int]) -> int | None:
    """The number the data gives for a row, or None when the office must type it. A metric
    naming a group ("ledger_families") counts all its parts."""
    if row.metric is None:
        return None
    if row.metric in GROUPS:
        return sum(tally.get(f"{row.metric}.{part}", 0) for part in GROUPS[row.metric])
    return tally.get(row.metric, 0)


def checklist_answer(row: ChecklistRow, count: int) -> str:
    """The manual's tick box from the count: 有(√)/无( ) or 是(√)/否( )."""
    yes, no = row.answer.split("/")
    return f"{yes}(√) {no}( )" if count > 0 else f"{yes}( ) {no}(√)"


# The per-jurisdiction table (the xlsx, the board, the command's human output), in order.
TABLE: tuple[str, ...] = (
    "received", "answered", "answered_on_time", "on_time_rate", "overdue",
    "at_once_reports.made", "at_once_reports.confirmed", "referrals.sent",
    "referrals.acknowledged", "referrals.answered", "referrals.late", "mediations.held",
    "mediations.failed", "legal_aid", "ledger_families.high_risk", "ledger_families.focus",
    "visits.done", "visits.missed", "assigned_answered", "assigned_on_time", "online_answered",
    "online_on_time",
)


def table_value(tally: Mapping[str, int], key: str) -> int | str:
    """A cell of the table: a count, or the on-time rate as a percentage ("—" with no answers)."""
    if key == "on_time_rate":
        rate = on_time_rate(tally)
        return "—" if rate is None else f"{rate * 100:.1f}%"
    return tally.get(key, 0)


def breakdown(tally: Mapping[str, int]) -> list[tuple[str, str, int]]:
    """(分类, label, count) for every channel, category and tier, zeros included."""
    voc = vocabulary()
    return [(LABELS[key], voc.label(group, code), tally.get(f"{key}.{code}", 0))
            for key, group in BY_CODE.items() for code in voc.groups[group]]


# --- the supervisors' monthly mail ----------------------------------------------------------------

def monthly_mail_context(*, name: str, under: str, period: Period, tally: Mapping[str, int],
                         public_url: str, attachment_name: str) -> dict[str, object]:
    """The template variables of the monthly statistics mail: the subtree's name, the month,
    the table's counts for the whole subtree (per jurisdiction in the attached xlsx) and the
    board's statistics page for the same period. Counts only: nothing about a person."""
    return {
        "month_label": f"{period.first.year}年{period.first.month}月",
        "root_name": name,
        "period_from": period.first.isoformat(),
        "period_to": period.last.isoformat(),
        "received_count": tally.get("received", 0),
        "on_time_text": table_value(tally, "on_time_rate"),
        "lines": [{"label": label(key), "value": table_value(tally, key)} for key in TABLE],
        "stats_url": (f"{public_url.rstrip('/')}/stats?under={under}"
                      f"&first={period.first.isoformat()}&last={period.last.isoformat()}"),
        "attachment_name": attachment_name,
    }
