"""Risk screening (000 报/看): which indicator groups a case shows and what level follows.

The groups mirror the commented sections of the contract's vocabulary.yaml. What each group
triggers (who is told at once, return visits) is decided by routing; this module only says
what the case *is*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from models.domain.vocabulary import vocabulary


class RiskGroup(StrEnum):
    LIFE_THREATENING = "life_threatening"
    CRIME_LEAD = "crime_lead"
    PUBLIC_OPINION = "public_opinion"
    HIGH_RISK_FAMILY = "high_risk_family"
    FOCUS_GROUP = "focus_group"


INDICATOR_GROUPS: dict[str, RiskGroup] = {
    "severe_violence_injury": RiskGroup.LIFE_THREATENING,
    "threat_to_kill": RiskGroup.LIFE_THREATENING,
    "strangulation_or_weapon": RiskGroup.LIFE_THREATENING,
    "persistent_child_beating": RiskGroup.LIFE_THREATENING,
    "dependent_unattended": RiskGroup.LIFE_THREATENING,
    "suicide_or_revenge_threat": RiskGroup.LIFE_THREATENING,
    "suspected_dv": RiskGroup.CRIME_LEAD,
    "suspected_sexual_assault": RiskGroup.CRIME_LEAD,
    "suspected_trafficking": RiskGroup.CRIME_LEAD,
    "suspected_abandonment": RiskGroup.CRIME_LEAD,
    # A respondent who breaks a court's protection order commits an offence (拒不执行裁定):
    # a crime lead, reported at once like the others (police first).
    "protection_order_breach": RiskGroup.CRIME_LEAD,
    "media_present": RiskGroup.PUBLIC_OPINION,
    "recording_refused_stop": RiskGroup.PUBLIC_OPINION,
    "group_inquiry": RiskGroup.PUBLIC_OPINION,
    "online_exposure_threat": RiskGroup.PUBLIC_OPINION,
    "collective_petition_brewing": RiskGroup.PUBLIC_OPINION,
    "family_conflict_record": RiskGroup.HIGH_RISK_FAMILY,
    "addiction": RiskGroup.HIGH_RISK_FAMILY,
    "cult": RiskGroup.HIGH_RISK_FAMILY,
    "child_unsupervised": RiskGroup.HIGH_RISK_FAMILY,
    "girl_out_of_school": RiskGroup.HIGH_RISK_FAMILY,
    "police_criminal_case": RiskGroup.HIGH_RISK_FAMILY,
    "left_behind_or_migrant": RiskGroup.FOCUS_GROUP,
    "hardship": RiskGroup.FOCUS_GROUP,
    "illness_disability": RiskGroup.FOCUS_GROUP,
}

# Categories that are crimes in themselves (000: DV, sexual assault, trafficking, abandonment).
CRIME_CATEGORIES = frozenset(
    {"domestic_violence", "child_abuse", "sexual_assault", "trafficking", "abandonment"}
)


class RiskLevel(StrEnum):
    CRITICAL = "critical"  # a life is at risk: tell the police and the upper level at once
    HIGH = "high"  # crime lead or high-risk family: police/upper level, frequent return visits
    ELEVATED = "elevated"  # stability signal or unresolved mediation: upper level
    FOCUS = "focus"  # focus group: regular visits
    NONE = "none"


@dataclass(frozen=True)
class RiskAssessment:
    level: RiskLevel
    groups: frozenset[RiskGroup]
    reason: str


def assess_risk(
    *, category: str, risk_indicators: Iterable[str], mediation_attempts: int
) -> RiskAssessment:
    indicators = list(risk_indicators)
    groups = frozenset(INDICATOR_GROUPS[code] for code in indicators if code in INDICATOR_GROUPS)
    reasons: list[str] = []
    if RiskGroup.LIFE_THREATENING in groups:
        level = RiskLevel.CRITICAL
        reasons.append("危及生命安全的情形：" + _codes_in(indicators, RiskGroup.LIFE_THREATENING))
    elif groups & {RiskGroup.CRIME_LEAD, RiskGroup.HIGH_RISK_FAMILY}:
        level = RiskLevel.HIGH
        reasons.append(
            "违法犯罪线索或高风险家庭标志："
            + _codes_in(indicators, RiskGroup.CRIME_LEAD, RiskGroup.HIGH_RISK_FAMILY)
        )
    elif category in CRIME_CATEGORIES:
        level = RiskLevel.HIGH
        reasons.append(f"问题类别“{vocabulary().label('categories', category)}”属违法犯罪线索")
    elif RiskGroup.PUBLIC_OPINION in groups or mediation_attempts >= 2:
        level = RiskLevel.ELEVATED
        if RiskGroup.PUBLIC_OPINION in groups:
            reasons.append("舆情、稳定信号：" + _codes_in(indicators, RiskGroup.PUBLIC_OPINION))
        if mediation_attempts >= 2:
            reasons.append(f"已调解{mediation_attempts}次仍未解决")
    elif RiskGroup.FOCUS_GROUP in groups:
        level = RiskLevel.FOCUS
        reasons.append("重点关注群体：" + _codes_in(indicators, RiskGroup.FOCUS_GROUP))
    else:
        level = RiskLevel.NONE
        reasons.append("未见风险指标")
    return RiskAssessment(level=level, groups=groups, reason="；".join(reasons))


def _codes_in(indicators: list[str], *wanted: RiskGroup) -> str:
    """The indicators of these groups as people read them (the reason is shown and mailed)."""
    voc = vocabulary()
    return "；".join(voc.label("risk_indicators", code) for code in indicators
                    if INDICATOR_GROUPS.get(code) in wanted)
