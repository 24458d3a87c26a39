"""Refunds recorded, cancellations (who turned auto-renew off), and the orders a refund or a
closing member leaves unpaid."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

_COLUMNS = """refund_id, subscription_id, member_id, currency_code, amount_minor, full_refund,
    paid_minor, share_minor, used_value_minor, claims_counted, term_sequences, payments,
    refunded_by, reason, refund_time"""


@dataclass(frozen=True)
class PaymentBack:
    """The part of a refund paid back on one payment."""

    order_id: uuid.UUID | None
    payment_id: str
    amount_minor: int


@dataclass(frozen=True)
class RefundRow:
    """A refund recorded, or a quote of one (no refund_id, nobody, no reason)."""

    refund_id: uuid.UUID | None
    subscription_id: uuid.UUID
    member_id: uuid.UUID
    currency_code: str
    amount_minor: int
    full_refund: bool
    paid_minor: int
    share_minor: int
    used_value_minor: int
    claims_counted: int
    term_sequences: tuple[int, ...]
    payments: tuple[PaymentBack, ...]
    refunded_by: str
    reason: str
    refund_time: dt.datetime


@dataclass(frozen=True)
class Cancellation:
    subscription_id: uuid.UUID
    cause: str  # member | operator | member_closed
    cancelled_by: str
    reason: str
    cancel_time: dt.datetime


def _refund(record: asyncpg.Record) -> RefundRow:
    values = dict(record)
    values["term_sequences"] = tuple(values["term_sequences"])
    values["payments"] = tuple(
        PaymentBack(
            uuid.UUID(p["order_id"]) if p["order_id"] else None,
            p["payment_id"],
            p["amount_minor"],
        )
        for p in values["payments"]
    )
    return RefundRow(**values)


async def insert(conn: asyncpg.Connection, r: RefundRow) -> None:
    payments = [
        {
            "order_id": str(p.order_id) if p.order_id else "",
            "payment_id": p.payment_id,
            "amount_minor": p.amount_minor,
        }
        for p in r.payments
    ]
    # The subscription is locked and REFUNDED or CANCELLED after this: the unique key on
    # subscription_id is a guard, never a caller's answer.
    await conn.execute(
        f"INSERT INTO refunds ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12, $13, $14, $15)",
        r.refund_id,
        r.subscription_id,
        r.member_id,
        r.currency_code,
        r.amount_minor,
        r.full_refund,
        r.paid_minor,
        r.share_minor,
        r.used_value_minor,
        r.claims_counted,
        list(r.term_sequences),
        payments,
        r.refunded_by,
        r.reason,
        r.refund_time,
    )


async def of_subscriptions(
    conn, subscription_ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, RefundRow], dict[uuid.UUID, Cancellation]]:
    """The refunds and the cancellations of these subscriptions, by subscription."""
    refunds = await conn.fetch(
        f"SELECT {_COLUMNS} FROM refunds WHERE subscription_id = ANY($1)", subscription_ids
    )
    cancellations = await conn.fetch(
        "SELECT subscription_id, cause, cancelled_by, reason, cancel_time FROM cancellations"
        " WHERE subscription_id = ANY($1)",
        subscription_ids,
    )
    return (
        {r["subscription_id"]: _refund(r) for r in refunds},
        {c["subscription_id"]: Cancellation(**dict(c)) for c in cancellations},
    )


async def cancelled(conn, c: Cancellation) -> None:
    await conn.execute(
        "INSERT INTO cancellations (subscription_id, cause, cancelled_by, reason, cancel_time)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id) DO UPDATE SET"
        " cause = EXCLUDED.cause, cancelled_by = EXCLUDED.cancelled_by,"
        " reason = EXCLUDED.reason, cancel_time = EXCLUDED.cancel_time",
        c.subscription_id,
        c.cause,
        c.cancelled_by,
        c.reason,
        c.cancel_time,
    )


async def resumed(conn, subscription_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM cancellations WHERE subscription_id = $1", subscription_id)


async def charged(conn, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """What each order's payment paid (its amount)."""
    records = await conn.fetch(
        "SELECT order_id, amount_minor FROM orders WHERE order_id = ANY($1)", order_ids
    )
    return {r["order_id"]: r["amount_minor"] for r in records}


async def lock_pending_orders(conn, subscription_id: uuid.UUID) -> list[uuid.UUID]:
    """The subscription's orders still waiting for their payment, locked."""
    records = await conn.fetch(
        "SELECT order_id FROM orders WHERE subscription_id = $1 AND state = 'pending_payment'"
        " ORDER BY order_id FOR UPDATE",
        subscription_id,
    )
    return [r["order_id"] for r in records]
