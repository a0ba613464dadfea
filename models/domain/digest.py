"""Digests: the cadre's one mail a day and the supervisor's weekly picture. Pure rules.

When
- The cadre digest belongs to a working day (WorkCalendar: a make-up Saturday is one, a
  National Day Monday is not) and is due at `digest_at` (08:30 Asia/Shanghai). It may go out
  from then until the end of that day's sending window (`window_end`, 18:00 by default). A
  digest missed because nothing ran at 08:30 (the machine was off) goes out at the next sweep
  of the same working day; on a later day it is stale and is not sent — that day has its own.
- The supervisor digest belongs to the first working day of each ISO week (Monday, or later
  when Monday is a holiday) and is due at `digest_at` of that day. If missed it goes out at
  the next sweep within sending hours of a working day of the same ISO week; after that week
  it is stale.
- The monthly statistics belong to the first working day of each month (a make-up Saturday
  can be one, a holiday Monday cannot) and are due at `digest_at` of that day. If missed they
  go out at the next sweep within sending hours of a working day of the same month; after
  that month they are stale. Why the whole month and not the day: last month's counts do
  not age (states are taken at the period's end), nothing replaces the mail until next
  month, and a supervisor still needs the figures on the 15th — whereas a digest of what is
  due today is wrong tomorrow.

What
- Items are the things a cadre must act on: an answer (a case's response deadline), a
  difficult case's transfer up, a return visit, a referral's feedback, a protection order
  about to expire (which items exist is decided once, in `models.service.due_items`). Each is
  bucketed relative to `as_of` — overdue, due today, due within `soon_working_days` (3)
  working days; a protection order within its reminder window of 10 working days, and never
  overdue — and carries the path of the form that acts on it.
- Nothing personal: case numbers, category labels, jurisdiction names, dates and links.

No clock: every function takes `as_of`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from models.domain.calendar import SHANGHAI, WorkCalendar
from models.domain.casework import order_expiring
from models.domain.deadlines import end_of_day, working_days_between
from models.domain.jurisdiction import is_within, parent_of
from models.domain.notice_kinds import NoticeKind

DIGEST_AT = time(8, 30)
WINDOW_END = time(18, 0)
SOON_WORKING_DAYS = 3



class ItemKind(StrEnum):
    RESPONSE = "response"  # 答复: a case's response deadline
    TRANSFER = "transfer"  # 转报: a difficult case, until the upper level reports back
    VISIT = "visit"  # 回访: a return visit of a family on a ledger
    REFERRAL = "referral"  # 转介: a department's feedback on a referral
    FOLLOW_UP = "follow_up"  # 结案回访: the one return visit a closed case owes (004)
    PROTECTION_ORDER = "protection_order"  # 保护令到期: a granted order within its reminder window
    REPORT = "report"  # 情况报告: a matter assigned from above / 12338 / public opinion


KIND_LABELS = {
    ItemKind.RESPONSE: "答复",
    ItemKind.TRANSFER: "疑难转报",
    ItemKind.VISIT: "回访",
    ItemKind.REFERRAL: "转介反馈",
    ItemKind.FOLLOW_UP: "结案回访",
    ItemKind.PROTECTION_ORDER: "保护令到期",
    ItemKind.REPORT: "情况报告",
}
# The supervisors' overdue board names an item by what went wrong. A protection order is
# never overdue (see `state_of`): it has no entry here and is never on the board.
OVERDUE_LABELS = {
    ItemKind.RESPONSE: "答复逾期",
    ItemKind.TRANSFER: "疑难转报逾期",
    ItemKind.VISIT: "回访逾期",
    ItemKind.REFERRAL: "转介未反馈",
    ItemKind.FOLLOW_UP: "结案回访逾期",
    ItemKind.REPORT: "情况报告未报送",
}


class State(StrEnum):
    OVERDUE = "overdue"
    DUE_TODAY = "due_today"
    DUE_SOON = "due_soon"


class Bucket(StrEnum):
    """The sections of the cadre digest, in the order the mail shows them."""

    OVERDUE = "overdue"  # answers past their deadline
    DUE_TODAY = "due_today"
    DUE_SOON = "due_soon"  # within the next 3 working days
    VISITS = "visits"  # return visits due within 3 working days, and overdue ones
    REFERRALS = "referrals"  # referral feedback awaited: due within 3 working days or late
    PROTECTION_ORDERS = "protection_orders"  # orders expiring within 10 working days


BUCKET_TITLES = {
    Bucket.OVERDUE: "已逾期",
    Bucket.DUE_TODAY: "今日到期",
    Bucket.DUE_SOON: "3个工作日内到期",
    Bucket.VISITS: "待回访",
    Bucket.REFERRALS: "待部门反馈的转介",
    Bucket.PROTECTION_ORDERS: "即将到期的人身安全保护令",
}
BUCKET_HINTS = {
    Bucket.OVERDUE: "逾期未答复的已报上级妇联督办，请尽快答复并登记。",
    Bucket.DUE_TODAY: "请于今日24:00前答复并登记。",
    Bucket.DUE_SOON: "请提前安排，按期答复。",
    Bucket.VISITS: "回访当日24:00后即为逾期；请单独会见当事人并登记回访情况。",
    Bucket.REFERRALS: "请督促接收部门按期反馈办理结果，收到后登记。",
    Bucket.PROTECTION_ORDERS: "保护令到期后即失效：请联系当事人评估风险，需要的协助其申请延长，"
                              "法院签发新的保护令后登记。",
}


@dataclass(frozen=True)
class DueItem:
    """One thing someone must act on. `due_at` is the last instant it is on time (a day's
    24:00 is stored as 23:59:59; see `overdue_from`). `ref` is the referral, visit-plan,
    follow-up or protection-order id the action command needs."""

    kind: ItemKind
    case_number: str
    category_label: str
    jurisdiction_code: str
    due_at: datetime
    escalation_level: int = 0  # the highest level already told of the breach
    ref: int | None = None
    awaiting: str = ""  # referrals: the department's post (never a person's data)
    owner_ids: tuple[int, ...] = ()  # the cadres (registry contacts) who must act
    case_id: int | None = None
    category: str = ""  # the code behind `category_label`
    risk_level: str = "none"
    responsible_contact_id: int | None = None  # the case's assigned cadre, if any (a registry contact)


@dataclass(frozen=True)
class DigestLine:
    case_number: str
    kind_label: str
    category_label: str
    due_at: str  # "2026-10-15 24:00"
    status: str  # "逾期 2 个工作日，已报上 1 级督办" / "今日到期" / "还有 2 个工作日"
    act_path: str  # "/cases/WQ-2026-000001/act/respond"
    awaiting: str = ""
    overdue: bool = False


@dataclass(frozen=True)
class DigestSection:
    bucket: Bucket
    title: str
    hint: str
    lines: tuple[DigestLine, ...]


@dataclass(frozen=True)
class CadreDigest:
    day: date
    sections: tuple[DigestSection, ...]  # only the non-empty ones

    @property
    def total(self) -> int:
        return sum(len(s.lines) for s in self.sections)

    def count(self, bucket: Bucket) -> int:
        return sum(len(s.lines) for s in self.sections if s.bucket == bucket)


# --- when -------------------------------------------------------------------------------------

def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def digest_instant(day: date, *, digest_at: time = DIGEST_AT) -> datetime:
    return datetime.combine(day, digest_at, tzinfo=SHANGHAI)


def _in_sending_window(as_of: datetime, *, calendar: WorkCalendar, digest_at: time,
                       window_end: time) -> bool:
    local = as_of.astimezone(SHANGHAI)
    return (calendar.is_working_day(local.date())
            and digest_at <= local.time().replace(tzinfo=None) <= window_end)


def cadre_digest_day(*, as_of: datetime, calendar: WorkCalendar, digest_at: time = DIGEST_AT,
                     window_end: time = WINDOW_END) -> date | None:
    """The day whose cadre digest a sweep at `as_of` should make, or None (not a working day,
    before 08:30, or after the sending window: then it is stale)."""
    if not _in_sending_window(as_of, calendar=calendar, digest_at=digest_at, window_end=window_end):
        return None
    return local_date(as_of)


def first_working_day_of_week(day: date, *, calendar: WorkCalendar) -> date | None:
    """The first working day of `day`'s ISO week (Monday–Sunday), None if the week has none."""
    monday = day - timedelta(days=day.weekday())
    return next((monday + timedelta(days=n) for n in range(7)
                 if calendar.is_working_day(monday + timedelta(days=n))), None)


def supervisor_digest_day(*, as_of: datetime, calendar: WorkCalendar,
                          digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> date | None:
    """The first working day of the week whose supervisor digest a sweep at `as_of` should
    make: from 08:30 of that day, within sending hours of any working day of the same ISO
    week (a missed one is made up later in the week, never in the next week)."""
    if not _in_sending_window(as_of, calendar=calendar, digest_at=digest_at, window_end=window_end):
        return None
    return first_working_day_of_week(local_date(as_of), calendar=calendar)


def monthly_statistics_day(*, as_of: datetime, calendar: WorkCalendar,
                           digest_at: time = DIGEST_AT, window_end: time = WINDOW_END) -> date | None:
    """The first working day of the month whose statistics mail a sweep at `as_of` should
    make: from 08:30 of that day, within sending hours of any working day of the same month
    (today is a working day then, so the month's first one is today or earlier)."""
    if not _in_sending_window(as_of, calendar=calendar, digest_at=digest_at, window_end=window_end):
        return None
    first, _ = calendar.first_working_day_on_or_after(local_date(as_of).replace(day=1))
    return first


def is_stale(*, kind: str, day: date, as_of: datetime, calendar: WorkCalendar,
             window_end: time = WINDOW_END) -> bool:
    """A planned digest that could not go out in its time (SMTP down all day) is not sent
    later: a newer one replaces it. Checked at send time."""
    today = local_date(as_of)
    if kind == NoticeKind.SUPERVISOR_DIGEST:
        return today.isocalendar()[:2] != day.isocalendar()[:2]
    if kind == NoticeKind.MONTHLY_STATISTICS:
        return (today.year, today.month) != (day.year, day.month)
    return today != day or as_of.astimezone(SHANGHAI).time().replace(tzinfo=None) > window_end


# --- what -------------------------------------------------------------------------------------

def soon_horizon(*, as_of: datetime, calendar: WorkCalendar,
                 soon_working_days: int = SOON_WORKING_DAYS) -> datetime:
    """24:00 of the Nth working day after today: anything due by then is "due soon"."""
    day, _ = calendar.add_working_days(start=local_date(as_of), count=soon_working_days)
    return end_of_day(day)


def overdue_from(due_at: datetime) -> datetime:
    """The instant an item due by `due_at` becomes overdue: the next whole second.

    Deadlines are kept to the second, and a day's deadline is its last whole second (23:59:59,
    `deadlines.end_of_day`). So an answer or a referral's feedback due on a day, and a return
    visit — due ON a day, whatever hour the plan noted — are overdue from 00:00 of the next
    day, once the day has ended; 23:59:59.5 is still the due day. The board once said 00:00
    for visits and the digests 23:59:59; every reader now asks this one function."""
    return due_at.replace(microsecond=0) + timedelta(seconds=1)


def is_overdue(item: DueItem, *, as_of: datetime) -> bool:
    # An order past its expiry has lapsed, not been neglected: nobody can act on it late.
    return item.kind != ItemKind.PROTECTION_ORDER and as_of >= overdue_from(item.due_at)


def state_of(item: DueItem, *, as_of: datetime, calendar: WorkCalendar,
             soon_working_days: int = SOON_WORKING_DAYS) -> State | None:
    """Overdue, due today, due within N working days — or None (later: not worth a line)."""
    if item.kind == ItemKind.PROTECTION_ORDER:
        return _order_state(item, as_of=as_of, calendar=calendar)
    if is_overdue(item, as_of=as_of):
        return State.OVERDUE
    if local_date(item.due_at) == local_date(as_of):
        return State.DUE_TODAY
    if item.due_at <= soon_horizon(as_of=as_of, calendar=calendar,
                                   soon_working_days=soon_working_days):
        return State.DUE_SOON
    return None


def _order_state(item: DueItem, *, as_of: datetime, calendar: WorkCalendar) -> State | None:
    """An order is due on its expiry day and listed from its first reminder on; after its day
    it has lapsed and there is nothing to do about it (never overdue: see `order_expiring`)."""
    expires_on, today = local_date(item.due_at), local_date(as_of)
    if not order_expiring(expires_on=expires_on, on=today, calendar=calendar):
        return None
    return State.DUE_TODAY if today == expires_on else State.DUE_SOON


def bucket_of(item: DueItem, state: State) -> Bucket:
    if item.kind == ItemKind.PROTECTION_ORDER:
        return Bucket.PROTECTION_ORDERS
    if item.kind in (ItemKind.VISIT, ItemKind.FOLLOW_UP):
        return Bucket.VISITS
    if item.kind == ItemKind.REFERRAL:
        return Bucket.REFERRALS
    return {State.OVERDUE: Bucket.OVERDUE, State.DUE_TODAY: Bucket.DUE_TODAY,
            State.DUE_SOON: Bucket.DUE_SOON}[state]


def act_path(item: DueItem) -> str:
    """Where the act is done: the path of the case page's form that records it (a mail puts
    the public address in front; the cadre's home page links to it as it is)."""
    case = f"/cases/{item.case_number}"
    if item.kind == ItemKind.RESPONSE:
        return f"{case}/act/respond"
    if item.kind == ItemKind.TRANSFER:
        return f"{case}/act/upper-result"
    if item.kind == ItemKind.VISIT:
        return f"{case}/visit"
    if item.kind == ItemKind.FOLLOW_UP:
        return f"{case}/act/follow-up"
    if item.kind == ItemKind.PROTECTION_ORDER:  # a new order (extended) is recorded there
        return f"{case}/act/measure?kind=protection_order"
    if item.kind == ItemKind.REPORT:
        return f"{case}#actions"  # the page's 下载情况报告 button
    return f"{case}/act/referral-result?referral={item.ref}"


def format_due(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    if local.time().replace(tzinfo=None) == time(23, 59, 59):
        return f"{local:%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def _status(item: DueItem, state: State, *, as_of: datetime, calendar: WorkCalendar) -> str:
    today, due_day = local_date(as_of), local_date(item.due_at)
    if state == State.OVERDUE:
        late = working_days_between(calendar=calendar, start=due_day, end=max(today, due_day))
        text = f"逾期 {late} 个工作日" if late else "已逾期"
        if item.escalation_level:
            text += f"，已报上 {item.escalation_level} 级督办"
        return text
    if state == State.DUE_TODAY:
        return "今日到期"
    left = working_days_between(calendar=calendar, start=today, end=due_day)
    return f"还有 {left} 个工作日" if left else "节假日期间到期"


def build_cadre_digest(*, items: Iterable[DueItem], as_of: datetime, calendar: WorkCalendar,
                       soon_working_days: int = SOON_WORKING_DAYS) -> CadreDigest | None:
    """The digest for one cadre at `as_of`, or None when nothing is due: no mail then."""
    by_bucket: dict[Bucket, list[tuple[DueItem, State]]] = defaultdict(list)
    # A cadre's list runs to hundreds of items over a few deadlines: an item's state depends
    # only on its deadline (and whether it is an order), its words only on the deadline, the
    # state and the escalation reached — each worked out once per distinct key, not per item.
    states: dict[tuple[bool, datetime], State | None] = {}
    for item in items:
        key = (item.kind == ItemKind.PROTECTION_ORDER, item.due_at)
        if key not in states:
            states[key] = state_of(item, as_of=as_of, calendar=calendar,
                                   soon_working_days=soon_working_days)
        state = states[key]
        if state is not None:
            by_bucket[bucket_of(item, state)].append((item, state))
    due_words: dict[datetime, str] = {}
    status_words: dict[tuple[State, datetime, int], str] = {}
    sections = []
    for bucket in Bucket:
        entries = sorted(by_bucket.get(bucket, []), key=lambda e: (e[0].due_at, e[0].case_number))
        if not entries:
            continue
        lines = []
        for item, state in entries:
            if item.due_at not in due_words:
                due_words[item.due_at] = format_due(item.due_at)
            said = (state, item.due_at, item.escalation_level)
            if said not in status_words:
                status_words[said] = _status(item, state, as_of=as_of, calendar=calendar)
            lines.append(DigestLine(
                case_number=item.case_number, kind_label=KIND_LABELS[item.kind],
                category_label=item.category_label, due_at=due_words[item.due_at],
                status=status_words[said], act_path=act_path(item), awaiting=item.awaiting,
                overdue=state == State.OVERDUE))
        sections.append(DigestSection(bucket=bucket, title=BUCKET_TITLES[bucket],
                                      hint=BUCKET_HINTS[bucket], lines=tuple(lines)))
    if not sections:
        return None
    return CadreDigest(day=local_date(as_of), sections=tuple(sections))


def items_by_owner(items: Iterable[DueItem]) -> dict[int, list[DueItem]]:
    owned: dict[int, list[DueItem]] = defaultdict(list)
    for item in items:
        for owner in item.owner_ids:
            owned[owner].append(item)
    return dict(owned)


# --- the supervisor's rolled-up picture ---------------------------------------------------------

@dataclass(frozen=True)
class Node:
    code: str
    name: str
    level: str  # province | city | county | township | village


@dataclass(frozen=True)
class RollupRow:
    code: str
    name: str
    level: str
    depth: int  # 0 for the supervisor's own node
    overdue: int  # this node and everything below it
    due_soon: int  # due today or within N working days, this node and below
    overdue_cases: tuple[str, ...]  # "WQ-2026-000001（答复）" — items at this node itself
    due_soon_cases: tuple[str, ...]


@dataclass(frozen=True)
class Rollup:
    root: Node
    rows: tuple[RollupRow, ...]  # depth-first: county → its townships → their villages

    @property
    def overdue(self) -> int:
        return self.rows[0].overdue if self.rows else 0

    @property
    def due_soon(self) -> int:
        return self.rows[0].due_soon if self.rows else 0


def rollup(*, items: Iterable[DueItem], root: Node, nodes: Mapping[str, Node], as_of: datetime,
           calendar: WorkCalendar, soon_working_days: int = SOON_WORKING_DAYS) -> Rollup:
    """Overdue and due-soon counts for `root`'s subtree only, rolled up level by level.
    Rows: the root always, then every node below it that has something (zeros are left out)."""
    own: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"overdue": [], "soon": []})
    for item in items:
        if not is_within(item.jurisdiction_code, under=root.code):
            continue  # another subtree: never shown
        state = state_of(item, as_of=as_of, calendar=calendar, soon_working_days=soon_working_days)
        if state is None:
            continue
        label = f"{item.case_number}（{KIND_LABELS[item.kind]}）"
        own[item.jurisdiction_code]["overdue" if state == State.OVERDUE else "soon"].append(label)
    children: dict[str, set[str]] = defaultdict(set)
    known = {code: node for code, node in nodes.items() if is_within(code, under=root.code)}
    known[root.code] = root
    for code in list(own) + list(known):
        _link_to_root(code, root=root.code, children=children)
    totals: dict[str, tuple[int, int]] = {}

    def total(code: str) -> tuple[int, int]:
        if code not in totals:
            mine = own.get(code, {"overdue": [], "soon": []})
            overdue, soon = len(mine["overdue"]), len(mine["soon"])
            for child in children.get(code, ()):
                child_overdue, child_soon = total(child)
                overdue, soon = overdue + child_overdue, soon + child_soon
            totals[code] = (overdue, soon)
        return totals[code]

    rows: list[RollupRow] = []

    def walk(code: str, depth: int) -> None:
        overdue, soon = total(code)
        if depth and not (overdue or soon):
            return
        node = known.get(code) or Node(code=code, name=code, level="")
        mine = own.get(code, {"overdue": [], "soon": []})
        rows.append(RollupRow(code=code, name=node.name, level=node.level, depth=depth,
                              overdue=overdue, due_soon=soon,
                              overdue_cases=tuple(sorted(mine["overdue"])),
                              due_soon_cases=tuple(sorted(mine["soon"]))))
        for child in sorted(children.get(code, ())):
            walk(child, depth + 1)

    walk(root.code, 0)
    return Rollup(root=root, rows=tuple(rows))


def _link_to_root(code: str, *, root: str, children: dict[str, set[str]]) -> None:
    while code != root:
        parent = parent_of(code)
        if parent is None:
            return
        children[parent].add(code)
        code = parent


# --- mail contexts (the templates' variables) -------------------------------------------------------

LEVEL_LABELS = {"province": "省", "city": "市", "county": "县", "township": "乡镇", "village": "村"}
# The fields of a digest line a template may show: nothing else reaches a mail.
LINE_FIELDS = ("case_number", "kind_label", "category_label", "due_at", "status", "awaiting",
               "overdue")
ROW_FIELDS = ("indent", "depth", "jurisdiction_name", "level_label", "overdue", "due_soon", "overdue_cases",
              "due_soon_cases")


def cadre_mail_context(digest: CadreDigest, *, public_url: str) -> dict[str, object]:
    """Each line links to the form that acts on it; the cadre's home page lists the same."""
    base = public_url.rstrip("/")
    return {
        "digest_date": digest.day.isoformat(),
        "total_count": digest.total,
        "overdue_count": sum(1 for s in digest.sections for line in s.lines if line.overdue),
        "home_url": f"{base}/today",
        "sections": [{"title": s.title, "hint": s.hint, "count": len(s.lines),
                      "lines": [{**{name: getattr(line, name) for name in LINE_FIELDS},
                                 "act_url": base + line.act_path}
                                for line in s.lines]}
                     for s in digest.sections],
    }


def supervisor_mail_context(picture: Rollup, *, week_of: date, as_of: datetime,
                            public_url: str) -> dict[str, object]:
    year, week, _ = week_of.isocalendar()
    return {
        "week_label": f"{year}年第{week}周",
        "digest_date": local_date(as_of).isoformat(),
        "root_name": picture.root.name,
        "overdue_count": picture.overdue,
        "due_soon_count": picture.due_soon,
        "rows": [{"indent": "    " * row.depth, "depth": row.depth, "jurisdiction_name": row.name,
                  "level_label": LEVEL_LABELS.get(row.level, row.level),
                  "overdue": row.overdue, "due_soon": row.due_soon,
                  "overdue_cases": "、".join(row.overdue_cases),
                  "due_soon_cases": "、".join(row.due_soon_cases)} for row in picture.rows],
        "board_url": f"{public_url.rstrip('/')}/board?under={picture.root.code}",
    }


# --- the operator's table (a Prefect artifact) ----------------------------------------------------

@dataclass(frozen=True)
class TableRow:
    jurisdiction: str
    jurisdiction_name: str
    level: str
    kind: str
    escalation_level: int
    overdue: int
    due_soon: int
    cases: str  # case numbers only

    def as_dict(self) -> dict[str, object]:
        return {"jurisdiction": self.jurisdiction, "jurisdiction_name": self.jurisdiction_name,
                "level": self.level, "kind": self.kind, "escalation_level": self.escalation_level,
                "overdue": self.overdue, "due_soon": self.due_soon, "cases": self.cases}


def jurisdiction_table(*, items: Iterable[DueItem], nodes: Mapping[str, Node], as_of: datetime,
                       calendar: WorkCalendar,
                       soon_working_days: int = SOON_WORKING_DAYS) -> list[TableRow]:
    """Overdue and due-soon counts by jurisdiction, kind and escalation level reached: what an
    operator sees on the dashboard. Case numbers only — no names, phones, addresses, emails."""
    groups: dict[tuple[str, str, int], dict[str, list[str]]] = defaultdict(
        lambda: {"overdue": [], "soon": []})
    for item in items:
        state = state_of(item, as_of=as_of, calendar=calendar, soon_working_days=soon_working_days)
        if state is None:
            continue
        group = groups[(item.jurisdiction_code, item.kind.value, item.escalation_level)]
        group["overdue" if state == State.OVERDUE else "soon"].append(item.case_number)
    rows = []
    for (code, kind, level), found in sorted(groups.items()):
        node = nodes.get(code)
        rows.append(TableRow(
            jurisdiction=code, jurisdiction_name=node.name if node else code,
            level=node.level if node else "", kind=kind, escalation_level=level,
            overdue=len(found["overdue"]), due_soon=len(found["soon"]),
            cases=", ".join(sorted(set(found["overdue"] + found["soon"])))))
    return rows
