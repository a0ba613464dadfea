"""Proposing a response tier (004) when the sender gave none, with the reason in words.

The rules are a table read top to bottom; the first that matches decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from models.domain.deadlines import Tier
from models.domain.risk import RiskGroup, assess_risk

# Matters that are usually answered on the spot: a question about a policy or a service.
CONSULTATION_CATEGORIES = frozenset({"legal_aid", "entrepreneurship", "parenting"})


@dataclass(frozen=True)
class TierFacts:
    category: str
    channel: str
    risk_indicators: tuple[str, ...]
    mediation_attempts: int


@dataclass(frozen=True)
class TierRule:
    tier: Tier
    reason: str
    applies: Callable[[TierFacts], bool]


def _groups(facts: TierFacts) -> frozenset[RiskGroup]:
    return assess_risk(
        category=facts.category,
        risk_indicators=facts.risk_indicators,
        mediation_attempts=facts.mediation_attempts,
    ).groups


TIER_RULES: tuple[TierRule, ...] = (
    TierRule(
        Tier.DIFFICULT,
        "已调解两次以上仍未解决，本级无法解决，须转报上级妇联（疑难个案）",
        lambda f: f.mediation_attempts >= 2,
    ),
    TierRule(
        Tier.COMPLEX,
        "涉及危及生命安全或违法犯罪线索，须多部门调查处理（复杂个案，1个月内答复）",
        lambda f: bool(_groups(f) & {RiskGroup.LIFE_THREATENING, RiskGroup.CRIME_LEAD}),
    ),
    TierRule(
        Tier.COMPLEX,
        "上级交办或舆情事项，须核实并形成情况报告（复杂个案，1个月内答复）",
        lambda f: f.channel in {"assigned", "media"} or RiskGroup.PUBLIC_OPINION in _groups(f),
    ),
    TierRule(
        Tier.SIMPLE,
        "政策、法律咨询类诉求，无风险指标，可即时答复（简单个案）",
        lambda f: f.category in CONSULTATION_CATEGORIES and not f.risk_indicators,
    ),
)
DEFAULT_RULE = TierRule(Tier.ORDINARY, "一般诉求，7个工作日内答复（一般个案）", lambda f: True)


def propose_tier(
    *, category: str, channel: str, risk_indicators: Iterable[str], mediation_attempts: int
) -> tuple[Tier, str]:
    facts = TierFacts(category, channel, tuple(risk_indicators), mediation_attempts)
    rule = next((r for r in TIER_RULES if r.applies(facts)), DEFAULT_RULE)
    return rule.tier, "系统建议：" + rule.reason


