"""Who may see what (domain.md §10). Pure: no database, no web framework.

A user has a role and a jurisdiction, and sees that jurisdiction's subtree — a village cadre
her village, a township supervisor the township and its villages, a county supervisor the
county. Nobody sees a case outside her subtree. Names, phones and addresses are for the
people who act on a case (cadres and supervisors); operators and admins watch counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.domain.errors import InputError, parse_choice
from models.domain.jurisdiction import is_within, normalize_code


class Role(StrEnum):
    CADRE = "cadre"  # 村/社区、乡镇妇联干部: acts on cases, records visits
    SUPERVISOR = "supervisor"  # 乡镇/县妇联: reviews the levels below
    OPERATOR = "operator"  # runs the system: flow health and counts only
    ADMIN = "admin"  # manages users: counts only, no case data


ROLE_LABELS = {
    Role.CADRE: "妇联干部",
    Role.SUPERVISOR: "督办（上级妇联）",
    Role.OPERATOR: "运维",
    Role.ADMIN: "管理员",
}

# Roles that act on cases: they open case pages and see the parties' personal data.
CASEWORK_ROLES = frozenset({Role.CADRE, Role.SUPERVISOR})


@dataclass(frozen=True)
class Principal:
    """The signed-in user as access rules see her."""

    username: str
    role: Role
    jurisdiction_code: str

    @classmethod
    def of(cls, *, username: str, role: str, jurisdiction_code: str) -> Principal:
        return cls(username=username, role=parse_role(role),
                   jurisdiction_code=_code(jurisdiction_code))


def parse_role(value: str) -> Role:
    return Role(parse_choice(value, field="role", what="role", choices=(r.value for r in Role)))


def _code(value: str) -> str:
    return normalize_code(value, field="jurisdiction")


def within_scope(principal: Principal, jurisdiction_code: str) -> bool:
    """Is this node in her subtree? Malformed codes are outside everything."""
    try:
        return is_within(jurisdiction_code, under=principal.jurisdiction_code)
    except InputError:
        return False


def can_open_case(principal: Principal, *, case_jurisdiction: str) -> bool:
    """Case pages (timeline, parties, visit form) are for the people who act on cases, in
    their own subtree. The web answers 404 outside the subtree, so a case's existence is not
    revealed either."""
    return principal.role in CASEWORK_ROLES and within_scope(principal, case_jurisdiction)


def can_see_case_rows(principal: Principal) -> bool:
    """Board rows name cases; operators and admins see the rolled-up counts only."""
    return principal.role in CASEWORK_ROLES


def can_take_in(principal: Principal, *, jurisdiction_code: str) -> bool:
    """The intake form stores personal data: casework roles, inside their subtree."""
    return principal.role in CASEWORK_ROLES and within_scope(principal, jurisdiction_code)


def can_manage_users(principal: Principal) -> bool:
    return principal.role == Role.ADMIN
