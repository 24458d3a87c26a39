"""The multiplier reaches points: a paid subscription's subscription.activated is projected by
points (running beside it, on a database and queues of its own) into the 10× multiplier."""

from __future__ import annotations

import uuid

import pytest

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from services.points.app import PointsApp
from tests.support import harness, servers
from tests.support.ids import uid
from tests.support.waiting import wait_until

from .test_purchase import order, plan


@pytest.fixture(scope="module")
async def points_app(identity_app, amqp):
    async with harness.running(
        PointsApp,
        amqp,
        identity=identity_app,
        schedule=False,
        database_url=servers.database_url("points_subscription"),  # and so queues of its own
    ) as app:
        yield app


async def test_a_paid_subscription_gives_the_multiplier_in_points(
    points_app, subscription, admin, operator, checkout
):
    await plan(admin, operator)
    member = str(uuid.uuid4())
    made = await order(subscription, checkout, member, collection=res.PAYMENT_COLLECTION_STOREFRONT)
    await subscription.ConfirmPayment(
        pb.ConfirmPaymentRequest(
            request_id=uid(),
            order_id=made.order.order_id,
            payment_id="pay-1",
            amount=money_pb2.Money(currency_code="CNY", amount_minor=148_00),
        ),
        metadata=checkout,
    )
    sub_id = uuid.UUID(made.subscription.subscription_id)

    async def projected() -> bool:
        row = await points_app.pool.fetchrow(
            "SELECT state, multiplier FROM subscriptions WHERE subscription_id = $1::text",
            str(sub_id),
        )
        return row is not None and (row["state"], row["multiplier"]) == ("active", 10)

    await wait_until(projected, 10, "points to project subscription.activated")
