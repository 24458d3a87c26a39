"""Orders: read (the member's own, a storefront's checkout, an operator), listed newest first
with paging and filters, cancelled by the member leaving the cashier; orders left unpaid
lapse."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_lifecycle import (
    CHARGE_CANCELLED,
    START,
    SUCCEEDED,
    YEAR_END,
    YEARLY_PRICE,
    orders,
    outbox_count,
    parked,
    plans,
    renewals,
    sub_row,
    subscribed,
    succeed,
    tick,
)

WINDOW = dt.timedelta(hours=24)


async def buy(subscription, caller, member: str, **fields) -> pb.CreateSubscriptionOrderResponse:
    return await subscription.CreateSubscriptionOrder(
        pb.CreateSubscriptionOrderRequest(
            request_id=uid(), member_id=member, plan_id="plus_yearly", **fields
        ),
        metadata=caller,
    )


async def cancel(subscription, caller, order_id: str, request_id: str = ""):
    return await subscription.CancelSubscriptionOrder(
        pb.CancelSubscriptionOrderRequest(request_id=request_id or uid(), order_id=order_id),
        metadata=caller,
    )


def listing(**fields) -> pb.ListSubscriptionOrdersRequest:
    return pb.ListSubscriptionOrdersRequest(**fields)


async def test_an_order_is_read_by_its_member_checkout_and_operators_only(
    subscription, admin, operator, checkout, mint
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    made = await buy(subscription, mint(member), member)
    order_id = made.order.order_id
    for caller in (mint(member), checkout, operator):
        got = await subscription.GetSubscriptionOrder(
            pb.GetSubscriptionOrderRequest(order_id=order_id), metadata=caller
        )
        assert got.order == made.order
    await fails(
        subscription.GetSubscriptionOrder(
            pb.GetSubscriptionOrderRequest(order_id=order_id), metadata=mint(str(uuid.uuid4()))
        ),
        grpc.StatusCode.NOT_FOUND,
        "ORDER_NOT_FOUND",
    )
    await fails(
        subscription.GetSubscriptionOrder(
            pb.GetSubscriptionOrderRequest(order_id="nope"), metadata=checkout
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["order_id"],
    )


async def test_orders_are_listed_newest_first_page_by_page(
    subscription, admin, operator, checkout, mint, clock
):
    clock.set(START)
    await plans(admin, operator)
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    own = mint(member)
    made = []
    for minutes in range(3):  # an order, left, then another
        clock.set(START + dt.timedelta(minutes=minutes))
        made.append((await buy(subscription, own, member)).order.order_id)
        if minutes < 2:
            await cancel(subscription, own, made[-1])
    await buy(subscription, checkout, other)
    first = await subscription.ListSubscriptionOrders(
        listing(member_id=member, page_size=2), metadata=own
    )
    assert [o.order_id for o in first.orders] == made[::-1][:2]
    assert first.next_page_token
    rest = await subscription.ListSubscriptionOrders(
        listing(member_id=member, page_size=2, page_token=first.next_page_token), metadata=own
    )
    assert [o.order_id for o in rest.orders] == [made[0]] and rest.next_page_token == ""
    cancelled = await subscription.ListSubscriptionOrders(
        listing(member_id=member, state=res.ORDER_STATE_CANCELLED), metadata=checkout
    )
    assert [o.order_id for o in cancelled.orders] == [made[1], made[0]]
    renewals_only = await subscription.ListSubscriptionOrders(
        listing(member_id=member, kind=res.ORDER_KIND_RENEWAL), metadata=checkout
    )
    assert list(renewals_only.orders) == []
    everyone = await subscription.ListSubscriptionOrders(listing(), metadata=operator)
    assert len(everyone.orders) == 4
    # A page token is for the query that made it.
    await fails(
        subscription.ListSubscriptionOrders(
            listing(
                member_id=member,
                state=res.ORDER_STATE_CANCELLED,
                page_token=first.next_page_token,
            ),
            metadata=own,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["page_token"],
    )
    await fails(
        subscription.ListSubscriptionOrders(listing(member_id=member), metadata=mint(other)),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWNER",
    )
    await fails(
        subscription.ListSubscriptionOrders(listing(), metadata=checkout),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["member_id"],
    )
    await fails(
        subscription.ListSubscriptionOrders(
            listing(member_id=member, subscription_id="x", state=99, page_size=-1),
            metadata=checkout,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["subscription_id", "state", "page_size"],
    )


async def test_cancelling_a_first_order_abandons_its_subscription_and_withdraws_the_charge(
    subscription, admin, operator, mint, checkout, publish, consumed, tap, subscription_app
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    made = await buy(subscription, own, member)
    order_id = made.order.order_id
    await fails(
        cancel(subscription, mint(str(uuid.uuid4())), order_id),
        grpc.StatusCode.NOT_FOUND,
        "ORDER_NOT_FOUND",
    )
    request_id = uid()
    done = await cancel(subscription, own, order_id, request_id)
    assert done.order.state == res.ORDER_STATE_CANCELLED
    assert await cancel(subscription, own, order_id, request_id) == done  # a replay
    got = await subscription.GetSubscription(
        pb.GetSubscriptionRequest(subscription_id=made.subscription.subscription_id),
        metadata=own,
    )
    assert got.subscription.state == res.SUBSCRIPTION_STATE_CANCELLED
    assert got.subscription.end_cause == res.END_CAUSE_ORDER_ABANDONED
    (withdrawn,) = await tap.wait_for(CHARGE_CANCELLED, order_id)
    assert withdrawn.data["orderState"] == "ORDER_STATE_CANCELLED"
    assert withdrawn.data["memberId"] == member
    await fails(
        cancel(subscription, own, order_id),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ORDER_NOT_PENDING",
    )
    # The provider charging anyway: parked for a refund.
    await succeed(publish, member, order_id, YEARLY_PRICE)
    await consumed(SUCCEEDED)
    assert await parked(subscription_app, order_id) == ["ORDER_NOT_PAYABLE"]
    # And the member may order again.
    again = await buy(subscription, own, member)
    assert again.subscription.subscription_id != made.subscription.subscription_id


async def test_a_renewal_order_is_not_cancelled_by_the_order_call_and_nothing_changes(
    subscription, admin, operator, checkout, mint, clock, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    sub = await subscribed(subscription, checkout)
    await renewals(app, YEAR_END - dt.timedelta(days=1))
    (renewal,) = await orders(app, sub.subscription_id, "renewal")
    before = await snapshot(app.pool, "orders", "subscriptions", outbox="SELECT id FROM outbox")
    await fails(
        cancel(subscription, mint(sub.member_id), str(renewal["order_id"])),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ORDER_NOT_CANCELLABLE",
    )
    await fails(
        cancel(subscription, checkout, "not-an-order"),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["order_id"],
    )
    after = await snapshot(app.pool, "orders", "subscriptions", outbox="SELECT id FROM outbox")
    assert after == before
    listed = await subscription.ListSubscriptionOrders(
        listing(member_id=sub.member_id, kind=res.ORDER_KIND_RENEWAL), metadata=checkout
    )
    (shown,) = listed.orders
    assert (shown.created_by, shown.charge_attempts) == ("system", 1)
    assert shown.expire_time.ToDatetime(dt.UTC) == YEAR_END + dt.timedelta(days=3)


async def test_orders_left_unpaid_lapse(
    subscription, admin, operator, checkout, mint, clock, publish, consumed, tap, subscription_app
):
    app = subscription_app
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    first = await buy(subscription, mint(member), member)
    live = await subscribed(subscription, checkout)
    stacked = await buy(subscription, checkout, live.member_id)
    assert await tick(app, START + WINDOW - dt.timedelta(seconds=1)) == 0
    # At the window's end: the first order's subscription abandoned (its order lapsing with it)
    # and the stacked order lapsed.
    assert await tick(app, START + WINDOW) == 2
    assert await tick(app, START + WINDOW) == 0
    row = await sub_row(app, first.subscription.subscription_id)
    assert (row["state"], row["end_cause"], row["ended_at"]) == (
        "cancelled",
        "order_abandoned",
        START + WINDOW,
    )
    for made in (first, stacked):
        got = await subscription.GetSubscriptionOrder(
            pb.GetSubscriptionOrderRequest(order_id=made.order.order_id), metadata=checkout
        )
        assert got.order.state == res.ORDER_STATE_EXPIRED
        assert got.order.settle_time.ToDatetime(dt.UTC) == START + WINDOW
        (withdrawn,) = await tap.wait_for(CHARGE_CANCELLED, made.order.order_id)
        assert withdrawn.data["orderState"] == "ORDER_STATE_EXPIRED"
        assert await outbox_count(app, CHARGE_CANCELLED, made.order.order_id) == 1
    assert (await sub_row(app, live.subscription_id))["state"] == "active"
    await succeed(publish, member, first.order.order_id, YEARLY_PRICE)
    await consumed(SUCCEEDED)
    assert await parked(app, first.order.order_id) == ["ORDER_NOT_PAYABLE"]
