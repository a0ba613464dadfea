"""The digest rules, pure: which day, which bucket, what to do, the supervisor's roll-up and
the operator's table. Time is a parameter; the official 2026 calendar decides working days."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from models.domain.deadlines import end_of_day
from models.domain.digest import (
    Bucket,
    DueItem,
    ItemKind,
    Node,
    State,
    act_path,
    build_cadre_digest,
    cadre_digest_day,
    first_working_day_of_week,
    is_overdue,
    is_stale,
    items_by_owner,
    jurisdiction_table,
    rollup,
    state_of,
    supervisor_digest_day,
)
from models.domain.calendar import SHANGHAI
from models.domain.official_calendar import builtin_calendar

CALENDAR = builtin_calendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def item(number: str, due: str, *, kind: ItemKind = ItemKind.RESPONSE, code: str = "990102001001",
         level: int = 0, owners: tuple[int, ...] = (1,), ref: int | None = None) -> DueItem:
    return DueItem(kind=kind, case_number=number, category_label="土地权益", jurisdiction_code=code,
                   due_at=end_of_day(date.fromisoformat(due)), escalation_level=level, ref=ref,
                   owner_ids=owners)


@pytest.mark.parametrize("as_of,expected", [
    pytest.param("2026-10-12T08:30:00", "2026-10-12", id="monday-0830"),
    pytest.param("2026-10-12T08:29:59", None, id="monday-0829"),
    pytest.param("2026-10-12T11:00:00", "2026-10-12", id="missed-made-up-same-day"),
    pytest.param("2026-10-12T18:00:00", "2026-10-12", id="end-of-window"),
    pytest.param("2026-10-12T18:00:01", None, id="after-window-stale"),
    pytest.param("2026-10-10T08:30:00", "2026-10-10", id="makeup-saturday"),
    pytest.param("2026-10-05T08:30:00", None, id="national-day-monday"),
    pytest.param("2026-10-17T08:30:00", None, id="ordinary-saturday"),
    pytest.param("2026-02-14T08:30:00", "2026-02-14", id="spring-festival-makeup-saturday"),
])
def test_cadre_digest_day(as_of, expected):
    day = cadre_digest_day(as_of=at(as_of), calendar=CALENDAR)
    assert (day.isoformat() if day else None) == expected


def test_an_aware_instant_in_another_zone_is_read_in_shanghai():
    # 00:30 UTC is 08:30 in Shanghai
    assert cadre_digest_day(as_of=datetime.fromisoformat("2026-10-12T00:30:00+00:00"),
                            calendar=CALENDAR) == date(2026, 10, 12)


@pytest.mark.parametrize("day,expected", [
    pytest.param("2026-10-14", "2026-10-12", id="ordinary-week-monday"),
    pytest.param("2026-10-06", "2026-10-08", id="national-day-week-thursday"),
    pytest.param("2026-10-01", "2026-09-28", id="week-of-october-first"),
    pytest.param("2026-02-18", None, id="spring-festival-week-has-no-working-day"),
])
def test_first_working_day_of_week(day, expected):
    found = first_working_day_of_week(date.fromisoformat(day), calendar=CALENDAR)
    assert (found.isoformat() if found else None) == expected


@pytest.mark.parametrize("as_of,expected", [
    pytest.param("2026-10-12T08:30:00", "2026-10-12", id="monday"),
    pytest.param("2026-10-12T08:00:00", None, id="monday-before-0830"),
    pytest.param("2026-10-13T09:00:00", "2026-10-12", id="missed-monday-made-up-tuesday"),
    pytest.param("2026-10-08T08:30:00", "2026-10-08", id="holiday-week-thursday"),
    pytest.param("2026-10-05T08:30:00", None, id="holiday-monday"),
    pytest.param("2026-10-10T08:30:00", "2026-10-08", id="makeup-saturday-same-week"),
])
def test_supervisor_digest_day(as_of, expected):
    day = supervisor_digest_day(as_of=at(as_of), calendar=CALENDAR)
    assert (day.isoformat() if day else None) == expected


@pytest.mark.parametrize("kind,day,as_of,stale", [
    pytest.param("cadre_digest", "2026-10-12", "2026-10-12T17:00:00", False, id="cadre-same-day"),
    pytest.param("cadre_digest", "2026-10-12", "2026-10-13T08:30:00", True, id="cadre-next-day"),
    pytest.param("cadre_digest", "2026-10-12", "2026-10-12T19:00:00", True, id="cadre-evening"),
    pytest.param("supervisor_digest", "2026-10-12", "2026-10-16T10:00:00", False, id="sup-same-week"),
    pytest.param("supervisor_digest", "2026-10-12", "2026-10-19T10:00:00", True, id="sup-next-week"),
])
def test_stale_digests_are_not_sent(kind, day, as_of, stale):
    assert is_stale(kind=kind, day=date.fromisoformat(day), as_of=at(as_of),
                    calendar=CALENDAR) is stale


@pytest.mark.parametrize("due,expected", [
    pytest.param("2026-10-09", State.OVERDUE, id="last-friday"),
    pytest.param("2026-10-12", State.DUE_TODAY, id="today"),
    pytest.param("2026-10-15", State.DUE_SOON, id="third-working-day"),
    pytest.param("2026-10-16", None, id="fourth-working-day"),
])
def test_state_relative_to_monday_morning(due, expected):
    assert state_of(item("WQ-1", due), as_of=at("2026-10-12T08:30:00"), calendar=CALENDAR) == expected


def test_due_soon_counts_working_days_across_the_holiday():
    # Wednesday 09-30: the next three working days are 10-08, 10-09, 10-10 (make-up Saturday)
    as_of = at("2026-09-30T08:30:00")
    assert state_of(item("WQ-1", "2026-10-10"), as_of=as_of, calendar=CALENDAR) == State.DUE_SOON
    assert state_of(item("WQ-1", "2026-10-12"), as_of=as_of, calendar=CALENDAR) is None


def test_cadre_digest_buckets_and_actions():
    items = [
        item("WQ-2026-000003", "2026-10-15"),
        item("WQ-2026-000001", "2026-10-07", level=1),
        item("WQ-2026-000002", "2026-10-12"),
        item("WQ-2026-000009", "2026-10-30"),  # later: not in today's digest
        item("WQ-2026-000004", "2026-10-13", kind=ItemKind.VISIT, ref=4),
        item("WQ-2026-000005", "2026-10-09", kind=ItemKind.VISIT, ref=5),
        item("WQ-2026-000006", "2026-10-14", kind=ItemKind.REFERRAL, ref=17),
        item("WQ-2026-000007", "2026-10-13", kind=ItemKind.TRANSFER),
        item("WQ-2026-000008", "2026-10-26", kind=ItemKind.PROTECTION_ORDER, ref=8),
        item("WQ-2026-000010", "2026-10-27", kind=ItemKind.PROTECTION_ORDER, ref=10),  # not yet
    ]
    digest = build_cadre_digest(items=items, as_of=at("2026-10-12T08:30:00"), calendar=CALENDAR)

    assert digest is not None and digest.day == date(2026, 10, 12)
    shown = {s.bucket: [line.case_number for line in s.lines] for s in digest.sections}
    assert shown == {
        Bucket.OVERDUE: ["WQ-2026-000001"],
        Bucket.DUE_TODAY: ["WQ-2026-000002"],
        Bucket.DUE_SOON: ["WQ-2026-000007", "WQ-2026-000003"],
        Bucket.VISITS: ["WQ-2026-000005", "WQ-2026-000004"],
        Bucket.REFERRALS: ["WQ-2026-000006"],
        Bucket.PROTECTION_ORDERS: ["WQ-2026-000008"],
    }
    assert [s.bucket for s in digest.sections] == list(Bucket)
    overdue = digest.sections[0].lines[0]
    # 10-07 is a holiday: 10-08, 10-09, 10-10 (make-up Saturday), 10-12 are working days late
    assert overdue.status == "逾期 4 个工作日，已报上 1 级督办"
    assert overdue.due_at == "2026-10-07 24:00" and overdue.overdue
    assert overdue.act_path == "/cases/WQ-2026-000001/act/respond"
    assert digest.sections[2].lines[1].status == "还有 3 个工作日"
    assert digest.total == 8 and digest.count(Bucket.VISITS) == 2
    order = digest.sections[-1].lines[0]
    assert (order.kind_label, order.status, order.overdue) == ("保护令到期", "还有 10 个工作日", False)
    assert order.act_path == "/cases/WQ-2026-000008/act/measure?kind=protection_order"


@pytest.mark.parametrize("kind,expected", [
    (ItemKind.RESPONSE, "/cases/WQ-1/act/respond"),
    (ItemKind.TRANSFER, "/cases/WQ-1/act/upper-result"),
    (ItemKind.VISIT, "/cases/WQ-1/visit"),
    (ItemKind.REFERRAL, "/cases/WQ-1/act/referral-result?referral=17"),
    (ItemKind.FOLLOW_UP, "/cases/WQ-1/act/follow-up"),
    (ItemKind.PROTECTION_ORDER, "/cases/WQ-1/act/measure?kind=protection_order"),
])
def test_each_item_links_the_form_that_does_it(kind, expected):
    assert act_path(item("WQ-1", "2026-10-12", kind=kind, ref=17)) == expected


# A protection order is listed from its first reminder (10 working days before it expires) to
# its day, and is never overdue: after its day it has lapsed. 2026-10-12 is a Monday after
# the National Day holidays.
@pytest.mark.parametrize("expires,as_of,expected", [
    pytest.param("2026-10-12", "2026-10-12T08:30:00", State.DUE_TODAY, id="expires-today"),
    pytest.param("2026-10-12", "2026-10-12T23:59:59", State.DUE_TODAY, id="last-second-of-its-day"),
    pytest.param("2026-10-26", "2026-10-12T08:30:00", State.DUE_SOON, id="10-working-days-ahead"),
    pytest.param("2026-10-27", "2026-10-12T08:30:00", None, id="11-working-days-ahead-not-yet"),
    pytest.param("2026-10-24", "2026-10-12T08:30:00", State.DUE_SOON,
                 id="expires-on-a-saturday-10-working-days-on"),
    pytest.param("2026-10-09", "2026-10-12T08:30:00", None, id="lapsed-not-overdue"),
    pytest.param("2026-10-12", "2026-10-13T00:00:00", None, id="lapsed-at-midnight"),
])
def test_a_protection_order_is_due_in_its_reminder_window_and_never_overdue(expires, as_of,
                                                                            expected):
    order = item("WQ-1", expires, kind=ItemKind.PROTECTION_ORDER, ref=3)
    assert state_of(order, as_of=at(as_of), calendar=CALENDAR) == expected
    assert not is_overdue(order, as_of=at(as_of))


def test_nothing_due_means_no_digest():
    assert build_cadre_digest(items=[], as_of=at("2026-10-12T08:30:00"), calendar=CALENDAR) is None
    later = [item("WQ-1", "2026-11-30")]
    assert build_cadre_digest(items=later, as_of=at("2026-10-12T08:30:00"), calendar=CALENDAR) is None


def test_items_are_grouped_by_every_owner():
    owned = items_by_owner([item("WQ-1", "2026-10-12", owners=(1, 2)), item("WQ-2", "2026-10-12", owners=(2,))])
    assert {k: [i.case_number for i in v] for k, v in owned.items()} == {1: ["WQ-1"], 2: ["WQ-1", "WQ-2"]}


NODES = {n.code: n for n in [
    Node("990102", "示范县", "county"), Node("990102001", "东湖镇", "township"),
    Node("990102001001", "东湖村", "village"), Node("990102001002", "西岭村", "village"),
    Node("990102002", "南山街道", "township"), Node("990102002001", "南山社区", "village"),
]}
AS_OF = at("2026-10-12T08:30:00")
PICTURE = [
    item("WQ-A", "2026-10-09", code="990102001001"),  # overdue
    item("WQ-B", "2026-10-13", code="990102001001"),  # soon
    item("WQ-C", "2026-10-09", code="990102001002", kind=ItemKind.VISIT),  # overdue
    item("WQ-D", "2026-10-12", code="990102002001", kind=ItemKind.REFERRAL),  # soon (today)
    item("WQ-E", "2026-10-09", code="990102"),  # overdue, at the county itself
    item("WQ-F", "2026-12-01", code="990102002001"),  # later: not counted
]


def test_county_rollup_county_township_village():
    picture = rollup(items=PICTURE, root=NODES["990102"], nodes=NODES, as_of=AS_OF, calendar=CALENDAR)
    rows = [(r.depth, r.name, r.overdue, r.due_soon, r.overdue_cases, r.due_soon_cases)
            for r in picture.rows]
    assert rows == [
        (0, "示范县", 3, 2, ("WQ-E（答复）",), ()),
        (1, "东湖镇", 2, 1, (), ()),
        (2, "东湖村", 1, 1, ("WQ-A（答复）",), ("WQ-B（答复）",)),
        (2, "西岭村", 1, 0, ("WQ-C（回访）",), ()),
        (1, "南山街道", 0, 1, (), ()),
        (2, "南山社区", 0, 1, (), ("WQ-D（转介反馈）",)),
    ]
    assert (picture.overdue, picture.due_soon) == (3, 2)


def test_township_rollup_shows_her_subtree_only():
    picture = rollup(items=PICTURE, root=NODES["990102002"], nodes=NODES, as_of=AS_OF, calendar=CALENDAR)
    assert [r.name for r in picture.rows] == ["南山街道", "南山社区"]
    shown = json.dumps([r.__dict__ for r in picture.rows], ensure_ascii=False)
    for other in ("WQ-A", "WQ-B", "WQ-C", "WQ-E", "东湖"):
        assert other not in shown


def test_empty_subtree_rolls_up_to_zero():
    picture = rollup(items=[], root=NODES["990102001"], nodes=NODES, as_of=AS_OF, calendar=CALENDAR)
    assert (picture.overdue, picture.due_soon, len(picture.rows)) == (0, 0, 1)


def test_operator_table_by_jurisdiction_kind_and_escalation_level():
    items = [*PICTURE, item("WQ-G", "2026-10-01", code="990102001001", level=2)]
    rows = [r.as_dict() for r in jurisdiction_table(items=items, nodes=NODES, as_of=AS_OF, calendar=CALENDAR)]
    assert [(r["jurisdiction"], r["kind"], r["escalation_level"], r["overdue"], r["due_soon"], r["cases"])
            for r in rows] == [
        ("990102", "response", 0, 1, 0, "WQ-E"),
        ("990102001001", "response", 0, 1, 1, "WQ-A, WQ-B"),
        ("990102001001", "response", 2, 1, 0, "WQ-G"),
        ("990102001002", "visit", 0, 1, 0, "WQ-C"),
        ("990102002001", "referral", 0, 0, 1, "WQ-D"),
    ]
    assert rows[1]["jurisdiction_name"] == "东湖村" and rows[1]["level"] == "village"
    assert set(rows[0]) == {"jurisdiction", "jurisdiction_name", "level", "kind",
                            "escalation_level", "overdue", "due_soon", "cases"}
