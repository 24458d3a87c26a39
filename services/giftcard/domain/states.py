"""The life of a card and of a requisition (a batch's: domain/stock.py): states, the moves between them, and a
precise reason for every move a state does not allow.

Card (the procedure 定制 → 开户/充值 → 复核 → 领用 → 销售, then use and after-sale):

    issued ─load→ loaded ─review→ ready ─requisition→ requisitioned ─sell→ active
    requisitioned ─return_to_stock→ ready (a desk hands back what it did not sell)
    active ─freeze→ frozen ─unfreeze→ active
    active ─report_lost→ lost ─cancel_loss_report→ active
    active | lost ─replace→ replaced (the balance moves to a blank card: issued ─receive_replacement→ active)
    active ─refund_card→ refunded;  active ─exchange→ exchanged
    issued | loaded | ready | requisitioned ─cancel→ cancelled (defective stock)
    issued ─void→ voided (its secret was never exported)
    active | frozen | lost ─expire→ expired
    active ─hold | redeem→ active;  active | frozen | lost ─extend_validity→ the same state

Refunded, exchanged, replaced, cancelled, voided and expired are final. Only `active` spends.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .refusals import Refusal


class CardState(StrEnum):
    """The values are the cards.state column's."""

    ISSUED = "issued"  # generated, secret exported, no value
    LOADED = "loaded"  # value loaded (开户/充值), awaiting review
    READY = "ready"  # reviewed (复核), in stock, not spendable
    REQUISITIONED = "requisitioned"  # drawn by a desk or for a bulk buyer (领用), not spendable
    ACTIVE = "active"  # sold (销售), spendable
    FROZEN = "frozen"  # 冻结 by an operator
    LOST = "lost"  # 挂失 by the owner: frozen until cancelled or replaced
    EXPIRED = "expired"  # past its validity; the balance was breakage
    REFUNDED = "refunded"  # 退卡
    EXCHANGED = "exchanged"  # 调换
    REPLACED = "replaced"  # 补磁/换卡: its balance moved to another card
    CANCELLED = "cancelled"  # 注销/废卡: defective stock
    VOIDED = "voided"  # never exported, or its export was interrupted


class CardOperation(StrEnum):
    LOAD = "load"
    REVIEW = "review"
    REQUISITION = "requisition"
    RETURN_TO_STOCK = "return_to_stock"
    SELL = "sell"
    HOLD = "hold"
    REDEEM = "redeem"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    REPORT_LOST = "report_lost"
    CANCEL_LOSS_REPORT = "cancel_loss_report"
    REPLACE = "replace"
    RECEIVE_REPLACEMENT = "receive_replacement"
    REFUND_CARD = "refund_card"
    EXCHANGE = "exchange"
    CANCEL = "cancel"
    EXPIRE = "expire"
    EXTEND_VALIDITY = "extend_validity"
    VOID = "void"


_S, _Op = CardState, CardOperation
CARD_TRANSITIONS: Mapping[CardOperation, Mapping[CardState, CardState]] = {
    _Op.LOAD: {_S.ISSUED: _S.LOADED},
    _Op.REVIEW: {_S.LOADED: _S.READY},
    _Op.REQUISITION: {_S.READY: _S.REQUISITIONED},
    _Op.RETURN_TO_STOCK: {_S.REQUISITIONED: _S.READY},
    _Op.SELL: {_S.REQUISITIONED: _S.ACTIVE},
    _Op.HOLD: {_S.ACTIVE: _S.ACTIVE},
    _Op.REDEEM: {_S.ACTIVE: _S.ACTIVE},
    _Op.FREEZE: {_S.ACTIVE: _S.FROZEN},
    _Op.UNFREEZE: {_S.FROZEN: _S.ACTIVE},
    # Only from active, so that cancelling the report has one state to return to.
    _Op.REPORT_LOST: {_S.ACTIVE: _S.LOST},
    _Op.CANCEL_LOSS_REPORT: {_S.LOST: _S.ACTIVE},
    # A frozen card is not replaced: the freeze is an operator's decision to stop the card,
    # which a replacement would get round; unfreeze first.
    _Op.REPLACE: {_S.ACTIVE: _S.REPLACED, _S.LOST: _S.REPLACED},
    _Op.RECEIVE_REPLACEMENT: {_S.ISSUED: _S.ACTIVE},
    _Op.REFUND_CARD: {_S.ACTIVE: _S.REFUNDED},
    _Op.EXCHANGE: {_S.ACTIVE: _S.EXCHANGED},
    # A sold card with value is replaced or refunded, never cancelled: cancelling would make
    # the buyer's money vanish.
    _Op.CANCEL: {s: _S.CANCELLED for s in (_S.ISSUED, _S.LOADED, _S.READY, _S.REQUISITIONED)},
    # Validity runs from the sale, so stock never expires.
    _Op.EXPIRE: {_S.ACTIVE: _S.EXPIRED, _S.FROZEN: _S.EXPIRED, _S.LOST: _S.EXPIRED},
    # An expired card stays expired: its balance was reported as breakage in a closed day.
    _Op.EXTEND_VALIDITY: {_S.ACTIVE: _S.ACTIVE, _S.FROZEN: _S.FROZEN, _S.LOST: _S.LOST},
    _Op.VOID: {_S.ISSUED: _S.VOIDED},
}

CLOSED = frozenset({_S.REFUNDED, _S.EXCHANGED, _S.REPLACED, _S.CANCELLED, _S.VOIDED})
IN_STOCK = frozenset({_S.ISSUED, _S.LOADED, _S.READY, _S.REQUISITIONED})
SOLD = frozenset({_S.ACTIVE, _S.FROZEN, _S.LOST, _S.EXPIRED})
FINAL = CLOSED | {_S.EXPIRED}

# How far a card got in the procedure; a sold card in any state counts as the last step.
_STAGE = {_S.ISSUED: 0, _S.LOADED: 1, _S.READY: 2, _S.REQUISITIONED: 3} | {s: 4 for s in SOLD}
_NOT_YET = {0: "CARD_NOT_LOADED", 1: "CARD_NOT_REVIEWED", 2: "CARD_NOT_REQUISITIONED"}
_ALREADY = {3: "CARD_ALREADY_REQUISITIONED", 4: "CARD_ALREADY_SOLD"}
# The procedure's steps: the stage each starts from, and what to say of a card past it.
_STEPS: Mapping[CardOperation, tuple[int, str | None]] = {
    _Op.LOAD: (0, "CARD_ALREADY_LOADED"),
    _Op.VOID: (0, "CARD_ALREADY_LOADED"),
    _Op.RECEIVE_REPLACEMENT: (0, "REPLACEMENT_NOT_BLANK"),
    _Op.REVIEW: (1, "CARD_ALREADY_REVIEWED"),
    _Op.REQUISITION: (2, None),
    _Op.RETURN_TO_STOCK: (3, None),
    _Op.SELL: (3, None),
    _Op.CANCEL: (0, None),
}
# What a sold card's own state says when it forbids an operation.
_SOLD_STATE = {
    _S.ACTIVE: "CARD_ACTIVE",
    _S.FROZEN: "CARD_FROZEN",
    _S.LOST: "CARD_REPORTED_LOST",
    _S.EXPIRED: "CARD_EXPIRED",
}
_SPECIFIC = {
    (_Op.FREEZE, _S.FROZEN): "CARD_ALREADY_FROZEN",
    (_Op.UNFREEZE, _S.ACTIVE): "CARD_NOT_FROZEN",
    (_Op.REPORT_LOST, _S.LOST): "CARD_ALREADY_REPORTED_LOST",
    (_Op.CANCEL_LOSS_REPORT, _S.ACTIVE): "CARD_NOT_REPORTED_LOST",
    (_Op.CANCEL_LOSS_REPORT, _S.FROZEN): "CARD_NOT_REPORTED_LOST",
}


def _card_reason(state: CardState, op: CardOperation) -> str:
    if state in CLOSED:
        return "CARD_CLOSED"
    if (op, state) in _SPECIFIC:
        return _SPECIFIC[(op, state)]
    stage = _STAGE[state]
    if op in _STEPS:
        start, ahead = _STEPS[op]
        if stage < start:
            return _NOT_YET[stage]
        return ahead or _ALREADY[stage]
    if state in IN_STOCK:
        return "CARD_NOT_ACTIVE"
    return _SOLD_STATE[state]


def card_refusal(state: CardState, op: CardOperation) -> Refusal | None:
    """Why `op` is not allowed on a card in `state`, or None when it is."""
    if state in CARD_TRANSITIONS[op]:
        return None
    return Refusal(
        _card_reason(state, op),
        f"cannot {op.value.replace('_', ' ')} a card that is {state.value}",
        metadata={"state": state.value, "operation": op.value},
    )


def card_transition(state: CardState, op: CardOperation) -> CardState | Refusal:
    """The state after `op`, or why it is refused."""
    return card_refusal(state, op) or CARD_TRANSITIONS[op][state]


# --- requisitions ------------------------------------------------------------------------
class RequisitionState(StrEnum):
    """requested → approved (when the policy has nothing missing, after one approval or
    several) → fulfilled; requested → rejected. The values are the requisitions.state
    column's."""

    REQUESTED = "requested"
    APPROVED = "approved"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class RequisitionOperation(StrEnum):
    APPROVE = "approve"  # one approval; the state moves when none is missing
    REJECT = "reject"
    FULFIL = "fulfil"


_R, _ROp = RequisitionState, RequisitionOperation
_REQUISITION_REFUSALS: Mapping[tuple[RequisitionOperation, RequisitionState], str] = {
    (_ROp.APPROVE, _R.APPROVED): "REQUISITION_ALREADY_DECIDED",
    (_ROp.APPROVE, _R.FULFILLED): "REQUISITION_ALREADY_DECIDED",
    (_ROp.APPROVE, _R.REJECTED): "REQUISITION_REJECTED",
    (_ROp.REJECT, _R.APPROVED): "REQUISITION_ALREADY_DECIDED",
    (_ROp.REJECT, _R.FULFILLED): "REQUISITION_ALREADY_DECIDED",
    (_ROp.REJECT, _R.REJECTED): "REQUISITION_REJECTED",
    (_ROp.FULFIL, _R.REQUESTED): "REQUISITION_NOT_APPROVED",
    (_ROp.FULFIL, _R.FULFILLED): "REQUISITION_ALREADY_FULFILLED",
    (_ROp.FULFIL, _R.REJECTED): "REQUISITION_REJECTED",
}


def requisition_transition(
    state: RequisitionState, op: RequisitionOperation, *, approvals_complete: bool = True
) -> RequisitionState | Refusal:
    """The state after `op`. An approval that leaves a role missing keeps the requisition
    requested (`approvals_complete` False); the approval itself is still recorded."""
    reason = _REQUISITION_REFUSALS.get((op, state))
    if reason:
        return Refusal(
            reason,
            f"cannot {op.value} a requisition that is {state.value}",
            metadata={"state": state.value, "operation": op.value},
        )
    if op is _ROp.APPROVE:
        return _R.APPROVED if approvals_complete else _R.REQUESTED
    return _R.REJECTED if op is _ROp.REJECT else _R.FULFILLED
