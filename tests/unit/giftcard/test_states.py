"""Every move of a card and a requisition (batches: domain/stock.py), allowed or refused with its reason.

The tables below are the specification written out by hand: a cell is the state an operation
leads to (">state") or the reason it is refused.
"""

from __future__ import annotations

import pytest

from services.giftcard.domain import states
from services.giftcard.domain.refusals import Refusal
from services.giftcard.domain.states import (
    CardOperation,
    CardState,
    RequisitionOperation,
    RequisitionState,
)

COLUMNS = "issued loaded ready requisitioned active frozen lost expired refunded exchanged replaced cancelled voided"
CODES = {
    "NL": "CARD_NOT_LOADED",
    "NR": "CARD_NOT_REVIEWED",
    "NQ": "CARD_NOT_REQUISITIONED",
    "AL": "CARD_ALREADY_LOADED",
    "AR": "CARD_ALREADY_REVIEWED",
    "AQ": "CARD_ALREADY_REQUISITIONED",
    "AS": "CARD_ALREADY_SOLD",
    "NA": "CARD_NOT_ACTIVE",
    "FZ": "CARD_FROZEN",
    "LS": "CARD_REPORTED_LOST",
    "EX": "CARD_EXPIRED",
    "CL": "CARD_CLOSED",
    "AF": "CARD_ALREADY_FROZEN",
    "NF": "CARD_NOT_FROZEN",
    "AZ": "CARD_ALREADY_REPORTED_LOST",
    "NZ": "CARD_NOT_REPORTED_LOST",
    "RB": "REPLACEMENT_NOT_BLANK",
}
_C = "CL CL CL CL CL"  # refunded exchanged replaced cancelled voided: closed for everything
CARD_TABLE = f"""
load                >loaded     AL     AL             AL             AL          AL        AL        AL        {_C}
review              NL          >ready AR             AR             AR          AR        AR        AR        {_C}
requisition         NL          NR     >requisitioned AQ             AS          AS        AS        AS        {_C}
return_to_stock     NL          NR     NQ             >ready         AS          AS        AS        AS        {_C}
sell                NL          NR     NQ             >active        AS          AS        AS        AS        {_C}
hold                NA          NA     NA             NA             >active     FZ        LS        EX        {_C}
redeem              NA          NA     NA             NA             >active     FZ        LS        EX        {_C}
freeze              NA          NA     NA             NA             >frozen     AF        LS        EX        {_C}
unfreeze            NA          NA     NA             NA             NF          >active   LS        EX        {_C}
report_lost         NA          NA     NA             NA             >lost       FZ        AZ        EX        {_C}
cancel_loss_report  NA          NA     NA             NA             NZ          NZ        >active   EX        {_C}
replace             NA          NA     NA             NA             >replaced   FZ        >replaced EX        {_C}
receive_replacement >active     RB     RB             RB             RB          RB        RB        RB        {_C}
refund_card         NA          NA     NA             NA             >refunded   FZ        LS        EX        {_C}
exchange            NA          NA     NA             NA             >exchanged  FZ        LS        EX        {_C}
cancel              >cancelled  >cancelled >cancelled >cancelled     AS          AS        AS        AS        {_C}
expire              NA          NA     NA             NA             >expired    >expired  >expired  EX        {_C}
extend_validity     NA          NA     NA             NA             >active     >frozen   >lost     EX        {_C}
void                >voided     AL     AL             AL             AL          AL        AL        AL        {_C}
"""


def _card_cases():
    columns = [CardState(c) for c in COLUMNS.split()]
    for line in CARD_TABLE.strip().splitlines():
        op, *cells = line.split()
        assert len(cells) == len(columns), op
        for state, cell in zip(columns, cells, strict=True):
            yield CardOperation(op), state, cell


CARD_CASES = list(_card_cases())


def test_the_table_covers_every_operation_and_state():
    assert {(op, s) for op, s, _ in CARD_CASES} == {
        (op, s) for op in CardOperation for s in CardState
    }


@pytest.mark.parametrize(("op", "state", "cell"), CARD_CASES)
def test_card_moves(op, state, cell):
    result = states.card_transition(state, op)
    if cell.startswith(">"):
        assert result is CardState(cell[1:])
        assert states.card_refusal(state, op) is None
    else:
        assert isinstance(result, Refusal)
        assert result.reason == CODES[cell]
        assert result.metadata == {"state": state.value, "operation": op.value}
        assert not result.quota  # a state forbids it: FAILED_PRECONDITION
        assert state.value in result.message
        assert states.card_refusal(state, op) == result


def test_only_an_active_card_spends():
    spenders = {s for s in CardState if states.card_refusal(s, CardOperation.HOLD) is None}
    assert spenders == {CardState.ACTIVE}
    assert {
        s for s in CardState if states.card_refusal(s, CardOperation.REDEEM) is None
    } == spenders


def test_final_states_allow_nothing():
    for state in states.FINAL:
        assert all(states.card_refusal(state, op) for op in CardOperation), state


def test_the_state_groups_partition_the_states():
    groups = [states.IN_STOCK, states.SOLD, states.CLOSED]
    assert set().union(*groups) == set(CardState)
    assert sum(len(g) for g in groups) == len(CardState)


def test_the_happy_path_of_the_procedure():
    state = CardState.ISSUED
    for op in ("load", "review", "requisition", "sell", "hold", "freeze", "unfreeze"):
        state = states.card_transition(state, CardOperation(op))
    assert state is CardState.ACTIVE


R, ROp = RequisitionState, RequisitionOperation


@pytest.mark.parametrize(
    ("state", "op", "complete", "expected"),
    [
        (R.REQUESTED, ROp.APPROVE, True, R.APPROVED),
        (R.REQUESTED, ROp.APPROVE, False, R.REQUESTED),  # a second approver is still missing
        (R.REQUESTED, ROp.REJECT, True, R.REJECTED),
        (R.APPROVED, ROp.FULFIL, True, R.FULFILLED),
        (R.REQUESTED, ROp.FULFIL, True, "REQUISITION_NOT_APPROVED"),
        (R.APPROVED, ROp.APPROVE, True, "REQUISITION_ALREADY_DECIDED"),
        (R.APPROVED, ROp.REJECT, True, "REQUISITION_ALREADY_DECIDED"),
        (R.FULFILLED, ROp.APPROVE, True, "REQUISITION_ALREADY_DECIDED"),
        (R.FULFILLED, ROp.REJECT, True, "REQUISITION_ALREADY_DECIDED"),
        (R.FULFILLED, ROp.FULFIL, True, "REQUISITION_ALREADY_FULFILLED"),
        (R.REJECTED, ROp.APPROVE, True, "REQUISITION_REJECTED"),
        (R.REJECTED, ROp.REJECT, True, "REQUISITION_REJECTED"),
        (R.REJECTED, ROp.FULFIL, True, "REQUISITION_REJECTED"),
    ],
)
def test_requisition_moves(state, op, complete, expected):
    result = states.requisition_transition(state, op, approvals_complete=complete)
    if isinstance(expected, RequisitionState):
        assert result is expected
    else:
        assert isinstance(result, Refusal) and result.reason == expected
