"""The 情况报告 (000, 如何撰写情况报告) as rules: which matters owe one, and its outline filled
from what the record holds — what it lacks is marked for the cadre to write, never invented.

Pure: the service gathers the facts (models/service/situation_report.py) and writes the .docx.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from models.domain.calendar import SHANGHAI
from models.domain.risk import INDICATOR_GROUPS, RiskGroup

# Where a matter that owes a report came from: 附表5's 事项来源, in the manual's words.
ASSIGNED, HOTLINE, PUBLIC_OPINION = "上级交办", "12338转介", "舆情"
SOURCE_OF_CHANNEL = {"assigned": ASSIGNED, "hotline_12338": HOTLINE, "media": PUBLIC_OPINION}

GAP = "【待填写：{}】"
# The audit event of a written report: a matter owing one is done when it exists.
REPORT_WRITTEN = "situation_report_written"


def report_source(*, channel: str, risk_indicators: Iterable[str]) -> str | None:
    """上级交办 / 12338转介 / 舆情 when the matter owes a situation report, else None. A matter
    that came another way but shows public-opinion signs (media present, online exposure,
    a collective petition brewing) is a public-opinion matter too."""
    if channel in SOURCE_OF_CHANNEL:
        return SOURCE_OF_CHANNEL[channel]
    if any(INDICATOR_GROUPS.get(code) == RiskGroup.PUBLIC_OPINION for code in risk_indicators):
        return PUBLIC_OPINION
    return None


def gap(what: str) -> str:
    return GAP.format(what)


# --- the facts the record holds ---------------------------------------------------------------

@dataclass(frozen=True)
class VerificationFact:
    at: datetime
    method: str  # label
    with_whom: str
    findings: str
    veracity: str  # label
    reasonableness: str  # label


@dataclass(frozen=True)
class HelpFact:
    """One thing done for her: a referral, a mediation, a visit, a protective measure."""

    on: date
    what: str  # e.g. "转介司法所：法律援助"
    effect: str = ""  # its result, as recorded ("" when none is)


@dataclass(frozen=True)
class ReportFacts:
    number: str
    source: str  # 上级交办 / 12338转介 / 舆情
    received_at: datetime
    assigned_by: str  # "" when the record does not say
    problem: str  # category label and the summary
    verifications: Sequence[VerificationFact] = ()
    help: Sequence[HelpFact] = ()
    outcome: str = ""  # the follow-up after closing: outcome and satisfaction
    next_steps: Sequence[str] = ()  # what the record plans: visits, awaited feedback
    answered_at: datetime | None = None


@dataclass(frozen=True)
class Item:
    label: str
    text: str
    gaps: int = 0  # how many 【待填写】 marks the text carries


@dataclass(frozen=True)
class Section:
    heading: str
    items: list[Item] = field(default_factory=list)


def _day(instant: datetime) -> str:
    local = instant.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日"


def _date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _item(label: str, text: str) -> Item:
    return Item(label, text, gaps=text.count("【待填写："))


def sections(facts: ReportFacts) -> list[Section]:
    """The manual's outline: 一 (时间、交办单位、问题), 二 (1 时间方式对象, 2 实际情况, 3 结论),
    三 (1 帮助及效果, 2 下一步计划, 3 意见建议)."""
    by_whom = facts.assigned_by or (
        "12338妇女维权热线" if facts.source == HOTLINE else gap("交办单位"))
    basic = Section("一、交办事项基本情况", [
        _item("时间", f"{_day(facts.received_at)}（{facts.source}）"),
        _item("交办单位", by_whom),
        _item("问题", facts.problem or gap("反映的问题")),
    ])
    checks = facts.verifications
    if checks:
        how = "；".join(f"{_day(v.at)}，{v.method}，核实对象：{v.with_whom}" for v in checks)
        found = "；".join(v.findings for v in checks)
        last = checks[-1]
        conclusion = f"{last.veracity}；诉求{last.reasonableness.removeprefix('诉求')}"
    else:
        how = gap("核实的时间、方式、对象")
        found = gap("核实了解到的实际情况")
        conclusion = gap("是否属实、诉求是否合理")
    verified = Section("二、核实了解到的情况", [
        _item("1. 时间、方式、对象", how),
        _item("2. 了解到的实际情况", found),
        _item("3. 结论", conclusion),
    ])
    lines = [f"{_date(h.on)}，{h.what}；效果：{h.effect or gap('效果')}" for h in facts.help]
    if facts.outcome:
        lines.append(f"结案回访：{facts.outcome}")
    helped = "\n".join(lines) if lines else gap("已提供的帮助及效果")
    plan = "\n".join(facts.next_steps) if facts.next_steps else gap("下一步计划")
    handled = Section("三、办理情况", [
        _item("1. 已提供的帮助及效果", helped),
        _item("2. 下一步计划", plan),
        _item("3. 意见建议", gap("意见建议")),
    ])
    return [basic, verified, handled]


def title(facts: ReportFacts) -> str:
    return f"关于{facts.source}事项（{facts.number}）办理情况的报告"
