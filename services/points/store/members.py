"""Member accounts: the member's status, flags and balance buckets (the lock of every change)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from ..domain.lots import Lot
from ..domain.members import Balance, MemberStatus
from ..domain.postings import Buckets
from . import lots
from .locks import LOCK_MEMBER_ARRIVAL


@dataclass(frozen=True)
class MemberAccount:
    member_id: uuid.UUID
    status: MemberStatus
    status_at: dt.datetime | None  # time of the identity event that set the status
    registered: bool
    referred_by: uuid.UUID | None
    sign_up_bonus_paid: bool
    first_order_completed: bool
    referral_paid: bool
    last_sign_in_day: dt.date | None
    streak_days: int
    available: int
    pending: int
    held: int
    debt: int

    @property
    def buckets(self) -> Buckets:
        return Buckets(self.available, self.pending, self.held, self.debt)


ACCOUNT_FIELDS = tuple(f.name for f in dataclasses.fields(MemberAccount))
ACCOUNT_COLUMNS = ", ".join(ACCOUNT_FIELDS)


def account(row) -> MemberAccount:
    """The account of a row (or of the member_accounts composite a lock function returns)."""
    values = {name: row[name] for name in ACCOUNT_FIELDS}
    return MemberAccount(**{**values, "status": MemberStatus(values["status"])})


@dataclass(frozen=True)
class LockedMember:
    """A member's account, locked, with what was read after the lock in the same round trip."""

    account: MemberAccount
    expiring_until: dt.datetime
    expiring_soon: int  # available points in lots expiring by `expiring_until`
    spendable: list[Lot] | None = None  # the lots that cover a spend, when one was named
    on_order: int | None = None  # points of the order's held or captured holds, when named


async def lock_arrival(conn, member_id: uuid.UUID) -> None:
    """Serialise a member's registration with the storefront events that name the member, so
    an event is either parked before the registration looks for what waits, or sees the
    member registered (taken before any order's or member's lock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_MEMBER_ARRIVAL, str(member_id)
    )


async def ensure(conn, member_id: uuid.UUID) -> None:
    """Create the account row on first sight of a member (an identity or subscription event
    naming it, a referral; never a storefront event: see usecases.commerce)."""
    await conn.execute(
        "INSERT INTO member_accounts (member_id) VALUES ($1) ON CONFLICT DO NOTHING", member_id
    )


async def get(conn, member_id: uuid.UUID) -> MemberAccount | None:
    row = await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM member_accounts WHERE member_id = $1", member_id
    )
    return account(row) if row else None


async def lock(conn, member_id: uuid.UUID) -> MemberAccount | None:
    """The member's row, locked until the transaction ends; None for an unknown member."""
    row = await conn.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM member_accounts WHERE member_id = $1 FOR UPDATE",
        member_id,
    )
    return account(row) if row else None


async def ensure_locked(conn, member_id: uuid.UUID) -> MemberAccount:
    """The member's row, created on first sight (see `ensure`), locked until the transaction
    ends."""
    await ensure(conn, member_id)
    member = await lock(conn, member_id)
    if member is None:  # the row was inserted or found just now, and rows are never deleted
        raise LookupError(f"member account {member_id} vanished")
    return member


async def lock_with_expiring(
    conn,
    member_id: uuid.UUID,
    expiring_until: dt.datetime,
    spend: int = 0,
    order_id: str | None = None,
) -> LockedMember | None:
    """The member's row, locked, with what is read after the lock was taken, in one round trip
    (see 0002_locks_with_balance): the points expiring by `expiring_until`; with `spend`, the
    lots that cover it; with `order_id`, the points the order's held or captured holds have."""
    row = await conn.fetchrow(
        "SELECT * FROM lock_member($1, $2, $3, $4)", member_id, expiring_until, spend, order_id
    )
    if row is None:
        return None
    spendable = None if row["spendable"] is None else [lots.lot(r) for r in row["spendable"]]
    return LockedMember(
        account(row["account"]), expiring_until, row["expiring_soon"], spendable, row["on_order"]
    )


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


async def balance(conn, member_id: uuid.UUID, expiring_until: dt.datetime) -> Balance | None:
    """The buckets and the available points in lots expiring by `expiring_until`, in one read."""
    row = await conn.fetchrow(
        "SELECT available, pending, held, debt, (SELECT coalesce(sum(remaining), 0)::bigint"
        "  FROM lots WHERE member_id = $1 AND remaining > 0 AND expires_at <= $2)"
        " AS expiring_soon FROM member_accounts WHERE member_id = $1",
        member_id,
        expiring_until,
    )
    if row is None:
        return None
    buckets = Buckets(row["available"], row["pending"], row["held"], row["debt"])
    return Balance(member_id, buckets, row["expiring_soon"], expiring_until)
