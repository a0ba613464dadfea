"""The ledgers (记, 000 工作表格) as rules: which forms exist, their columns in the manual's
words, who may export what, de-identification, and the print layout's arithmetic.

Pure: no database, no file writing, no clock. `models.service.exports` streams the rows and
writes the workbook; the web and the CLI only choose the arguments.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import IntEnum

from models.domain.access import Role
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.domain.jurisdiction import is_within, normalize_code
from models.domain.vocabulary import vocabulary

MIN_EXPORT_PASSWORD_CHARS = 8


class LedgerForm(IntEnum):
    """The manual's five forms (000 工作表格)."""

    CONTACTS = 1  # 附表1 重要部门和重要联系人
    HELPERS = 2  # 附表2 协助维权工作的人员情况记录表
    FOCUS_FAMILIES = 3  # 附表3 需要重点关注的家庭及妇女儿童台账
    URGENT = 4  # 附表4 重要、紧急的妇女儿童权益案件和问题
    ASSIGNED = 5  # 附表5 上级妇联交办信访事项、12338热线转介、舆情事件处理情况表


FORM_TITLES = {
    LedgerForm.CONTACTS: "附表1：重要部门和重要联系人",
    LedgerForm.HELPERS: "附表2：协助维权工作的人员情况记录表",
    LedgerForm.FOCUS_FAMILIES: "附表3：需要重点关注的家庭及妇女儿童台账",
    LedgerForm.URGENT: "附表4：重要、紧急的妇女儿童权益案件和问题",
    LedgerForm.ASSIGNED: "附表5：上级妇联交办信访事项、12338热线转介、舆情事件处理情况表",
}

# Forms that carry victims' names, phones and addresses: exported encrypted or de-identified.
# 附表2 lists the helpers (registry contacts, like 附表1) and what they did by case number.
PERSONAL_FORMS = frozenset({LedgerForm.FOCUS_FAMILIES, LedgerForm.URGENT, LedgerForm.ASSIGNED})


def parse_form(value: str | int) -> LedgerForm:
    try:
        return LedgerForm(int(value))
    except (TypeError, ValueError):
        raise InputError(field="form", reason=(
            f"unknown form {value!r} (one of: {', '.join(str(f.value) for f in LedgerForm)})"
        )) from None


# --- who may export ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Requester:
    """Who asks for an export, as the rules see her.

    `scope` is the division-code prefix she may export; None means the whole registry: the
    machine's administrator at the command line (see `app/cli_ledgers.py` for why)."""

    actor: str  # how the audit trail names her
    role: Role
    scope: str | None


@dataclass(frozen=True)
class ExportMode:
    password: str | None = None
    deidentified: bool = False

    @property
    def label(self) -> str:
        return "encrypted" if self.password else "deidentified" if self.deidentified else "plain"


def check_export(requester: Requester, *, form: LedgerForm, under: str, mode: ExportMode) -> str:
    """The subtree code to export, or InputError naming the argument and the reason.

    Supervisors and admins export their own subtree; cadres their own village (her node, not
    a wider one); operators watch counts and get de-identified ledgers only. A form with
    personal data is encrypted with a password or de-identified — never written plain."""
    code = check_statistics(requester, under=under)
    if mode.password is not None and len(mode.password) < MIN_EXPORT_PASSWORD_CHARS:
        raise InputError(field="password", reason=(
            f"needs at least {MIN_EXPORT_PASSWORD_CHARS} characters"))
    if mode.password is not None and mode.deidentified:
        raise InputError(field="deidentified", reason="choose a password or de-identification, not both")
    if form not in PERSONAL_FORMS:
        if mode.deidentified:
            raise InputError(field="deidentified", reason=(
                f"form {form.value} holds no parties' personal data; nothing to de-identify"))
        return code
    if requester.role == Role.OPERATOR and not mode.deidentified:
        raise InputError(field="deidentified", reason=(
            "operators export de-identified ledgers only (no names, phones or addresses)"))
    if mode.password is None and not mode.deidentified:
        raise InputError(field="password", reason=(
            f"form {form.value} holds names, phones and addresses: encrypt it with a password "
            "(--password-stdin) or export it de-identified (--deidentified)"))
    return code


def check_statistics(requester: Requester, *, under: str) -> str:
    """The subtree she may export or count: her own (a cadre: her own village only)."""
    code = parse_under(under)
    if requester.scope is not None and not is_within(code, under=requester.scope):
        raise InputError(field="under", reason=f"{code} is outside your jurisdiction ({requester.scope})")
    if requester.role == Role.CADRE and requester.scope is not None and code != requester.scope:
        raise InputError(field="under", reason=(
            f"a cadre exports her own jurisdiction only ({requester.scope})"))
    return code


def parse_under(value: str) -> str:
    return normalize_code(value, field="under")


# --- periods (Asia/Shanghai calendar days) -----------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Calendar days `first`…`last` inclusive, in Beijing time."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), SHANGHAI)

    @property
    def end(self) -> datetime:
        """The instant after the period: 00:00 of the day after `last`."""
        return datetime.combine(self.last + timedelta(days=1), time(0), SHANGHAI)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def parse_period(*, first: str | None, last: str | None) -> Period | None:
    """Both or neither; `--from` after `--to` is refused, naming the field."""
    if first is None and last is None:
        return None
    if first is None or last is None:
        raise InputError(field="from" if first is None else "to",
                         reason="give --from and --to together")
    start, end = _date(first, field="from"), _date(last, field="to")
    if start > end:
        raise InputError(field="from", reason=f"{start.isoformat()} is after --to {end.isoformat()}")
    return Period(first=start, last=end)


def _date(value: str, *, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(field=field, reason=f"{value!r} is not a date (YYYY-MM-DD)") from None


# --- de-identification -------------------------------------------------------------------------

AGE_BANDS = ((0, 13, "未满14岁"), (14, 17, "14–17岁"), (18, 29, "18–29岁"), (30, 39, "30–39岁"),
             (40, 49, "40–49岁"), (50, 59, "50–59岁"), (60, 200, "60岁及以上"))
UNKNOWN = "不详"
REDACTED = "＊＊"


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return UNKNOWN


def in_words(text: str) -> str:
    """A reason the rules wrote may carry risk-indicator codes; people read their labels."""
    labels = vocabulary().groups["risk_indicators"]
    for code in sorted(labels, key=len, reverse=True):
        text = text.replace(code, labels[code])
    return text


def scrub(text: str, *, secrets: list[str]) -> str:
    """Free text a cadre typed may name the family: every known name, phone and address of
    the case's parties is blanked out (longest first, so an address containing a name goes
    whole)."""
    for secret in sorted({s for s in secrets if s and len(s.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


# --- 附表1: the manual's rows and the registry roles that fill them ----------------------------

@dataclass(frozen=True)
class ContactRow:
    section: str
    label: str
    roles: tuple[str, ...]


LEADERS = "主要领导联系方式"
DEPARTMENTS = "妇女维权有关部门联系方式"
EXPERTS = "志愿者及专家联系方式"

# In the manual's order. Every registry role (vocabulary contact_roles) appears once; the two
# the manual does not list (综治中心, 12338) follow the departments it does.
CONTACT_ROWS: tuple[ContactRow, ...] = (
    ContactRow(LEADERS, "书记", ("party_secretary",)),
    ContactRow(LEADERS, "主任", ("director",)),
    ContactRow(LEADERS, "妇联主席", ("federation_chair",)),
    ContactRow(DEPARTMENTS, "公安", ("police_station",)),
    ContactRow(DEPARTMENTS, "检察院", ("procuratorate",)),
    ContactRow(DEPARTMENTS, "法院", ("court",)),
    ContactRow(DEPARTMENTS, "司法", ("justice", "judicial_assistant")),
    ContactRow(DEPARTMENTS, "民政", ("civil_affairs", "child_welfare_supervisor",
                                    "child_welfare_director")),
    ContactRow(DEPARTMENTS, "教育", ("education",)),
    ContactRow(DEPARTMENTS, "卫生", ("health",)),
    ContactRow(DEPARTMENTS, "就业", ("employment",)),
    ContactRow(DEPARTMENTS, "社保", ("social_security",)),
    ContactRow(DEPARTMENTS, "信访", ("petition_office",)),
    ContactRow(DEPARTMENTS, "工会", ("trade_union",)),
    ContactRow(DEPARTMENTS, "综治中心", ("governance_center",)),
    ContactRow(DEPARTMENTS, "12338热线", ("hotline_12338",)),
    ContactRow(EXPERTS, "律师", ("lawyer", "legal_adviser")),
    ContactRow(EXPERTS, "心理咨询师", ("counsellor",)),
    ContactRow(EXPERTS, "社工", ("social_worker",)),
    ContactRow(EXPERTS, "义工", ("volunteer",)),
    ContactRow(EXPERTS, "人民调解员", ("mediator",)),
)


# --- 附表2: who helps ---------------------------------------------------------------------------

# The registry roles of the people who help (experts and volunteers), whose work 附表2 logs.
HELPER_ROLES = ("lawyer", "legal_adviser", "counsellor", "social_worker", "volunteer", "mediator",
                "judicial_assistant")


# --- 附表4: to whom an at-once report went -----------------------------------------------------

PARTY_AND_GOVERNMENT = "党政领导"
POLICE = "公安机关"
DEPARTMENTS_TOLD = "有关部门"
UPPER_FEDERATION = "上级妇联/12338"
REPORTED_TO = (PARTY_AND_GOVERNMENT, POLICE, DEPARTMENTS_TOLD, UPPER_FEDERATION)


def reported_to(role: str, *, upper: bool) -> str:
    """The manual's four headings for a recipient role; a federation chair above the case's own
    level is the upper federation (one at its own level is the federation itself: 有关部门 is
    not right either, so she counts with the leaders who run the village or township)."""
    if role == "police_station":
        return POLICE
    if role == "hotline_12338" or (role == "federation_chair" and upper):
        return UPPER_FEDERATION
    if role in ("party_secretary", "director", "federation_chair"):
        return PARTY_AND_GOVERNMENT
    return DEPARTMENTS_TOLD


# --- 附表3: how a family was found -----------------------------------------------------------

def found_by(channel: str) -> str:
    """排查 when the federation found the family itself (screening), 求助 when she came, wrote,
    phoned or was referred."""
    return "排查" if channel == "screening" else "求助"


def how_found(channel: str) -> str:
    """The manual's tick boxes: 排查（√） 求助（ ）."""
    screening = found_by(channel) == "排查"
    return f"排查（{'√' if screening else ' '}） 求助（{' ' if screening else '√'}）"


# --- layout arithmetic -------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    header: str
    width: float  # Excel character units; a CJK character is about 2


def display_width(text: str) -> int:
    """Width in Excel character units: wide (CJK) characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def cjk_width(chars: int) -> float:
    """A column that holds `chars` Chinese characters a line, with a little padding."""
    return chars * 2 + 1.5


def lines_needed(text: str, *, width: float) -> int:
    """How many wrapped lines a cell takes in a column of this width (for the row height:
    XlsxWriter cannot measure, and a row too short cuts text off on paper)."""
    usable = max(width - 1, 1)
    return sum(max(1, -(-display_width(part) // int(usable))) for part in (text.split("\n") or [""]))


FORMULA_LEADS = ("=", "+", "-", "@")


def needs_text_guard(value: str) -> bool:
    """A cell a spreadsheet could read as a formula (CSV/formula injection)."""
    return value.startswith(FORMULA_LEADS) or value.startswith(("\t", "\r"))
