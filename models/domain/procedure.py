"""The case procedure (004): 申请 → 受理 → 调查 → 处理 → 结案 → 回访, as a small state machine.

Moves go forward only. The answer (答复) is recorded separately from the status: it can be
given while the case is being investigated or handled, and it stops the response clock. A case
is closed only once it has been answered (处理有结果). The clock can be paused for a reason
from a fixed list and resumed; the paused working days extend the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.domain.errors import InputError


class Status(StrEnum):
    ACCEPTED = "accepted"  # 受理
    INVESTIGATING = "investigating"  # 调查
    HANDLING = "handling"  # 处理
    CLOSED = "closed"  # 结案
    VISITING = "visiting"  # 回访 (return visits continue after closing)
    NOT_ACCEPTED = "not_accepted"  # 不予受理 / 转办他处, at the 申请/受理 stage


STATUS_LABELS = {
    Status.ACCEPTED: "受理",
    Status.INVESTIGATING: "调查",
    Status.HANDLING: "处理",
    Status.CLOSED: "结案",
    Status.VISITING: "回访",
    Status.NOT_ACCEPTED: "不予受理",
}

# A case in these states owes no answer and runs no clock: no reminders, no escalation, and
# it is on no list of work (due_items).
SETTLED = frozenset({Status.CLOSED, Status.VISITING, Status.NOT_ACCEPTED})

FORWARD: dict[Status, frozenset[Status]] = {
    Status.ACCEPTED: frozenset({Status.INVESTIGATING, Status.HANDLING, Status.CLOSED,
                                Status.NOT_ACCEPTED}),
    Status.INVESTIGATING: frozenset({Status.HANDLING, Status.CLOSED}),
    Status.HANDLING: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset({Status.VISITING}),
    Status.VISITING: frozenset(),
    Status.NOT_ACCEPTED: frozenset(),
}


class PauseReason(StrEnum):
    AWAITING_UPPER_LEVEL = "awaiting_upper_level"
    AWAITING_DEPARTMENT = "awaiting_department"
    VICTIM_UNREACHABLE = "victim_unreachable"
    VICTIM_REQUESTED_DELAY = "victim_requested_delay"
    AWAITING_APPRAISAL = "awaiting_appraisal"


PAUSE_LABELS = {
    PauseReason.AWAITING_UPPER_LEVEL: "等待上级答复",
    PauseReason.AWAITING_DEPARTMENT: "等待相关部门反馈",
    PauseReason.VICTIM_UNREACHABLE: "当事人无法联系",
    PauseReason.VICTIM_REQUESTED_DELAY: "当事人要求暂缓",
    PauseReason.AWAITING_APPRAISAL: "等待鉴定、评估结果",
}


class IllegalMoveError(InputError):
    """A move the procedure does not allow in the case's state; the case is the field."""

    def __init__(self, *, case_number: str, move: str, reason: str) -> None:
        super().__init__(field=case_number, reason=f"不能{move}：{reason}")
        self.move = move


@dataclass(frozen=True)
class CaseState:
    number: str
    status: Status
    answered: bool
    paused: bool


def check_move(state: CaseState, *, to: Status) -> None:
    if to == state.status:
        raise IllegalMoveError(case_number=state.number, move=f"转为{STATUS_LABELS[to]}",
                               reason=f"个案已处于{STATUS_LABELS[to]}阶段")
    if to not in FORWARD[state.status]:
        raise IllegalMoveError(
            case_number=state.number, move=f"转为{STATUS_LABELS[to]}",
            reason=f"{STATUS_LABELS[state.status]}阶段的个案"
            + ("只能转为" + "、".join(STATUS_LABELS[s] for s in sorted(FORWARD[state.status]))
               if FORWARD[state.status] else "程序已结束，不能再变更"))
    if to == Status.CLOSED and not state.answered:
        raise IllegalMoveError(case_number=state.number, move="结案",
                               reason="请先登记答复")


def check_answer(state: CaseState) -> None:
    if state.answered:
        raise IllegalMoveError(case_number=state.number, move="登记答复",
                               reason="答复已登记")
    if state.status in SETTLED:
        raise IllegalMoveError(case_number=state.number, move="登记答复",
                               reason=f"个案处于{STATUS_LABELS[state.status]}阶段")


def check_pause(state: CaseState) -> None:
    if state.paused:
        raise IllegalMoveError(case_number=state.number, move="暂停计时",
                               reason="已在暂停计时中")
    if state.answered or state.status in SETTLED:
        raise IllegalMoveError(case_number=state.number, move="暂停计时",
                               reason="答复期限已停止计时（已答复或已办结）")


def check_resume(state: CaseState) -> None:
    if not state.paused:
        raise IllegalMoveError(case_number=state.number, move="恢复计时",
                               reason="未暂停计时")
