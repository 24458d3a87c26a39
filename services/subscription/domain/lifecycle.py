"""The life of a subscription: states, the operations that move it, and a precise reason for
every operation a state does not allow. (The record and the operations' arithmetic are in
subscriptions.py; this is the table they consult first.)

    pending_payment ─confirm_payment→ active          (a trial, code or gift starts active)
    pending_payment ─fail_payment | abandon | close→ cancelled (never paid)
    active ─renew | extend | request_renewal | cancel | resume | change_plan | claim→ active
    active ─fail_renewal→ grace ─renew | extend→ active
    grace ─fail_renewal | request_renewal | cancel | resume | claim→ grace
    active | grace ─expire→ expired
    active | grace ─refund→ refunded
    active | grace ─close→ cancelled (with the refund the formula gives)

`cancel` is the member's word (and the event's, `subscription.cancelled`): it turns auto-renew
off and the subscription runs to its end; no state changes. The *state* `cancelled` is an end
before term: an order never paid, or a member closed. Expired, refunded and cancelled are
final: a new purchase is a new subscription.

The points multiplier (and every benefit) applies in `active` and `grace`: grace is a courtesy
while a failed renewal is retried, and taking the benefits away for a card declined once would
punish the member for the bank's hiccup.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from services.kit.refusals import Refusal


class State(StrEnum):
    """The values are the subscriptions.state column's."""

    PENDING_PAYMENT = "pending_payment"
    ACTIVE = "active"
    GRACE = "grace"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class Operation(StrEnum):
    CONFIRM_PAYMENT = "confirm_payment"  # the first order's payment confirmed
    FAIL_PAYMENT = "fail_payment"  # the first order's payment failed
    ABANDON = "abandon"  # the first order withdrawn, or its payment window passed
    EXTEND = "extend"  # a purchase, code or gift while live: a term after the last
    REQUEST_RENEWAL = "request_renewal"  # the renewal job asks for a charge (or a retry)
    RENEW = "renew"  # the renewal charge succeeded
    FAIL_RENEWAL = "fail_renewal"  # the renewal charge failed, or the period ended unpaid
    EXPIRE = "expire"  # the period (or grace) ended
    CANCEL = "cancel"  # auto-renew off
    RESUME = "resume"  # auto-renew on again, before the end
    CHANGE_PLAN = "change_plan"  # now (pro-rata credit) or at the next renewal
    CLAIM = "claim"  # a benefit of the plan
    REFUND = "refund"
    CLOSE = "close"  # the member was closed


_S, _Op = State, Operation
LIVE = frozenset({_S.PENDING_PAYMENT, _S.ACTIVE, _S.GRACE})
FINAL = frozenset({_S.EXPIRED, _S.REFUNDED, _S.CANCELLED})
# States in which the member has the points multiplier and the benefits.
MULTIPLYING = frozenset({_S.ACTIVE, _S.GRACE})

_RUNNING = {_S.ACTIVE: _S.ACTIVE, _S.GRACE: _S.GRACE}  # allowed in both, state unchanged
TRANSITIONS: Mapping[Operation, Mapping[State, State]] = {
    _Op.CONFIRM_PAYMENT: {_S.PENDING_PAYMENT: _S.ACTIVE},
    _Op.FAIL_PAYMENT: {_S.PENDING_PAYMENT: _S.CANCELLED},
    _Op.ABANDON: {_S.PENDING_PAYMENT: _S.CANCELLED},
    # A purchase in grace pays the renewal that failed: the new term starts at the old end.
    _Op.EXTEND: {_S.ACTIVE: _S.ACTIVE, _S.GRACE: _S.ACTIVE},
    _Op.REQUEST_RENEWAL: _RUNNING,
    _Op.RENEW: {_S.ACTIVE: _S.ACTIVE, _S.GRACE: _S.ACTIVE},
    _Op.FAIL_RENEWAL: {_S.ACTIVE: _S.GRACE, _S.GRACE: _S.GRACE},
    _Op.EXPIRE: {_S.ACTIVE: _S.EXPIRED, _S.GRACE: _S.EXPIRED},
    _Op.CANCEL: _RUNNING,
    _Op.RESUME: _RUNNING,
    # In grace a renewal is owed: settle it first, then change what the next one charges.
    _Op.CHANGE_PLAN: {_S.ACTIVE: _S.ACTIVE},
    _Op.CLAIM: _RUNNING,
    _Op.REFUND: {_S.ACTIVE: _S.REFUNDED, _S.GRACE: _S.REFUNDED},
    _Op.CLOSE: {s: _S.CANCELLED for s in LIVE},
}

# What a state says when it forbids an operation, unless _SPECIFIC says better.
_STATE_REASON = {
    _S.PENDING_PAYMENT: "SUBSCRIPTION_PENDING_PAYMENT",
    _S.ACTIVE: "PAYMENT_ALREADY_CONFIRMED",  # only the first order's operations are refused
    _S.GRACE: "PAYMENT_ALREADY_CONFIRMED",
    _S.EXPIRED: "SUBSCRIPTION_EXPIRED",
    _S.REFUNDED: "SUBSCRIPTION_REFUNDED",
    _S.CANCELLED: "SUBSCRIPTION_CANCELLED",
}
_SPECIFIC = {
    (_Op.CHANGE_PLAN, _S.GRACE): "SUBSCRIPTION_IN_GRACE",
    (_Op.REFUND, _S.REFUNDED): "SUBSCRIPTION_ALREADY_REFUNDED",
}
# A claim names what it lacks the same way whatever the state: the member has no
# subscription giving benefits (the claim of a member with no subscription at all says so too).
NO_ACTIVE_SUBSCRIPTION = "NO_ACTIVE_SUBSCRIPTION"


def _reason(state: State, op: Operation) -> str:
    if op is _Op.CLAIM:
        return NO_ACTIVE_SUBSCRIPTION
    return _SPECIFIC.get((op, state)) or _STATE_REASON[state]


def refusal(state: State, op: Operation) -> Refusal | None:
    """Why `op` is not allowed on a subscription in `state`, or None when it is."""
    if state in TRANSITIONS[op]:
        return None
    return Refusal(
        _reason(state, op),
        f"cannot {op.value.replace('_', ' ')} a subscription that is {state.value.replace('_', ' ')}",
        metadata={"state": state.value, "operation": op.value},
    )


def transition(state: State, op: Operation) -> State | Refusal:
    """The state after `op`, or why it is refused."""
    return refusal(state, op) or TRANSITIONS[op][state]


def gives_multiplier(state: State) -> bool:
    return state in MULTIPLYING


# --- the member -------------------------------------------------------------------------
class MemberStatus(StrEnum):
    """As identity's events leave the member (member.frozen / unfrozen / closed)."""

    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class MemberAction(StrEnum):
    BUY = "buy"  # a purchase, a trial, a stacking order, a plan change now (its quote)
    REDEEM = "redeem"
    CLAIM = "claim"
    RENEW = "renew"  # the renewal job's charge
    CANCEL = "cancel"
    RESUME = "resume"
    REFUND = "refund"


# A frozen member keeps what they have but may not take more, nor be charged: a freeze is
# identity's "stop this account" and money must not move because of it. Turning auto-renew on
# again (resume) is refused too, since it asks for a charge (the contract's MEMBER_FROZEN on
# ResumeSubscription); turning it off, and a refund (an operator's decision), stay possible.
_FROZEN_BLOCKS = frozenset(
    {
        MemberAction.BUY,
        MemberAction.REDEEM,
        MemberAction.CLAIM,
        MemberAction.RENEW,
        MemberAction.RESUME,
    }
)


def member_refusal(status: MemberStatus, action: MemberAction) -> Refusal | None:
    """Whether a member in `status` may do `action` (a closed member may do nothing: their
    subscription is closed by the member.closed event)."""
    if status is MemberStatus.CLOSED:
        return Refusal("MEMBER_CLOSED", "the member is closed", {"action": action.value})
    if status is MemberStatus.FROZEN and action in _FROZEN_BLOCKS:
        return Refusal("MEMBER_FROZEN", "the member is frozen", {"action": action.value})
    return None
