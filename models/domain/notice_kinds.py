"""The kinds of notice the outbox carries, and the one table that says what each kind is.

Every question about a kind — which templates render it, who receives it, whether its mail
carries an acknowledgement link, whether it must be confirmed, how urgent it is, which mail
builder fills its context, what people call it — is answered by its row in `KINDS`. Adding a
kind is one row here plus its three templates (`<template>.subject.txt`, `.txt`, `.html` in
notifications/templates/); nothing else lists kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class NoticeKind(StrEnum):
    REMINDER_BEFORE = "reminder_before"
    REMINDER_DUE = "reminder_due"
    ESCALATION = "escalation"
    DIFFICULT_TRANSFER = "difficult_transfer"
    DIFFICULT_TRACKING = "difficult_tracking"
    AT_ONCE = "at_once"
    CALL_110 = "call_110"
    ROUTING_GAP = "routing_gap"
    AT_ONCE_AGAIN = "at_once_again"
    PHONE_UNCONFIRMED = "phone_unconfirmed"
    REFERRAL = "referral"
    REFERRAL_REMINDER = "referral_reminder"
    REFERRAL_OVERDUE = "referral_overdue"
    VISIT_DUE = "visit_due"
    VISIT_OVERDUE = "visit_overdue"
    FOLLOW_UP_DUE = "follow_up_due"
    FOLLOW_UP_OVERDUE = "follow_up_overdue"
    PROTECTION_ORDER_EXPIRING = "protection_order_expiring"
    PROTECTION_ORDER_EXPIRES = "protection_order_expires"
    CADRE_DIGEST = "cadre_digest"
    SUPERVISOR_DIGEST = "supervisor_digest"
    MONTHLY_STATISTICS = "monthly_statistics"
    OUTBOX_BACKLOG = "outbox_backlog"


class Recipient(StrEnum):
    """How a notice's recipient is found."""

    ROLE = "role"  # the role at the notice's jurisdiction, nearest holder up the tree
    RESPONSIBLE = "responsible"  # the case's responsible cadre, else the role lookup
    DEPARTMENT = "department"  # the referral's department contact, named on the notice
    OPERATOR = "operator"  # the operator's address (WEIQUAN_OPERATOR_EMAIL)
    DIGEST = "digest"  # the cadre or supervisor the digest (or monthly statistics) is planned for


class Family(StrEnum):
    """Which mail-content builder fills the template's context."""

    CASEWORK = "casework"  # a case's own deadline: reminders, escalation, difficult cases
    AT_ONCE = "at_once"  # reports made at once and their confirmation rounds
    REFERRAL = "referral"
    VISIT = "visit"
    RECORD = "record"  # the casework records: the visit after closing, a protection order
    DIGEST = "digest"  # rendered at send time from the rows as they are then
    OPERATIONS = "operations"  # the machinery's own state, for the operator: no case


class Priority(IntEnum):
    """Send order within a sweep (lower first). A row's priority is set when it is stored."""

    LIFE_AT_RISK = 0  # at-once reports of a life at risk
    AT_ONCE = 1  # other at-once reports, and the confirmation rounds
    ROUTINE = 2  # reminders, escalations, referrals, visits
    DIGEST = 3


@dataclass(frozen=True)
class KindSpec:
    label: str  # what people read (pages, CLI)
    family: Family
    recipient: Recipient
    priority: Priority
    ack_link: bool = False  # the recipient has no account: the mail carries a signed link
    # An at-once report that a life at risk makes confirmable: unconfirmed it is sent again,
    # and confirming one mail of the report confirms the others to the same recipient.
    confirmable: bool = False
    # Checked again just before sending (an answer, pause or confirmation since cancels it).
    # A report made at once stands whatever happened to the case since.
    rechecked: bool = True
    template: str = ""  # default: the kind's own name

    def template_for(self, kind: NoticeKind) -> str:
        return self.template or kind.value

    @property
    def about_a_case(self) -> bool:
        """A mail about one case, re-checked against it before sending; the others (digests,
        the operator's notices about the machinery) are judged when rendered."""
        return self.family not in (Family.DIGEST, Family.OPERATIONS)


KINDS: dict[NoticeKind, KindSpec] = {
    NoticeKind.REMINDER_BEFORE: KindSpec("到期前提醒", Family.CASEWORK, Recipient.RESPONSIBLE,
                                         Priority.ROUTINE),
    NoticeKind.REMINDER_DUE: KindSpec("到期日提醒", Family.CASEWORK, Recipient.RESPONSIBLE,
                                      Priority.ROUTINE),
    NoticeKind.ESCALATION: KindSpec("逾期督办", Family.CASEWORK, Recipient.ROLE, Priority.ROUTINE),
    NoticeKind.DIFFICULT_TRANSFER: KindSpec("疑难转报", Family.CASEWORK, Recipient.ROLE,
                                            Priority.ROUTINE),
    NoticeKind.DIFFICULT_TRACKING: KindSpec("疑难跟踪", Family.CASEWORK, Recipient.RESPONSIBLE,
                                            Priority.ROUTINE),
    NoticeKind.AT_ONCE: KindSpec("第一时间报告", Family.AT_ONCE, Recipient.ROLE, Priority.AT_ONCE,
                                 ack_link=True, confirmable=True, rechecked=False),
    NoticeKind.CALL_110: KindSpec("立即报警提醒", Family.AT_ONCE, Recipient.ROLE,
                                  Priority.LIFE_AT_RISK, rechecked=False),
    NoticeKind.ROUTING_GAP: KindSpec("登记缺失", Family.AT_ONCE, Recipient.OPERATOR,
                                     Priority.AT_ONCE, rechecked=False),
    NoticeKind.AT_ONCE_AGAIN: KindSpec("第一时间报告（未确认重发）", Family.AT_ONCE, Recipient.ROLE,
                                       Priority.AT_ONCE, ack_link=True, confirmable=True),
    NoticeKind.PHONE_UNCONFIRMED: KindSpec("未确认电话催办", Family.AT_ONCE, Recipient.RESPONSIBLE,
                                           Priority.AT_ONCE),
    NoticeKind.REFERRAL: KindSpec("转介", Family.REFERRAL, Recipient.DEPARTMENT, Priority.ROUTINE,
                                  ack_link=True),
    NoticeKind.REFERRAL_REMINDER: KindSpec("转介反馈提醒", Family.REFERRAL, Recipient.DEPARTMENT,
                                           Priority.ROUTINE, ack_link=True),
    NoticeKind.REFERRAL_OVERDUE: KindSpec("转介逾期督办", Family.REFERRAL, Recipient.ROLE,
                                          Priority.ROUTINE),
    NoticeKind.VISIT_DUE: KindSpec("回访提醒", Family.VISIT, Recipient.RESPONSIBLE,
                                   Priority.ROUTINE),
    NoticeKind.VISIT_OVERDUE: KindSpec("回访逾期督办", Family.VISIT, Recipient.ROLE,
                                       Priority.ROUTINE),
    NoticeKind.FOLLOW_UP_DUE: KindSpec("结案回访提醒", Family.RECORD, Recipient.RESPONSIBLE,
                                       Priority.ROUTINE, template="follow_up"),
    NoticeKind.FOLLOW_UP_OVERDUE: KindSpec("结案回访逾期督办", Family.RECORD, Recipient.ROLE,
                                           Priority.ROUTINE, template="follow_up"),
    NoticeKind.PROTECTION_ORDER_EXPIRING: KindSpec("保护令到期前提醒", Family.RECORD,
                                                   Recipient.RESPONSIBLE, Priority.ROUTINE,
                                                   template="protection_order"),
    NoticeKind.PROTECTION_ORDER_EXPIRES: KindSpec("保护令到期日提醒", Family.RECORD,
                                                  Recipient.RESPONSIBLE, Priority.ROUTINE,
                                                  template="protection_order"),
    NoticeKind.CADRE_DIGEST: KindSpec("每日待办", Family.DIGEST, Recipient.DIGEST, Priority.DIGEST),
    NoticeKind.SUPERVISOR_DIGEST: KindSpec("每周督办", Family.DIGEST, Recipient.DIGEST,
                                           Priority.DIGEST),
    NoticeKind.MONTHLY_STATISTICS: KindSpec("月度统计", Family.DIGEST, Recipient.DIGEST,
                                            Priority.DIGEST),
    # At-once priority: it goes in the first batch once the relay answers again, and is
    # retried within seconds meanwhile, like the reports whose delay it is about.
    NoticeKind.OUTBOX_BACKLOG: KindSpec("邮件积压告警", Family.OPERATIONS, Recipient.OPERATOR,
                                        Priority.AT_ONCE, rechecked=False),
}


def spec_of(kind: str) -> KindSpec:
    """The row of a kind (a stored notice's `kind` column, or a member)."""
    # A member and its string value are the same key (StrEnum): no conversion, which the
    # sweep would pay for every notice it plans and sends.
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"kind: unknown notice kind {kind!r}")
    return spec


def kinds_where(*, family: Family | None = None, recipient: Recipient | None = None,
                ack_link: bool | None = None, confirmable: bool | None = None,
                ) -> frozenset[NoticeKind]:
    """The kinds whose rows match every given column: for SQL `IN` filters."""
    return frozenset(kind for kind, spec in KINDS.items()
                     if (family is None or spec.family == family)
                     and (recipient is None or spec.recipient == recipient)
                     and (ack_link is None or spec.ack_link == ack_link)
                     and (confirmable is None or spec.confirmable == confirmable))


def template_of(kind: str) -> str:
    return spec_of(kind).template_for(NoticeKind(kind))


def label_of(kind: str) -> str:
    """The label people read; an unknown code is shown as it is rather than hidden."""
    try:
        return spec_of(kind).label
    except ValueError:
        return kind


def priority_of(kind: str, *, life_at_risk: bool = False) -> Priority:
    """The row's send order. An at-once report made because a life is at risk (it must be
    confirmed) goes before every other at-once report."""
    spec = spec_of(kind)
    if life_at_risk and spec.family == Family.AT_ONCE and spec.priority == Priority.AT_ONCE:
        return Priority.LIFE_AT_RISK
    return spec.priority


def is_urgent(priority: int) -> bool:
    """At-once reports and their confirmations: retried within seconds, not minutes."""
    return priority <= Priority.AT_ONCE


def template_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(spec.template_for(kind) for kind, spec in KINDS.items()))
