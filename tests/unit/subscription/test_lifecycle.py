"""Every operation in every state, allowed or refused with its reason; the multiplier's states;
what frozen and closed members may do.

The table below is the specification written out by hand: a cell is the state an operation
leads to (">state") or the reason it is refused.
"""

from __future__ import annotations

import pytest

from services.kit.refusals import Refusal
from services.subscription.domain import lifecycle
from services.subscription.domain.lifecycle import (
    MemberAction,
    MemberStatus,
    Operation,
    State,
    member_refusal,
)

COLUMNS = "pending_payment active     grace      expired refunded cancelled"
CODES = {
    "PP": "SUBSCRIPTION_PENDING_PAYMENT",
    "PA": "PAYMENT_ALREADY_CONFIRMED",
    "EX": "SUBSCRIPTION_EXPIRED",
    "RF": "SUBSCRIPTION_REFUNDED",
    "CN": "SUBSCRIPTION_CANCELLED",
    "IG": "SUBSCRIPTION_IN_GRACE",
    "AR": "SUBSCRIPTION_ALREADY_REFUNDED",
    "NA": "NO_ACTIVE_SUBSCRIPTION",
}
TABLE = """
confirm_payment  >active         PA         PA         EX      RF       CN
fail_payment     >cancelled      PA         PA         EX      RF       CN
abandon          >cancelled      PA         PA         EX      RF       CN
extend           PP              >active    >active    EX      RF       CN
request_renewal  PP              >active    >grace     EX      RF       CN
renew            PP              >active    >active    EX      RF       CN
fail_renewal     PP              >grace     >grace     EX      RF       CN
expire           PP              >expired   >expired   EX      RF       CN
cancel           PP              >active    >grace     EX      RF       CN
resume           PP              >active    >grace     EX      RF       CN
change_plan      PP              >active    IG         EX      RF       CN
claim            NA              >active    >grace     NA      NA       NA
refund           PP              >refunded  >refunded  EX      AR       CN
close            >cancelled      >cancelled >cancelled EX      RF       CN
"""


def _cases():
    columns = [State(c) for c in COLUMNS.split()]
    for line in TABLE.strip().splitlines():
        op, *cells = line.split()
        assert len(cells) == len(columns), op
        for state, cell in zip(columns, cells, strict=True):
            yield Operation(op), state, cell


CASES = list(_cases())


def test_the_table_covers_every_operation_and_state():
    assert {(op, s) for op, s, _ in CASES} == {(op, s) for op in Operation for s in State}


@pytest.mark.parametrize(("op", "state", "cell"), CASES)
def test_moves(op, state, cell):
    result = lifecycle.transition(state, op)
    if cell.startswith(">"):
        assert result is State(cell[1:])
        assert lifecycle.refusal(state, op) is None
    else:
        assert isinstance(result, Refusal)
        assert result.reason == CODES[cell]
        assert result.metadata == {"state": state.value, "operation": op.value}
        assert not result.quota  # a state forbids it: FAILED_PRECONDITION
        assert lifecycle.refusal(state, op) == result


def test_final_states_allow_nothing():
    for state in lifecycle.FINAL:
        assert all(lifecycle.refusal(state, op) for op in Operation), state


def test_the_state_groups_partition_the_states():
    assert lifecycle.LIVE | lifecycle.FINAL == set(State)
    assert not lifecycle.LIVE & lifecycle.FINAL


def test_the_multiplier_applies_in_active_and_grace_only():
    assert {s for s in State if lifecycle.gives_multiplier(s)} == {State.ACTIVE, State.GRACE}
    # …which are exactly the states a claim is allowed in.
    assert {s for s in State if not lifecycle.refusal(s, Operation.CLAIM)} == lifecycle.MULTIPLYING


def test_the_happy_path_and_the_unhappy_one():
    state = State.PENDING_PAYMENT
    for op in ("confirm_payment", "renew", "fail_renewal", "renew", "cancel", "expire"):
        state = lifecycle.transition(state, Operation(op))
    assert state is State.EXPIRED
    state = State.ACTIVE
    for op in ("fail_renewal", "fail_renewal", "claim", "expire"):
        state = lifecycle.transition(state, Operation(op))
    assert state is State.EXPIRED


def test_state_values_are_the_column_values():
    assert [s.value for s in State] == [
        "pending_payment",
        "active",
        "grace",
        "expired",
        "refunded",
        "cancelled",
    ]


# --- members ------------------------------------------------------------------------------------
FROZEN_REFUSES = {
    MemberAction.BUY,
    MemberAction.REDEEM,
    MemberAction.CLAIM,
    MemberAction.RENEW,
    MemberAction.RESUME,  # it asks for a charge
}


@pytest.mark.parametrize("action", list(MemberAction))
def test_what_members_may_do(action):
    assert member_refusal(MemberStatus.ACTIVE, action) is None
    closed = member_refusal(MemberStatus.CLOSED, action)
    assert closed is not None and closed.reason == "MEMBER_CLOSED"
    frozen = member_refusal(MemberStatus.FROZEN, action)
    if action in FROZEN_REFUSES:
        assert frozen == Refusal("MEMBER_FROZEN", "the member is frozen", {"action": action.value})
    else:
        # Stopping payments and refunds stay possible for a frozen member.
        assert frozen is None
