"""Partner perk pools and their codes. A code is taken by one claim with a conditional update
that skips codes other claims hold (`take`), and the pool's counters change under its row lock,
so no code is handed out twice and the counts are exact under any concurrency."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.kit import db

_POOL = """p.perk_pool_id, p.display_name, p.partner, p.low_stock_threshold, p.uploaded_count,
    p.claimed_count, p.expired_count, p.level, p.created_by, p.create_time, p.update_time"""
# Codes past their expire_time the lapse job has not counted yet, and the next to expire: both
# read from the index of available codes (`perk_codes_available`).
_LIVE = """,
    (SELECT count(*) FROM perk_codes c WHERE c.perk_pool_id = p.perk_pool_id
        AND c.state = 'available' AND c.expire_time <= $1)::int AS lapsed,
    (SELECT min(c.expire_time) FROM perk_codes c WHERE c.perk_pool_id = p.perk_pool_id
        AND c.state = 'available' AND c.expire_time > $1) AS next_expire_time"""


@dataclass(frozen=True)
class PoolRow:
    perk_pool_id: uuid.UUID
    display_name: str
    partner: str
    low_stock_threshold: int
    uploaded_count: int
    claimed_count: int
    expired_count: int
    level: str  # domain.benefits.InventoryLevel's values: the level after the last change
    created_by: str
    create_time: dt.datetime
    update_time: dt.datetime
    lapsed: int = 0  # expired unclaimed, not counted in expired_count yet
    next_expire_time: dt.datetime | None = None

    @property
    def expired(self) -> int:
        return self.expired_count + self.lapsed

    @property
    def available(self) -> int:
        return self.uploaded_count - self.claimed_count - self.expired


@dataclass(frozen=True)
class SealedCode:
    key_id: str
    digest: bytes
    sealed: bytes


@dataclass(frozen=True)
class TakenCode:
    key_id: str
    sealed: bytes
    expire_time: dt.datetime | None


def _pool(record: asyncpg.Record | None) -> PoolRow | None:
    return PoolRow(**dict(record)) if record is not None else None


async def insert_pool(conn, row: PoolRow) -> None:
    await conn.execute(
        "INSERT INTO perk_pools (perk_pool_id, display_name, partner, low_stock_threshold,"
        " created_by, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        row.perk_pool_id,
        row.display_name,
        row.partner,
        row.low_stock_threshold,
        row.created_by,
        row.create_time,
    )


async def get(conn, pool_id: uuid.UUID, now: dt.datetime) -> PoolRow | None:
    record = await conn.fetchrow(
        f"SELECT {_POOL}{_LIVE} FROM perk_pools p WHERE p.perk_pool_id = $2", now, pool_id
    )
    return _pool(record)


async def many(conn, pool_ids: Sequence[uuid.UUID], now: dt.datetime) -> dict[uuid.UUID, PoolRow]:
    records = await conn.fetch(
        f"SELECT {_POOL}{_LIVE} FROM perk_pools p WHERE p.perk_pool_id = ANY($2)",
        now,
        list(pool_ids),
    )
    return {r["perk_pool_id"]: PoolRow(**dict(r)) for r in records}


async def existing(conn, pool_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    records = await conn.fetch(
        "SELECT perk_pool_id FROM perk_pools WHERE perk_pool_id = ANY($1)", list(pool_ids)
    )
    return {r["perk_pool_id"] for r in records}


async def listing(
    conn,
    now: dt.datetime,
    *,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
    low_stock_only: bool,
) -> list[PoolRow]:
    """Pools by display_name (then id), after the cursor; only those at or below their
    threshold when asked."""
    name, pool_id = after if after is not None else ("", uuid.UUID(int=0))
    records = await conn.fetch(
        f"SELECT * FROM (SELECT {_POOL}{_LIVE} FROM perk_pools p"
        "   WHERE (p.display_name, p.perk_pool_id) > ($2, $3)) pools"
        " WHERE NOT $4"
        "   OR uploaded_count - claimed_count - expired_count - lapsed <= low_stock_threshold"
        " ORDER BY display_name, perk_pool_id LIMIT $5",
        now,
        name,
        pool_id,
        low_stock_only,
        limit,
    )
    return [PoolRow(**dict(r)) for r in records]


async def lock(conn, pool_id: uuid.UUID) -> bool:
    """Hold the pool's row until the end of the transaction; whether it exists. Read the pool
    after this (`get`), not in the statement that waited: one that waited for the row sees it
    as the holder left it, but the codes as they were before."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM perk_pools WHERE perk_pool_id = $1 FOR UPDATE", pool_id
        )
    )


async def rename(
    conn, pool_id: uuid.UUID, display_name: str | None, threshold: int | None, now: dt.datetime
) -> None:
    """Change the name or the threshold (None: keep)."""
    await conn.execute(
        "UPDATE perk_pools SET display_name = coalesce($3, display_name),"
        " low_stock_threshold = coalesce($4, low_stock_threshold), update_time = $1"
        " WHERE perk_pool_id = $2",
        now,
        pool_id,
        display_name,
        threshold,
    )


async def count_upload(conn, pool_id: uuid.UUID, added: int, now: dt.datetime) -> None:
    await conn.execute(
        "UPDATE perk_pools SET uploaded_count = uploaded_count + $3, update_time = $1"
        " WHERE perk_pool_id = $2",
        now,
        pool_id,
        added,
    )


async def count_claim(conn, pool_id: uuid.UUID, now: dt.datetime) -> PoolRow | None:
    """Count a code taken by a claim and return the pool as it now is. The pool's row is the
    one row every claim of the pool changes, held from here until the claim commits: a claim
    calls this last, just before its final writes.

    An UPDATE that waited for the row sees it as the holder left it, but the codes as they were
    when the statement began: had the lapse job been the holder, the codes it counted as
    expired would count twice. `seen_expired` (the row in the statement's snapshot) tells, and
    the pool is then read again, the row being ours."""
    record = await conn.fetchrow(
        "UPDATE perk_pools p SET claimed_count = claimed_count + 1, update_time = $1"
        f" WHERE perk_pool_id = $2 RETURNING {_POOL}{_LIVE},"
        " (SELECT q.expired_count FROM perk_pools q WHERE q.perk_pool_id = $2) AS seen_expired",
        now,
        pool_id,
    )
    if record is None:
        return None
    values = dict(record)
    if values.pop("seen_expired") != values["expired_count"]:
        return await get(conn, pool_id, now)
    return PoolRow(**values)


async def set_level(conn: asyncpg.Connection | db.Batch, pool_id: uuid.UUID, level: str) -> None:
    await conn.execute("UPDATE perk_pools SET level = $2 WHERE perk_pool_id = $1", pool_id, level)


async def known_digests(conn, pool_id: uuid.UUID, digests: Sequence[bytes]) -> set[bytes]:
    """Which of `digests` the pool holds (a code uploaded before, under any key)."""
    records = await conn.fetch(
        "SELECT digest FROM perk_codes WHERE perk_pool_id = $1 AND digest = ANY($2)",
        pool_id,
        list(digests),
    )
    return {bytes(r["digest"]) for r in records}


async def add_codes(
    conn,
    pool_id: uuid.UUID,
    codes: Sequence[SealedCode],
    expire_time: dt.datetime | None,
    now: dt.datetime,
) -> int:
    """Insert the codes the pool does not hold yet (a concurrent upload of the same code adds
    it once); how many were added. The table is analyzed at once: until autovacuum did, claims
    would be planned with the statistics of an empty pool (a sort of all its codes per claim
    instead of one index entry)."""
    status = await conn.execute(
        "INSERT INTO perk_codes (perk_pool_id, key_id, digest, sealed, expire_time, upload_time)"
        " SELECT $1, k, d, s, $5, $6 FROM unnest($2::text[], $3::bytea[], $4::bytea[]) AS u(k, d, s)"
        " ON CONFLICT (perk_pool_id, digest) DO NOTHING",
        pool_id,
        [c.key_id for c in codes],
        [c.digest for c in codes],
        [c.sealed for c in codes],
        expire_time,
        now,
    )
    await conn.execute("ANALYZE perk_codes")
    return int(status.split()[-1])


async def take(conn, pool_id: uuid.UUID, claim_id: uuid.UUID, now: dt.datetime) -> TakenCode | None:
    """One code of the pool for `claim_id`, soonest to expire first, or None when every code
    left is expired or being taken by another claim. Codes other claims have locked are
    skipped, not waited for: claimers of one pool do not queue behind each other here."""
    record = await conn.fetchrow(
        "UPDATE perk_codes SET state = 'claimed', claim_id = $2"
        " WHERE code_id = ("
        "   SELECT code_id FROM perk_codes"
        "   WHERE perk_pool_id = $1 AND state = 'available'"
        "     AND (expire_time IS NULL OR expire_time > $3)"
        "   ORDER BY expire_time, code_id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING key_id, sealed, expire_time",
        pool_id,
        claim_id,
        now,
    )
    if record is None:
        return None
    return TakenCode(record["key_id"], bytes(record["sealed"]), record["expire_time"])


async def lapse(conn, pool_id: uuid.UUID, now: dt.datetime) -> int:
    """Count the pool's codes past their expire_time as expired (the lapse job); how many.
    Codes a claim holds are skipped: that claim took them before they expired."""
    status = await conn.execute(
        "UPDATE perk_codes SET state = 'expired' WHERE code_id IN ("
        "  SELECT code_id FROM perk_codes WHERE perk_pool_id = $1 AND state = 'available'"
        "    AND expire_time <= $2 FOR UPDATE SKIP LOCKED)",
        pool_id,
        now,
    )
    lapsed = int(status.split()[-1])
    if lapsed:
        await conn.execute(
            "UPDATE perk_pools SET expired_count = expired_count + $2, update_time = $3"
            " WHERE perk_pool_id = $1",
            pool_id,
            lapsed,
            now,
        )
    return lapsed


async def pools_with_lapsed(conn, now: dt.datetime) -> list[uuid.UUID]:
    records = await conn.fetch(
        "SELECT DISTINCT perk_pool_id FROM perk_codes"
        " WHERE state = 'available' AND expire_time <= $1",
        now,
    )
    return [r["perk_pool_id"] for r in records]


async def all_ids(conn) -> list[uuid.UUID]:
    return [r["perk_pool_id"] for r in await conn.fetch("SELECT perk_pool_id FROM perk_pools")]


async def code_of(conn, claim_id: uuid.UUID) -> TakenCode | None:
    record = await conn.fetchrow(
        "SELECT key_id, sealed, expire_time FROM perk_codes WHERE claim_id = $1", claim_id
    )
    if record is None:
        return None
    return TakenCode(record["key_id"], bytes(record["sealed"]), record["expire_time"])
