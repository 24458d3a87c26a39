"""Points in tests: the requests tests send most, the storefront's order events, what reached the
dead letters, the command line, and the books check after a test's changes."""

from __future__ import annotations

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from services.points.store import reconcile
from tests.support.ids import uid
from tests.support.waiting import wait_until

PAID = "commerce.order.paid.v1"
COMPLETED = "commerce.order.completed.v1"
REFUNDED = "commerce.order.refunded.v1"
CANCELLED = "commerce.order.cancelled.v1"
REVIEW = "commerce.review.posted.v1"
REGISTERED = "loyalty.identity.member.registered.v1"


async def assert_reconciled(pool) -> None:
    """Balances, lots and journal agree (what `python -m services.points reconcile` checks)."""
    problems = await reconcile.snapshot(pool)
    assert problems == {}, problems


def redeem_request(
    member_id: str, points: int, catalogue_item: str = "c", request_id: str | None = None
) -> pb.RedeemRequest:
    return pb.RedeemRequest(
        # "" is a request without an id, which validation tests send on purpose.
        request_id=uid() if request_id is None else request_id,
        member_id=member_id,
        points=points,
        catalogue_item=catalogue_item,
    )


def reserve_request(
    member_id: str,
    points: int,
    order_id: str = "o",
    order_amount_minor: int = 10_000,
) -> pb.ReserveHoldRequest:
    return pb.ReserveHoldRequest(
        request_id=uid(),
        member_id=member_id,
        order_id=order_id,
        points=points,
        order_amount_minor=order_amount_minor,
    )


def capture_request(hold_id: str) -> pb.CaptureHoldRequest:
    return pb.CaptureHoldRequest(request_id=uid(), hold_id=hold_id)


def release_request(hold_id: str) -> pb.ReleaseHoldRequest:
    return pb.ReleaseHoldRequest(request_id=uid(), hold_id=hold_id)


def adjust_request(member_id: str, delta: int, reason: str) -> pb.AdjustRequest:
    return pb.AdjustRequest(request_id=uid(), member_id=member_id, delta=delta, reason=reason)


def grant_request(member_id: str, rule_code: str, **fields) -> pb.GrantRequest:
    """`fields`: points, merchant_id, reference, as the rule needs."""
    return pb.GrantRequest(request_id=uid(), member_id=member_id, rule_code=rule_code, **fields)


def upsert_rule_request(**rule) -> pb.UpsertEarningRuleRequest:
    """`rule`: the fields of the EarningRule to add a version of."""
    return pb.UpsertEarningRuleRequest(request_id=uid(), rule=res.EarningRule(**rule))


def paid(order_id, member, amount, hold_id="", points_used=0, **fields) -> commerce.OrderPaid:
    """An order.paid in CNY, one line; `fields` override or add (currency_code, lines, …)."""
    values = {
        "order_id": order_id,
        "member_id": member,
        "currency_code": "CNY",
        "paid_amount_minor": amount,
        "points_hold_id": hold_id,
        "points_used": points_used,
        "merchant_id": "shop-1",
        "lines": [commerce.OrderLine(line_id="1", sku="sku", paid_amount_minor=amount)],
        **fields,
    }
    return commerce.OrderPaid(**values)


def refunded(
    order_id, member, amount, refund_id=None, points_to_return=0, **fields
) -> commerce.OrderRefunded:
    values = {
        "order_id": order_id,
        "member_id": member,
        "refund_id": refund_id or uid(),
        "currency_code": "CNY",
        "refunded_amount_minor": amount,
        "points_to_return": points_to_return,
        **fields,
    }
    return commerce.OrderRefunded(**values)


def completed(order_id, member) -> commerce.OrderCompleted:
    return commerce.OrderCompleted(order_id=order_id, member_id=member)


async def dead_lettered(amqp, points_app, queue: str, subject: str, timeout: float = 20.0):
    """The messages with this subject (ce-subject) in the points queue's dead letters, once
    there is one (`queue`: "points.commerce", …). Other messages read meanwhile are dropped."""
    name = points_app.settings.queue_prefix + queue + ".dlq"
    channel = await amqp.channel()
    try:
        dlq = await channel.declare_queue(name, passive=True)
        found = []

        async def arrived():
            while (message := await dlq.get(no_ack=True, fail=False)) is not None:
                if message.headers.get("ce-subject") == subject:
                    found.append(message)
            return found

        return await wait_until(arrived, timeout, f"{subject} in {name}")
    finally:
        await channel.close()


def rejected_at_once(message) -> bool:
    """Dead-lettered on its first delivery (rejected), not after exhausting its retries."""
    deaths = message.headers.get("x-death") or []
    return bool(deaths) and deaths[0].get("reason") == "rejected" and deaths[0].get("count") == 1


def counted(metric, *labels: str) -> float:
    """A prometheus_client counter's or gauge's value for these labels."""
    return metric.labels(*labels)._value.get()
