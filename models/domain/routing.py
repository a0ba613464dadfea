"""Who must be told at once (000 报, Q&A 3), and where in the registry each of them is found.

The rules are the ROUTES table below, one row per "tell this role, because": read it top to
bottom. The code around it only computes the triggers from the case facts, walks the
jurisdiction tree (附表1: the nearest level above that has the role serves, domain.md §5) and
merges the rows into one notice per contact. A required role that nobody holds anywhere up
the tree is never dropped silently: it comes back in `RoutingPlan.missing` for the intake to
show and the operator to be alerted about.

Pure: the registry is passed in as a lookup; no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from models.domain.jurisdiction import Level, ancestry, level_of, normalize_code, parent_of
from models.domain.risk import INDICATOR_GROUPS, RiskGroup
from models.domain.vocabulary import vocabulary


class Trigger(StrEnum):
    """Why a case must be reported at once, most urgent first (this order ranks reasons)."""

    LIFE_THREATENING = "life_threatening"
    CRIME_LEAD = "crime_lead"
    CHILD_ABUSE_URGENT = "child_abuse_urgent"
    CHILD_ABUSE = "child_abuse"
    # Raised by the routing itself when the case's own level has no child-welfare person.
    CHILD_ABUSE_NO_MECHANISM = "child_abuse_no_mechanism"
    UNRESOLVED = "unresolved"
    PUBLIC_OPINION = "public_opinion"


TRIGGER_RANK = {trigger: rank for rank, trigger in enumerate(Trigger)}

# 000 lists DV, sexual assault, trafficking and abandonment as crime leads in themselves.
# Child abuse is deliberately not here (unlike risk.CRIME_CATEGORIES): Q&A 3 gives it its own
# by-level route and brings the police in only when it is urgent or serious.
CRIME_LEAD_CATEGORIES = frozenset({"domestic_violence", "sexual_assault", "trafficking",
                                   "abandonment"})

# 000 Q&A 3: the child-welfare mechanism by level. Above the township the seeds name nobody,
# so a county or city case has "no mechanism" and takes the fallback rows.
CHILD_WELFARE_BY_LEVEL = "child_welfare_by_level"  # placeholder role in ROUTES
CHILD_WELFARE_ROLE = {Level.VILLAGE: "child_welfare_director",
                      Level.TOWNSHIP: "child_welfare_supervisor"}

UNRESOLVED_AFTER_MEDIATIONS = 2  # 000: 两次调解都没有解决 → 上级妇联 or 12338


@dataclass(frozen=True)
class Route:
    """Tell `role` when `trigger` holds.

    start: "own" begins the search at the case's jurisdiction, "upper" at its parent (上级妇联).
    walk_up: False means that level exactly: the child-welfare person belongs to the case's
      own village or township, a supervisor further up is not "the mechanism" there.
    fallback_role: "X or Y": tried from the case's own level, walking up, when nobody holds
      `role` (12338 lines are per county, 003).
    on_absent: when nobody is found, raise this trigger instead of reporting a missing role.
    required: False for "may be told as well": finding nobody is not an alert.
    call_110: the cadre must phone 110 now, whether or not a station is registered.
    """

    trigger: Trigger
    role: str
    purpose: str
    start: Literal["own", "upper"] = "own"
    walk_up: bool = True
    fallback_role: str | None = None
    on_absent: Trigger | None = None
    required: bool = True
    call_110: bool = False


T = Trigger
UPPER, OR_12338 = "upper", "hotline_12338"  # short names keep each row on one line

ROUTES: tuple[Route, ...] = (
    # 危及生命安全: police/110 first, then the upper federation AND 12338, then the local leaders.
    Route(T.LIFE_THREATENING, "police_station", "危及生命安全：立即报告派出所，并拨打110", call_110=True),
    Route(T.LIFE_THREATENING, "federation_chair", "危及生命安全：第一时间报告上级妇联", start=UPPER),
    Route(T.LIFE_THREATENING, "hotline_12338", "危及生命安全：第一时间报告12338热线"),
    Route(T.LIFE_THREATENING, "party_secretary", "危及生命安全：第一时间报告书记"),
    Route(T.LIFE_THREATENING, "director", "危及生命安全：第一时间报告主任"),
    # 违法犯罪线索: police first, and the upper federation or 12338.
    Route(T.CRIME_LEAD, "police_station", "违法犯罪线索：第一时间报告派出所"),
    Route(T.CRIME_LEAD, "federation_chair", "违法犯罪线索：报告上级妇联或12338",
          start=UPPER, fallback_role=OR_12338),
    # 儿童受虐 (Q&A 3): the case level's own child-welfare person; police too if urgent/serious.
    Route(T.CHILD_ABUSE_URGENT, "police_station", "儿童受虐且紧急严重：立即报警"),
    Route(T.CHILD_ABUSE, CHILD_WELFARE_BY_LEVEL, "儿童受虐：报告本级儿童福利主任/督导员",
          walk_up=False, on_absent=T.CHILD_ABUSE_NO_MECHANISM),
    # ...where that mechanism is not built: secretary/director and upper federation or 12338.
    Route(T.CHILD_ABUSE_NO_MECHANISM, "party_secretary", "儿童受虐（本级未建儿童福利机制）：报告书记"),
    Route(T.CHILD_ABUSE_NO_MECHANISM, "director", "儿童受虐（本级未建儿童福利机制）：报告主任"),
    Route(T.CHILD_ABUSE_NO_MECHANISM, "federation_chair",
          "儿童受虐（本级未建儿童福利机制）：报告上级妇联或12338", start=UPPER, fallback_role=OR_12338),
    Route(T.CHILD_ABUSE_NO_MECHANISM, "child_welfare_supervisor",
          "儿童受虐（本级未建儿童福利机制）：可同时告知上级儿童福利督导员", start=UPPER,
          required=False),
    # 本级无法解决 (e.g. two failed mediations): the upper federation or 12338.
    Route(T.UNRESOLVED, "federation_chair", "本级无法解决（如两次调解未果）：报告上级妇联或12338",
          start=UPPER, fallback_role=OR_12338),
    # 舆情、稳定信号: the local leaders and the upper federation; not the police.
    Route(T.PUBLIC_OPINION, "party_secretary", "舆情、稳定信号：报告书记"),
    Route(T.PUBLIC_OPINION, "director", "舆情、稳定信号：报告主任"),
    Route(T.PUBLIC_OPINION, "federation_chair", "舆情、稳定信号：报告上级妇联", start=UPPER),
)

# Notices are listed in the order they should be acted on (000: police first).
ROLE_ORDER = ("police_station", "federation_chair", "hotline_12338", "party_secretary",
              "director", "child_welfare_director", "child_welfare_supervisor")


@dataclass(frozen=True)
class ContactRef:
    contact_id: int
    role: str
    jurisdiction_code: str
    name: str
    email: str


class Registry(Protocol):
    def contacts_at(self, code: str, role: str) -> Sequence[ContactRef]:
        """The contacts holding `role` registered at exactly `code` (no walking up)."""
        ...


class DictRegistry:
    """An in-memory Registry; the service layer fills it from the contacts table."""

    def __init__(self, contacts: Iterable[ContactRef]) -> None:
        self._index: dict[tuple[str, str], list[ContactRef]] = {}
        for contact in contacts:
            key = (normalize_code(contact.jurisdiction_code), contact.role)
            self._index.setdefault(key, []).append(contact)

    def contacts_at(self, code: str, role: str) -> Sequence[ContactRef]:
        return tuple(self._index.get((normalize_code(code), role), ()))


@dataclass(frozen=True)
class RoutedNotice:
    role: str
    jurisdiction_code: str  # where the contact was found, not the case's own level
    contact_id: int
    name: str
    email: str
    reasons: tuple[str, ...]  # most urgent first
    triggers: tuple[str, ...]


@dataclass(frozen=True)
class MissingRole:
    role: str
    searched_from: str
    trigger: str
    reason: str
    fallback_role: str | None = None


@dataclass(frozen=True)
class RoutingPlan:
    triggers: tuple[str, ...]
    notices: tuple[RoutedNotice, ...]
    missing: tuple[MissingRole, ...]
    call_110: bool


def case_triggers(
    *, category: str, risk_indicators: Iterable[str], mediation_attempts: int,
    local_cannot_resolve: bool = False,
) -> tuple[Trigger, ...]:
    indicators = set(risk_indicators)
    groups = {INDICATOR_GROUPS[code] for code in indicators if code in INDICATOR_GROUPS}
    found: set[Trigger] = set()
    if RiskGroup.LIFE_THREATENING in groups:
        found.add(T.LIFE_THREATENING)
    if RiskGroup.CRIME_LEAD in groups or category in CRIME_LEAD_CATEGORIES:
        found.add(T.CRIME_LEAD)
    if category == "child_abuse" or "persistent_child_beating" in indicators:
        found.add(T.CHILD_ABUSE)
        # "Urgent and serious": the case also shows what would bring the police anyway
        # (life-threatening, which includes persistent_child_beating, or a crime lead).
        if groups & {RiskGroup.LIFE_THREATENING, RiskGroup.CRIME_LEAD}:
            found.add(T.CHILD_ABUSE_URGENT)
    if mediation_attempts >= UNRESOLVED_AFTER_MEDIATIONS or local_cannot_resolve:
        found.add(T.UNRESOLVED)
    if RiskGroup.PUBLIC_OPINION in groups:
        found.add(T.PUBLIC_OPINION)
    return tuple(sorted(found, key=TRIGGER_RANK.__getitem__))


def route_case(
    *, jurisdiction_code: str, category: str, risk_indicators: Sequence[str],
    mediation_attempts: int, local_cannot_resolve: bool = False, registry: Registry,
    only: Iterable[Trigger] | None = None,
) -> RoutingPlan:
    """`only`: report for these triggers alone, whatever else the case shows — a new fact on a
    case already reported (two failed mediations) goes up by its own rows, without repeating
    the intake's report."""
    own = normalize_code(jurisdiction_code)
    triggers = set(only) if only is not None else set(case_triggers(
        category=category, risk_indicators=risk_indicators,
        mediation_attempts=mediation_attempts, local_cannot_resolve=local_cannot_resolve))
    reached: list[tuple[Route, str, ContactRef]] = []
    missing: list[MissingRole] = []
    # One pass in table order: an on_absent trigger is raised before its own rows are read.
    for route in ROUTES:
        if route.trigger not in triggers:
            continue
        found = _find(route, own=own, registry=registry)
        if found:
            reached.extend((route, code, contact) for code, contact in found)
        elif route.on_absent is not None:
            triggers.add(route.on_absent)
        elif route.required:
            missing.append(_missing(route, own=own))
    return RoutingPlan(
        triggers=tuple(sorted(triggers, key=TRIGGER_RANK.__getitem__)),
        notices=_merge(reached, own=own),
        missing=tuple(missing),
        call_110=any(r.call_110 for r in ROUTES if r.trigger in triggers),
    )


def _role_at(route: Route, own: str) -> str | None:
    if route.role == CHILD_WELFARE_BY_LEVEL:
        return CHILD_WELFARE_ROLE.get(level_of(own))
    return route.role


def _start(route: Route, own: str) -> str | None:
    return own if route.start == "own" else parent_of(own)


def _find(route: Route, *, own: str, registry: Registry) -> list[tuple[str, ContactRef]]:
    role, start = _role_at(route, own), _start(route, own)
    if role is None or start is None:
        return []
    found = _nearest(registry, role=role, codes=ancestry(start) if route.walk_up else [start])
    if not found and route.fallback_role is not None:
        found = _nearest(registry, role=route.fallback_role, codes=ancestry(own))
    return found


def _nearest(registry: Registry, *, role: str, codes: list[str]) -> list[tuple[str, ContactRef]]:
    """Every holder of `role` at the first level (nearest first) that has one."""
    for code in codes:
        if contacts := registry.contacts_at(code, role):
            return [(code, contact) for contact in contacts]
    return []


def nearest_holders(registry: Registry, *, role: str, jurisdiction_code: str) -> list[ContactRef]:
    """Every holder of `role` at `jurisdiction_code` or, if none, the nearest level above."""
    codes = ancestry(normalize_code(jurisdiction_code))
    return [contact for _, contact in _nearest(registry, role=role, codes=codes)]


def _missing(route: Route, *, own: str) -> MissingRole:
    role = _role_at(route, own) or route.role
    start = _start(route, own)
    label = vocabulary().label("contact_roles", role)
    if start is None:
        zh, en = f"{own}没有上级，无{label}可报", f"no level above {own} to find a {role}"
    else:
        scope_zh, scope_en = (f"{start}及以上各级", "or any level above") if route.walk_up \
            else (f"{start}", "(that level only)")
        zh, en = f"{scope_zh}均未登记{label}", f"no {role} at {start} {scope_en}"
    if route.fallback_role is not None:
        zh += f"，{own}及以上各级也未登记{vocabulary().label('contact_roles', route.fallback_role)}"
        en += f", nor {route.fallback_role} at {own} or any level above"
    return MissingRole(role=role, searched_from=start or own, trigger=route.trigger.value,
                       reason=f"{zh}（{en}）", fallback_role=route.fallback_role)


def _merge(reached: list[tuple[Route, str, ContactRef]], *, own: str) -> tuple[RoutedNotice, ...]:
    """One notice per contact; its reasons ranked by trigger urgency, then table order."""
    by_contact: dict[int, list[tuple[Route, str, ContactRef]]] = {}
    for item in reached:
        by_contact.setdefault(item[2].contact_id, []).append(item)
    notices = [_notice(items) for items in by_contact.values()]
    return tuple(sorted(notices, key=_notice_order))


def _notice(items: list[tuple[Route, str, ContactRef]]) -> RoutedNotice:
    items = sorted(items, key=lambda item: (TRIGGER_RANK[item[0].trigger], ROUTES.index(item[0])))
    _, code, contact = items[0]
    return RoutedNotice(
        role=contact.role, jurisdiction_code=code, contact_id=contact.contact_id,
        name=contact.name, email=contact.email,
        reasons=tuple(dict.fromkeys(route.purpose for route, _, _ in items)),
        triggers=tuple(dict.fromkeys(route.trigger.value for route, _, _ in items)),
    )


def _notice_order(notice: RoutedNotice) -> tuple[int, int, int]:
    rank = ROLE_ORDER.index(notice.role) if notice.role in ROLE_ORDER else len(ROLE_ORDER)
    # Nearer levels first within a role: a longer code is a lower level.
    return rank, -len(notice.jurisdiction_code), notice.contact_id
