"""Member accounts: the member's status, flags and balance buckets (the lock of every change)."""

from __future__ import annotations

import uuid

from . import lots

ACCOUNT_COLUMNS = (
    "member_id, status, status_at, registered, referred_by, sign_up_bonus_paid, first_order_completed,"
    " referral_paid, last_sign_in_day, streak_days, available, pending, held, debt"
)


async def ensure(conn, member_id: uuid.UUID) -> None:
    """Create the account row on first sight of a member (any event naming it)."""
    await conn.execute(
        "INSERT INTO member_accounts (member_id) VALUES ($1) ON CONFLICT DO NOTHING", member_id
    )


async def get(conn, member_id: uuid.UUID):
    return await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM member_accounts WHERE member_id = $1", member_id
    )


async def lock(conn, member_id: uuid.UUID):
    """The member's row, locked until the transaction ends; None for an unknown member."""
    return await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM member_accounts WHERE member_id = $1 FOR UPDATE",
        member_id,
    )


async def lock_with_expiring(
    conn, member_id: uuid.UUID, expiring_until, spend: int = 0, order_id: str | None = None
) -> dict | None:
    """The member's row, locked, with what is read after the lock was taken, in one round trip
    (see 0002_locks_with_balance): `expiring_soon`, the available points in lots expiring by
    `expiring_until`; with `spend`, `spendable`: the lots that cover it (else None); with
    `order_id`, `on_order`: the points the order's held or captured holds have."""
    row = await conn.fetchrow(
        "SELECT * FROM lock_member($1, $2, $3, $4)", member_id, expiring_until, spend, order_id
    )
    if row is None:
        return None
    spendable = None if row["spendable"] is None else [lots.lot(r) for r in row["spendable"]]
    return {
        **row["account"],
        "expiring_soon": row["expiring_soon"],
        "spendable": spendable,
        "on_order": row["on_order"],
    }


async def lock_many(conn, member_ids: list[uuid.UUID]) -> None:
    """Lock several members in one order (by id), so two transactions never deadlock."""
    await conn.execute(
        "SELECT 1 FROM member_accounts WHERE member_id = ANY($1::uuid[])"
        " ORDER BY member_id FOR UPDATE",
        sorted(set(member_ids)),
    )


async def update(conn, member_id: uuid.UUID, **fields) -> None:
    """Set flags or status (never the buckets: those change only with journal postings)."""
    assert not {"available", "pending", "held", "debt"} & fields.keys()
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
    await conn.execute(
        f"UPDATE member_accounts SET {sets}, updated_at = now() WHERE member_id = $1",
        member_id,
        *fields.values(),
    )


async def apply_buckets(conn, member_id: uuid.UUID, available, pending, held, debt) -> None:
    """Add the deltas in one statement; the CHECK constraints refuse any negative bucket."""
    await conn.execute(
        "UPDATE member_accounts SET available = available + $2, pending = pending + $3,"
        " held = held + $4, debt = debt + $5, updated_at = now() WHERE member_id = $1",
        member_id,
        available,
        pending,
        held,
        debt,
    )


async def balance(conn, member_id: uuid.UUID, expiring_until):
    """The buckets and the available points in lots expiring by `expiring_until`, in one read."""
    return await conn.fetchrow(
        "SELECT available, pending, held, debt, (SELECT coalesce(sum(remaining), 0)::bigint"
        "  FROM lots WHERE member_id = $1 AND remaining > 0 AND expires_at <= $2)"
        " AS expiring_soon FROM member_accounts WHERE member_id = $1",
        member_id,
        expiring_until,
    )
