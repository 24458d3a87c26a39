"""GetOrder: "where are my points?" — what points did with an order, for its member or a
caller with points:read."""

from __future__ import annotations

import grpc
import pytest

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from tests.support.grpc_errors import fails
from tests.support.points import (
    CANCELLED,
    COMPLETED,
    PAID,
    REFUNDED,
    completed,
    paid,
    refunded,
    reserve_request,
)

NOT_FOUND = grpc.StatusCode.NOT_FOUND


def request(order_id: str) -> pb.GetOrderRequest:
    return pb.GetOrderRequest(order_id=order_id)


async def test_an_order_from_checkout_to_refund(
    points, points_app, operator, mint, new_member, fund, publish, consumed
):
    member = await new_member()
    await fund(member, 1_000)
    hold = (
        await points.ReserveHold(reserve_request(member, 300, "o-1", 20_000), metadata=operator)
    ).hold
    # Before any event: the hold is there, nothing else.
    order = (await points.GetOrder(request("o-1"), metadata=mint(member))).order
    assert [(h.hold_id, h.state) for h in order.holds] == [(hold.hold_id, res.HOLD_STATE_HELD)]
    # A refund overtakes the payment: it waits.
    await publish(REFUNDED, "o-1", refunded("o-1", member, 5_000, "rf-1", points_to_return=100))
    await consumed(REFUNDED)
    order = (await points.GetOrder(request("o-1"), metadata=operator)).order
    assert not order.HasField("payment")
    assert [(r.refund_id, r.state) for r in order.refunds] == [
        ("rf-1", res.ORDER_REFUND_STATE_WAITING_FOR_PAYMENT)
    ]
    await publish(PAID, "o-1", paid("o-1", member, 19_700, hold.hold_id, 300))
    await publish(COMPLETED, "o-1", completed("o-1", member))
    await consumed(COMPLETED)

    order = (await points.GetOrder(request("o-1"), metadata=mint(member))).order
    assert order.order_id == "o-1" and order.member_id == member
    p = order.payment
    assert (p.currency_code, p.paid_amount_minor, p.merchant_id) == ("CNY", 19_700, "shop-1")
    assert (p.points_hold_id, p.points_used, p.points_captured) == (hold.hold_id, 300, 300)
    assert (p.refunded_amount_minor, p.points_returned) == (5_000, 100)
    assert p.HasField("apply_time") and order.HasField("complete_time")
    assert not order.HasField("cancel_time")
    assert [h.state for h in order.holds] == [res.HOLD_STATE_CAPTURED]
    # 197 points, a quarter-ish reversed by the 50 CNY refund (197 × 5,000 ÷ 19,700 = 50).
    r = order.rebate
    assert (r.state, r.points, r.reversed_points, r.multiplier, r.reason) == (
        res.REBATE_STATE_AVAILABLE,
        197,
        50,
        1,
        "",
    )
    (refund,) = order.refunds
    assert (refund.state, refund.points_to_return) == (res.ORDER_REFUND_STATE_APPLIED, 100)
    assert refund.HasField("apply_time") and refund.HasField("receive_time")
    assert list(order.parked_events) == []


async def test_why_an_order_earned_nothing(
    points, points_app, operator, new_member, publish, consumed
):
    frozen = await new_member(status="frozen")
    await publish(PAID, "o-f", paid("o-f", frozen, 10_000))
    await publish(PAID, "o-s", paid("o-s", await new_member(), 99))
    await publish(
        CANCELLED, "o-c", commerce.OrderCancelled(order_id="o-c", member_id=await new_member())
    )
    await consumed(PAID, 2)
    await consumed(CANCELLED)
    why = {}
    for order_id in ("o-f", "o-s", "o-c"):
        order = (await points.GetOrder(request(order_id), metadata=operator)).order
        why[order_id] = (order.rebate.state, order.rebate.reason, order.HasField("cancel_time"))
    assert why == {
        "o-f": (res.REBATE_STATE_NONE, "MEMBER_NOT_ACTIVE", False),
        "o-s": (res.REBATE_STATE_NONE, "BELOW_ONE_UNIT", False),
        "o-c": (res.REBATE_STATE_NONE, "", True),
    }


async def test_who_may_read_an_order(
    points, points_app, operator, mint, new_member, publish, consumed
):
    member, other = await new_member(), await new_member()
    await publish(PAID, "o-own", paid("o-own", member, 1_000))
    await consumed(PAID)
    assert (await points.GetOrder(request("o-own"), metadata=mint(member))).order.order_id
    # Another member's order is not found, as an order that does not exist.
    await fails(
        points.GetOrder(request("o-own"), metadata=mint(other)), NOT_FOUND, "ORDER_NOT_FOUND"
    )
    await fails(points.GetOrder(request("o-none"), metadata=operator), NOT_FOUND, "ORDER_NOT_FOUND")
    await fails(
        points.GetOrder(request("o-own"), metadata=mint("svc", kind="service")),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    await fails(points.GetOrder(request("o-own")), grpc.StatusCode.UNAUTHENTICATED)
    reader = mint("storefront", kind="service", scopes=["points:read"])
    assert (await points.GetOrder(request("o-own"), metadata=reader)).order.member_id == member


@pytest.mark.parametrize("order_id", ["", "x" * 129, "o\x00"])
async def test_an_order_id_that_is_none_is_invalid(points, operator, order_id):
    await fails(
        points.GetOrder(request(order_id), metadata=operator),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["order_id"],
    )
