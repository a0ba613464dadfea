"""Who is told at once (000 报, Q&A 3), on a registry with gaps, asserting exact recipients.

The tree (a test registry of its own; the demo one has no gaps where these tests need them):

  99 province ............................ nobody
  9901 city .............................. federation chair, 12338 line
    990101 county A ...................... federation chair, police; NO 12338 line
      990101001 township T1 .............. secretary, director, chair, child-welfare
                                           supervisor; NO police
        990101001001 village V1 .......... secretary, director, chair, child-welfare director
        990101001002 village V2 .......... secretary, chair; NO director, NO child-welfare director
      990101002 township T2 .............. secretary, director, chair, police; NO supervisor
        990101002001 village V3 .......... secretary, director; NO child-welfare director
  9902 city .............................. nobody
    990201 county B ...................... 12338 line only
      990201001 township T3 .............. secretary, director
        990201001001 village V4 .......... secretary, director
  (police and federation chairs exist nowhere above V4)
"""

from __future__ import annotations

import pytest

from models.domain.routing import (
    CHILD_WELFARE_BY_LEVEL,
    ROUTES,
    ContactRef,
    DictRegistry,
    Trigger,
    case_triggers,
    route_case,
)
from models.domain.vocabulary import vocabulary

V1, V2, V3, V4 = "990101001001", "990101001002", "990101002001", "990201001001"
T1, T2, T3 = "990101001", "990101002", "990201001"
COUNTY_A, COUNTY_B, CITY = "990101", "990201", "9901"

ROWS = [
    (CITY, "federation_chair", "chair.city"),
    (CITY, "hotline_12338", "12338.city"),
    (COUNTY_A, "federation_chair", "chair.county-a"),
    (COUNTY_A, "police_station", "police.county-a"),
    (T1, "party_secretary", "secretary.t1"),
    (T1, "director", "director.t1"),
    (T1, "federation_chair", "chair.t1"),
    (T1, "child_welfare_supervisor", "supervisor.t1"),
    (V1, "party_secretary", "secretary.v1"),
    (V1, "director", "director.v1"),
    (V1, "federation_chair", "chair.v1"),
    (V1, "child_welfare_director", "cwdirector.v1"),
    (V2, "party_secretary", "secretary.v2"),
    (V2, "federation_chair", "chair.v2"),
    (T2, "party_secretary", "secretary.t2"),
    (T2, "director", "director.t2"),
    (T2, "federation_chair", "chair.t2"),
    (T2, "police_station", "police.t2"),
    (V3, "party_secretary", "secretary.v3"),
    (V3, "director", "director.v3"),
    (COUNTY_B, "hotline_12338", "12338.county-b"),
    (T3, "party_secretary", "secretary.t3"),
    (T3, "director", "director.t3"),
    (V4, "party_secretary", "secretary.v4"),
    (V4, "director", "director.v4"),
]
REGISTRY = DictRegistry(
    ContactRef(contact_id=i, role=role, jurisdiction_code=code, name=email,
               email=f"{email}@example.org")
    for i, (code, role, email) in enumerate(ROWS, start=1)
)


def plan(code: str, category: str = "other", *indicators: str, mediations: int = 0,
         cannot_resolve: bool = False):
    return route_case(jurisdiction_code=code, category=category, risk_indicators=list(indicators),
                      mediation_attempts=mediations, local_cannot_resolve=cannot_resolve,
                      registry=REGISTRY)


def recipients(result) -> list[tuple[str, str, str]]:
    """(role, where found, email) in notice order; emails without the common domain."""
    return [(n.role, n.jurisdiction_code, n.email.removesuffix("@example.org"))
            for n in result.notices]


LIFE = [("police_station", COUNTY_A, "police.county-a"),   # T1 has none: walked up
        ("federation_chair", T1, "chair.t1"),
        ("hotline_12338", CITY, "12338.city"),              # county A has none: walked up
        ("party_secretary", V1, "secretary.v1"),
        ("director", V1, "director.v1")]


@pytest.mark.parametrize(("result", "expected"), [
    pytest.param(plan(V1, "marriage_family", "threat_to_kill"), LIFE, id="life-threatening"),
    pytest.param(plan(V1, "domestic_violence"),
                 [("police_station", COUNTY_A, "police.county-a"),
                  ("federation_chair", T1, "chair.t1")],
                 id="crime-lead-dv-category-alone"),
    pytest.param(plan(V3, "other", "suspected_trafficking"),
                 [("police_station", T2, "police.t2"), ("federation_chair", T2, "chair.t2")],
                 id="crime-lead-indicator-police-at-township"),
    pytest.param(plan(V1, "child_abuse"),
                 [("child_welfare_director", V1, "cwdirector.v1")],
                 id="child-abuse-village-with-director"),
    pytest.param(plan(V2, "child_abuse"),
                 [("federation_chair", T1, "chair.t1"),
                  ("party_secretary", V2, "secretary.v2"),
                  ("director", T1, "director.t1"),              # V2 has no director: walked up
                  ("child_welfare_supervisor", T1, "supervisor.t1")],
                 id="child-abuse-village-without-director-falls-back"),
    pytest.param(plan("990101001000", "child_abuse"),           # a 12-digit township code
                 [("child_welfare_supervisor", T1, "supervisor.t1")],
                 id="child-abuse-township-with-supervisor"),
    pytest.param(plan(T2, "child_abuse"),
                 [("federation_chair", COUNTY_A, "chair.county-a"),
                  ("party_secretary", T2, "secretary.t2"),
                  ("director", T2, "director.t2")],
                 id="child-abuse-township-without-supervisor-none-above-either"),
    pytest.param(plan(V1, "child_abuse", "persistent_child_beating"),
                 [*LIFE, ("child_welfare_director", V1, "cwdirector.v1")],
                 id="child-abuse-urgent-beating-police-too"),
    pytest.param(plan(V1, "child_abuse", "suspected_sexual_assault"),
                 [("police_station", COUNTY_A, "police.county-a"),
                  ("federation_chair", T1, "chair.t1"),
                  ("child_welfare_director", V1, "cwdirector.v1")],
                 id="child-abuse-serious-crime-lead-police-too"),
    pytest.param(plan(V1, "marriage_family", mediations=2),
                 [("federation_chair", T1, "chair.t1")],
                 id="two-failed-mediations"),
    pytest.param(plan(T1, "land_rights", cannot_resolve=True),
                 [("federation_chair", COUNTY_A, "chair.county-a")],
                 id="local-cannot-resolve-flag-township-goes-to-county"),
    pytest.param(plan(V1, "land_rights", "media_present", "online_exposure_threat"),
                 [("federation_chair", T1, "chair.t1"),
                  ("party_secretary", V1, "secretary.v1"),
                  ("director", V1, "director.v1")],
                 id="public-opinion-no-police"),
    pytest.param(plan(V4, "marriage_family", mediations=3),
                 [("hotline_12338", COUNTY_B, "12338.county-b")],
                 id="12338-when-no-upper-federation-chair"),
    pytest.param(plan(V1, "land_rights"), [], id="ordinary-land-rights-nobody"),
    pytest.param(plan(V1, "hardship", "left_behind_or_migrant", "addiction", mediations=1), [],
                 id="focus-and-high-risk-markers-one-mediation-nobody-at-once"),
])
def test_exact_recipients(result, expected):
    assert recipients(result) == expected
    assert result.missing == ()


@pytest.mark.parametrize(("result", "call_110"), [
    pytest.param(plan(V1, "marriage_family", "threat_to_kill"), True, id="life-threatening"),
    pytest.param(plan(V4, "marriage_family", "strangulation_or_weapon"), True,
                 id="life-threatening-even-without-a-station"),
    pytest.param(plan(V1, "domestic_violence"), False, id="crime-lead"),
    pytest.param(plan(V1, "land_rights", "media_present"), False, id="public-opinion"),
])
def test_call_110_only_when_life_is_at_risk(result, call_110):
    assert result.call_110 is call_110


def test_contact_reached_by_several_rules_is_told_once_most_urgent_reason_first():
    result = plan(V1, "domestic_violence", "threat_to_kill", "media_present", mediations=2)
    ids = [n.contact_id for n in result.notices]
    assert len(ids) == len(set(ids))
    assert recipients(result) == LIFE
    chair = result.notices[1]
    assert chair.triggers == ("life_threatening", "crime_lead", "unresolved", "public_opinion")
    assert chair.reasons[0] == "危及生命安全：第一时间报告上级妇联"
    assert len(chair.reasons) == 4
    police = result.notices[0]
    assert police.triggers == ("life_threatening", "crime_lead")
    assert police.reasons[0].endswith("并拨打110")


@pytest.mark.parametrize(("result", "expected_notices", "expected_missing"), [
    pytest.param(plan(V4, "marriage_family", "threat_to_kill"),
                 [("hotline_12338", COUNTY_B, "12338.county-b"),
                  ("party_secretary", V4, "secretary.v4"), ("director", V4, "director.v4")],
                 [("police_station", V4, "life_threatening"),
                  ("federation_chair", T3, "life_threatening")],
                 id="life-threatening-police-and-chair-nowhere"),
    pytest.param(plan(V4, "domestic_violence"),
                 [("hotline_12338", COUNTY_B, "12338.county-b")],
                 [("police_station", V4, "crime_lead")],
                 id="crime-lead-police-nowhere-chair-falls-back-to-12338"),
    pytest.param(plan(V4, "land_rights", "group_inquiry"),
                 [("party_secretary", V4, "secretary.v4"), ("director", V4, "director.v4")],
                 [("federation_chair", T3, "public_opinion")],
                 id="public-opinion-chair-nowhere-no-12338-substitute"),
])
def test_missing_role_is_reported_not_silent(result, expected_notices, expected_missing):
    assert recipients(result) == expected_notices
    assert [(m.role, m.searched_from, m.trigger) for m in result.missing] == expected_missing


def test_missing_reason_says_where_it_looked_in_both_languages():
    police = plan(V4, "domestic_violence").missing[0]
    assert police.reason == ("990201001001及以上各级均未登记公安派出所"
                             "（no police_station at 990201001001 or any level above）")


def test_missing_reason_names_the_alternative_too():
    registry = DictRegistry([ContactRef(1, "party_secretary", V4, "书记", "s@example.org")])
    result = route_case(jurisdiction_code=V4, category="marriage_family", risk_indicators=[],
                        mediation_attempts=2, registry=registry)
    (missing,) = result.missing
    assert (missing.role, missing.fallback_role, missing.searched_from) == (
        "federation_chair", "hotline_12338", T3)
    assert "nor hotline_12338 at 990201001001 or any level above" in missing.reason
    assert "12338妇女维权热线" in missing.reason


def test_all_holders_at_the_nearest_level_are_told_none_further_up():
    registry = DictRegistry([
        ContactRef(1, "police_station", T1, "东湖派出所", "a@example.org"),
        ContactRef(2, "police_station", T1, "东湖派出所二中队", "b@example.org"),
        ContactRef(3, "police_station", COUNTY_A, "县公安局", "c@example.org"),
        ContactRef(4, "federation_chair", T1, "镇妇联", "d@example.org"),
    ])
    result = route_case(jurisdiction_code=V1, category="trafficking", risk_indicators=[],
                        mediation_attempts=0, registry=registry)
    told = [(n.contact_id, n.jurisdiction_code) for n in result.notices]
    assert told == [(1, T1), (2, T1), (4, T1)]


def test_upper_federation_of_a_province_case_is_reported_missing():
    result = route_case(jurisdiction_code="99", category="other", risk_indicators=[],
                        mediation_attempts=0, local_cannot_resolve=True, registry=REGISTRY)
    (missing,) = result.missing
    assert missing.searched_from == "99"
    assert "no level above 99" in missing.reason


@pytest.mark.parametrize(("category", "indicators", "mediations", "flag", "expected"), [
    pytest.param("land_rights", [], 0, False, (), id="none"),
    pytest.param("domestic_violence", [], 0, False, ("crime_lead",), id="dv-category"),
    pytest.param("child_abuse", [], 0, False, ("child_abuse",),
                 id="child-abuse-not-a-crime-lead-alone"),
    pytest.param("other", ["persistent_child_beating"], 0, False,
                 ("life_threatening", "child_abuse_urgent", "child_abuse"), id="child-beating"),
    pytest.param("marriage_family", [], 2, False, ("unresolved",), id="two-mediations"),
    pytest.param("marriage_family", [], 1, True, ("unresolved",), id="flag"),
    pytest.param("other", ["collective_petition_brewing", "suspected_abandonment"], 0, False,
                 ("crime_lead", "public_opinion"), id="ordered-by-urgency"),
])
def test_case_triggers(category, indicators, mediations, flag, expected):
    assert case_triggers(category=category, risk_indicators=indicators,
                         mediation_attempts=mediations, local_cannot_resolve=flag) == expected


def test_plan_lists_the_raised_no_mechanism_trigger():
    assert plan(V2, "child_abuse").triggers == ("child_abuse", "child_abuse_no_mechanism")


def test_routes_table_is_coherent():
    roles = vocabulary().codes("contact_roles")
    raised_so_far = {t for t in Trigger if t is not Trigger.CHILD_ABUSE_NO_MECHANISM}
    for route in ROUTES:
        # a trigger raised by on_absent must be raised before its own rows are read
        assert route.trigger in raised_so_far, route
        if route.on_absent is not None:
            raised_so_far.add(route.on_absent)
        assert route.role in roles | {CHILD_WELFARE_BY_LEVEL}, route
        assert route.fallback_role in roles | {None}, route
        assert route.start in {"own", "upper"}, route
        assert route.purpose, route
