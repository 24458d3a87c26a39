"""Merchant budgets (商家购买京豆): prepaid points for merchant-funded rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MerchantBudget:
    merchant_id: str
    balance: int


async def get(conn, merchant_id: str) -> MerchantBudget | None:
    row = await conn.fetchrow(
        "SELECT merchant_id, balance FROM merchant_budgets WHERE merchant_id = $1", merchant_id
    )
    return MerchantBudget(row["merchant_id"], row["balance"]) if row else None


async def ensure(conn, merchant_id: str) -> None:
    await conn.execute(
        "INSERT INTO merchant_budgets (merchant_id) VALUES ($1) ON CONFLICT DO NOTHING",
        merchant_id,
    )


async def apply(conn, merchant_id: str, delta: int) -> bool:
    """Change a budget in one conditional statement; False when it would go below zero."""
    return bool(
        await conn.fetchval(
            "UPDATE merchant_budgets SET balance = balance + $2, updated_at = now()"
            " WHERE merchant_id = $1 AND balance + $2 >= 0 RETURNING true",
            merchant_id,
            delta,
        )
    )
