"""The storefront's order events, as it publishes them through its client (loyalty_storefront):
order lines and order.paid, in CNY, from its one merchant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from loyalty.commerce.v1 import events_pb2 as commerce

MERCHANT = "shop-1"


def now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.UTC))
    return stamp


def line(line_id: str, category: str, amount: int, paid: int, sku: str = "") -> commerce.OrderLine:
    """One unit of a product of `category` (`sku`, else `sku-<line_id>`): its list price and
    what was paid for it."""
    return commerce.OrderLine(
        line_id=line_id,
        sku=sku or f"sku-{line_id}",
        category=category,
        quantity=1,
        amount_minor=amount,
        paid_amount_minor=paid,
    )


def order_paid(
    order_id: str, member_id: str, lines: list[commerce.OrderLine], **fields: Any
) -> commerce.OrderPaid:
    """An order paid now: `paid_amount_minor` is what the lines' paid amounts add up to;
    `fields` the rest (holds captured, points used, the platform's payment…)."""
    return commerce.OrderPaid(
        order_id=order_id,
        member_id=member_id,
        currency_code="CNY",
        lines=lines,
        paid_amount_minor=sum(line.paid_amount_minor for line in lines),
        paid_time=now(),
        merchant_id=MERCHANT,
        **fields,
    )
