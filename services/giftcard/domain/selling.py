"""From stock to sold cards and back-office actions on them, beyond what `states`,
`approvals` and `after_sale` decide: a requisition's whole life (cancelled by its requester,
closed once no card is left drawn), which cards a requisition's lines take, sales and their
amounts, deciding (rejecting) a request, the cause of a replacement, and which stock cards an
exchange may give.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .after_sale import CardFacts, cancel_defective, exchange, refund_card
from .amounts import amount_problem
from .approvals import ApprovalStatus, Role
from .refusals import FieldProblem, Refusal
from .states import (
    CardOperation,
    CardState,
    RequisitionOperation,
    RequisitionState,
    card_refusal,
    card_transition,
    requisition_transition,
)

MAX_LINES = 50
MAX_REQUISITION_CARDS = 10_000
MAX_EXCHANGE_CARDS = 100


# --- requisitions ---------------------------------------------------------------------------
class RequisitionStage(StrEnum):
    """A requisition's state (the requisitions.state column): the domain's states
    (`states.RequisitionState`, same values) and the two ends they do not name."""

    REQUESTED = RequisitionState.REQUESTED.value
    APPROVED = RequisitionState.APPROVED.value
    REJECTED = RequisitionState.REJECTED.value
    FULFILLED = RequisitionState.FULFILLED.value
    CLOSED = "closed"  # no card of it left drawn (sold, returned, exchanged or cancelled)
    CANCELLED = "cancelled"  # withdrawn by its requester before fulfilment


class RequisitionStep(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    FULFIL = "fulfil"
    CANCEL = "cancel"
    SELL = "sell"
    RETURN = "return"


_CORE = {
    RequisitionStep.APPROVE: RequisitionOperation.APPROVE,
    RequisitionStep.REJECT: RequisitionOperation.REJECT,
    RequisitionStep.FULFIL: RequisitionOperation.FULFIL,
}


def _requisition_refused(reason: str, stage: RequisitionStage, step: RequisitionStep) -> Refusal:
    return Refusal(
        reason,
        f"cannot {step.value} a requisition that is {stage.value}",
        metadata={"state": stage.value, "operation": step.value},
    )


def requisition_refusal(stage: RequisitionStage, step: RequisitionStep) -> Refusal | None:
    """Why `step` is not allowed on a requisition in `stage` (None when it is)."""
    if step is RequisitionStep.CANCEL:
        if stage in (RequisitionStage.REQUESTED, RequisitionStage.APPROVED):
            return None
        return _requisition_refused("REQUISITION_NOT_CANCELLABLE", stage, step)
    if stage is RequisitionStage.CLOSED:
        return _requisition_refused("REQUISITION_CLOSED", stage, step)
    if stage is RequisitionStage.CANCELLED:
        return _requisition_refused("REQUISITION_CANCELLED", stage, step)
    if step in _CORE:
        moved = requisition_transition(RequisitionState(stage.value), _CORE[step])
        return moved if isinstance(moved, Refusal) else None
    if stage is not RequisitionStage.FULFILLED:
        return _requisition_refused("REQUISITION_NOT_FULFILLED", stage, step)
    return None


@dataclass(frozen=True)
class Line:
    """What a requisition draws: `card_count` cards of a product and face value."""

    product_id: uuid.UUID
    face_value_minor: int
    card_count: int


@dataclass(frozen=True)
class StockCard:
    """What fulfilment, sales and returns look at of a card."""

    card_id: uuid.UUID
    product_id: uuid.UUID
    face_value_minor: int
    state: CardState
    requisition_id: uuid.UUID | None
    set_aside: bool  # reserved for a pending exchange (after_sale_id set)


def line_of(lines: Sequence[Line], card: StockCard) -> int | None:
    """The index of the line that wants cards like `card`."""
    for i, line in enumerate(lines):
        if line.product_id == card.product_id and line.face_value_minor == card.face_value_minor:
            return i
    return None


def duplicate_line(lines: Sequence[Line]) -> tuple[int, int] | None:
    """The first pair of lines asking for the same product and face value (one line should)."""
    seen: dict[tuple[uuid.UUID, int], int] = {}
    for i, line in enumerate(lines):
        key = (line.product_id, line.face_value_minor)
        if key in seen:
            return seen[key], i
        seen[key] = i
    return None


def fulfilment_problems(
    lines: Sequence[Line], cards: Sequence[StockCard], field: str = "card_numbers"
) -> list[FieldProblem]:
    """The cards handed over for `lines`, in the order listed: each READY, not set aside,
    listed once and wanted by a line; every line's count met exactly."""
    problems: list[FieldProblem] = []
    taken = [0] * len(lines)
    seen: set[uuid.UUID] = set()
    for i, card in enumerate(cards):
        where = f"{field}[{i}]"
        if card.card_id in seen:
            problems.append(FieldProblem(where, "listed twice", "REQUISITION_CARDS_MISMATCH"))
            continue
        seen.add(card.card_id)
        refusal = card_refusal(card.state, CardOperation.REQUISITION)
        if refusal:
            problems.append(
                FieldProblem(where, f"not ready ({card.state.value})", "REQUISITION_CARDS_MISMATCH")
            )
            continue
        if card.set_aside:
            problems.append(
                FieldProblem(where, "set aside for an exchange", "REQUISITION_CARDS_MISMATCH")
            )
            continue
        index = line_of(lines, card)
        if index is None or taken[index] >= lines[index].card_count:
            problems.append(
                FieldProblem(where, "not wanted by any line", "REQUISITION_CARDS_MISMATCH")
            )
            continue
        taken[index] += 1
    for i, line in enumerate(lines):
        if taken[i] < line.card_count and not problems:
            problems.append(
                FieldProblem(
                    field,
                    f"line {i} wants {line.card_count} cards, {taken[i]} listed",
                    "REQUISITION_CARDS_MISMATCH",
                )
            )
    return problems


def drawn_problem(card: StockCard, requisition_id: uuid.UUID, field: str) -> FieldProblem | None:
    """A card sold or returned by a requisition must be drawn by it and still unsold."""
    if card.requisition_id != requisition_id:
        return FieldProblem(field, "not drawn by this requisition", "CARD_NOT_IN_REQUISITION")
    if card.state is not CardState.REQUISITIONED:
        return FieldProblem(
            field, f"no longer drawn ({card.state.value})", "CARD_NOT_IN_REQUISITION"
        )
    if card.set_aside:
        return FieldProblem(field, "set aside for an exchange", "CARD_NOT_IN_REQUISITION")
    return None


def sale_problem(paid_minor: int, face_total_minor: int) -> FieldProblem | None:
    """Money received for the cards: positive, at most their face values (less for a
    discounted bulk sale)."""
    problem = amount_problem(paid_minor, "paid_amount_minor")
    if problem:
        return problem
    if paid_minor > face_total_minor:
        return FieldProblem(
            "paid_amount_minor",
            f"at most the cards' face values, {face_total_minor}",
            "SALE_AMOUNT_EXCEEDS_FACE_VALUE",
        )
    return None


# --- deciding requests ----------------------------------------------------------------------
def decision_refusal(
    requester: str,
    approvers: Collection[str],
    caller: str,
    caller_roles: Collection[Role],
    status: ApprovalStatus,
) -> Refusal | None:
    """Rejecting a request: by someone who could approve it now (a pending role), never its
    requester nor someone who approved it already (they decided)."""
    if caller == requester:
        return Refusal("SELF_APPROVAL", "nobody decides their own request")
    if caller in approvers:
        return Refusal("ALREADY_APPROVED", "this person has approved already", {"approver": caller})
    if not status.missing & frozenset(caller_roles):
        pending = ",".join(sorted(r.value for r in status.missing))
        return Refusal(
            "ROLE_NOT_HELD", f"deciding needs a pending role: {pending}", {"role": pending}
        )
    return None


# --- after-sale -----------------------------------------------------------------------------
class AfterSaleKind(StrEnum):
    REFUND = "refund"  # 退卡
    EXCHANGE = "exchange"  # 调换


class AfterSaleStage(StrEnum):
    """The after_sales.state column."""

    PENDING = "pending_approval"
    COMPLETED = "completed"
    REJECTED = "rejected"


def after_sale_refusal(stage: AfterSaleStage) -> Refusal | None:
    """Approving or rejecting needs a request still pending."""
    if stage is AfterSaleStage.PENDING:
        return None
    return Refusal(
        "AFTER_SALE_NOT_PENDING",
        f"the request is {stage.value}",
        metadata={"state": stage.value},
    )


_COMPLETE = ApprovalStatus(frozenset(), frozenset())


def returnable(kind: AfterSaleKind, card: CardFacts, pending_request: bool, now) -> int | Refusal:
    """Whether a card may be asked back (refund or exchange), approvals aside: the amount
    (its whole balance) or why not. One request at a time per card."""
    if pending_request:
        return Refusal("AFTER_SALE_PENDING", "another request is pending on the card")
    rule = refund_card if kind is AfterSaleKind.REFUND else exchange
    return rule(card, _COMPLETE, now)


def carried_out(
    kind: AfterSaleKind, card: CardFacts, approval: ApprovalStatus, amount_minor: int, now
) -> int | Refusal:
    """The request's last approval carries it out: the domain's rule again, with the
    approvals given, and the amount asked for must still be the card's."""
    rule = refund_card if kind is AfterSaleKind.REFUND else exchange
    result = rule(card, approval, now)
    if isinstance(result, int) and result != amount_minor:
        return Refusal(
            "CARD_BALANCE_CHANGED",
            "the card's balance is no longer the amount asked for",
            metadata={"amount_minor": str(amount_minor), "balance_minor": str(result)},
        )
    return result


@dataclass(frozen=True)
class ExchangeStock:
    """A stock card offered in an exchange."""

    card: StockCard
    currency_code: str
    requisition_fulfilled: bool  # for a REQUISITIONED card: its requisition is FULFILLED


def exchange_problems(
    returned_id: uuid.UUID,
    currency_code: str,
    amount_minor: int,
    stock: Sequence[ExchangeStock],
    field: str = "exchange_card_numbers",
) -> list[FieldProblem]:
    """The cards given for a returned one: each READY (or drawn by a fulfilled requisition),
    not set aside, in the returned card's currency, listed once; their face values add up to
    the returned card's balance."""
    problems: list[FieldProblem] = []
    seen: set[uuid.UUID] = set()
    for i, offered in enumerate(stock):
        where, card = f"{field}[{i}]", offered.card
        why = ""
        if card.card_id == returned_id:
            why = "the returned card itself"
        elif card.card_id in seen:
            why = "listed twice"
        elif card.state is CardState.REQUISITIONED and not offered.requisition_fulfilled:
            why = "drawn by a requisition not fulfilled"
        elif card.state not in (CardState.READY, CardState.REQUISITIONED):
            why = f"not in stock ({card.state.value})"
        elif card.set_aside:
            why = "set aside for another request"
        elif offered.currency_code != currency_code:
            why = f"in {offered.currency_code}, not {currency_code}"
        seen.add(card.card_id)
        if why:
            problems.append(FieldProblem(where, why, "EXCHANGE_CARD_NOT_AVAILABLE"))
    if problems:
        return problems
    total = sum(s.card.face_value_minor for s in stock)
    if total != amount_minor:
        problems.append(
            FieldProblem(
                field,
                f"face values add up to {total}, the card's balance is {amount_minor}",
                "EXCHANGE_AMOUNT_MISMATCH",
            )
        )
    return problems


def given_in_exchange(state: CardState) -> CardState | Refusal:
    """A stock card given in an exchange is drawn and sold at once: READY → REQUISITIONED →
    ACTIVE (a drawn card only the last step)."""
    if state is CardState.READY:
        drawn = card_transition(state, CardOperation.REQUISITION)
        if isinstance(drawn, Refusal):
            return drawn
        state = drawn
    return card_transition(state, CardOperation.SELL)


# --- card administration --------------------------------------------------------------------
class ReplacementCause(StrEnum):
    DAMAGED = "damaged"  # 补磁/换卡: the holder brings the card
    LOST = "lost"  # after a loss report (挂失)


def cause_refusal(cause: ReplacementCause, state: CardState) -> Refusal | None:
    """A lost card is replaced as lost, a card in hand as damaged; the rest is the domain's
    `after_sale.replace`."""
    if cause is ReplacementCause.LOST and state is not CardState.LOST:
        return Refusal(
            "CARD_NOT_REPORTED_LOST",
            "a card is replaced as lost only after a loss report",
            metadata={"state": state.value},
        )
    if cause is ReplacementCause.DAMAGED and state is CardState.LOST:
        return Refusal(
            "CARD_REPORTED_LOST",
            "a card reported lost is replaced with cause LOST",
            metadata={"state": state.value},
        )
    return None


def cancel_refusal(
    state: CardState, reason: str, set_aside: bool
) -> CardState | Refusal | FieldProblem:
    """注销/废卡 of defective stock (`after_sale.cancel_defective`), except a card whose load
    awaits review (the reviewer rejects the load first, so the load and its reversal stay
    whole) and a card set aside for an exchange."""
    decided = cancel_defective(state, reason)
    if not isinstance(decided, CardState):
        return decided
    if state is CardState.LOADED:
        return Refusal(
            "CARD_LOAD_PENDING_REVIEW",
            "the card's load awaits review: reject the load first",
            metadata={"state": state.value},
        )
    if set_aside:
        return Refusal("AFTER_SALE_PENDING", "the card is set aside for an exchange")
    return decided
