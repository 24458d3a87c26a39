"""Redemption code batches, their codes (keyed hashes only) and the recoveries of their exports."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

_BATCH_COLUMNS = """code_batch_id, channel, plan_id, plan_version, code_count, redeem_by, state,
    export_pages, exported_count, voided_count, note, created_by, create_time, disabled_by,
    disable_reason, disable_time, update_time"""
# What `update_batch` may set (names are code, never input).
_SETTABLE = frozenset(
    {
        "state",
        "export_pages",
        "exported_count",
        "voided_count",
        "disabled_by",
        "disable_reason",
        "disable_time",
    }
)


@dataclass(frozen=True)
class BatchRow:
    code_batch_id: uuid.UUID
    channel: str
    plan_id: str
    plan_version: int
    code_count: int
    redeem_by: dt.datetime
    state: str  # created | exporting | exported | disabled
    export_pages: int
    exported_count: int  # codes delivered, voided ones included
    voided_count: int
    note: str
    created_by: str
    create_time: dt.datetime
    disabled_by: str
    disable_reason: str
    disable_time: dt.datetime | None
    update_time: dt.datetime

    @property
    def remaining(self) -> int:
        """Codes still to deliver: voided ones are replaced."""
        return self.code_count - (self.exported_count - self.voided_count)


@dataclass(frozen=True)
class Recovery:
    from_page: int
    voided_count: int
    recovered_by: str
    reason: str
    recover_time: dt.datetime


@dataclass(frozen=True)
class FoundCode:
    """A code found by its digest, with what its batch says of it."""

    code_batch_id: uuid.UUID
    sequence: int
    key_id: str
    digest: bytes
    redeemed_at: dt.datetime | None
    voided: bool
    batch_state: str
    redeem_by: dt.datetime
    plan_id: str
    plan_version: int


def _batch(record: asyncpg.Record | None) -> BatchRow | None:
    return BatchRow(**dict(record)) if record is not None else None


async def insert_batch(conn, row: BatchRow) -> BatchRow:
    record = await conn.fetchrow(
        f"INSERT INTO code_batches ({_BATCH_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        f" RETURNING {_BATCH_COLUMNS}",
        row.code_batch_id,
        row.channel,
        row.plan_id,
        row.plan_version,
        row.code_count,
        row.redeem_by,
        row.state,
        row.export_pages,
        row.exported_count,
        row.voided_count,
        row.note,
        row.created_by,
        row.create_time,
        row.disabled_by,
        row.disable_reason,
        row.disable_time,
        row.update_time,
    )
    made = _batch(record)
    assert made is not None
    return made


async def get_batch(conn, code_batch_id: uuid.UUID, *, lock: bool = False) -> BatchRow | None:
    locking = " FOR UPDATE" if lock else ""
    return _batch(
        await conn.fetchrow(
            f"SELECT {_BATCH_COLUMNS} FROM code_batches WHERE code_batch_id = $1{locking}",
            code_batch_id,
        )
    )


async def update_batch(
    conn, code_batch_id: uuid.UUID, now: dt.datetime, **values: object
) -> BatchRow:
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"not a settable code batch column: {sorted(unknown)}")
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(values))
    record = await conn.fetchrow(
        f"UPDATE code_batches SET {sets}, update_time = $2 WHERE code_batch_id = $1"
        f" RETURNING {_BATCH_COLUMNS}",
        code_batch_id,
        now,
        *values.values(),
    )
    row = _batch(record)
    assert row is not None
    return row


async def listed(
    conn,
    *,
    before: uuid.UUID | None,
    limit: int,
    channel: str | None,
    plan_id: str | None,
    state: str | None,
) -> list[BatchRow]:
    """Newest first (ids are time-ordered)."""
    records = await conn.fetch(
        f"SELECT {_BATCH_COLUMNS} FROM code_batches"
        " WHERE ($1::uuid IS NULL OR code_batch_id < $1) AND ($2::text IS NULL OR channel = $2)"
        " AND ($3::text IS NULL OR plan_id = $3) AND ($4::text IS NULL OR state = $4)"
        " ORDER BY code_batch_id DESC LIMIT $5",
        before,
        channel,
        plan_id,
        state,
        limit,
    )
    return [r for r in map(_batch, records) if r is not None]


async def redeemed_counts(conn, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    records = await conn.fetch(
        "SELECT code_batch_id, count(*) AS n FROM redemption_codes"
        " WHERE code_batch_id = ANY($1::uuid[]) AND redeemed_at IS NOT NULL"
        " GROUP BY code_batch_id",
        batch_ids,
    )
    return {r["code_batch_id"]: r["n"] for r in records}


async def recoveries_of(conn, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Recovery]]:
    records = await conn.fetch(
        "SELECT code_batch_id, from_page, voided_count, recovered_by, reason, recover_time"
        " FROM code_export_recoveries WHERE code_batch_id = ANY($1::uuid[])"
        " ORDER BY code_batch_id, recovery",
        batch_ids,
    )
    found: dict[uuid.UUID, list[Recovery]] = defaultdict(list)
    for r in records:
        values = dict(r)
        found[values.pop("code_batch_id")].append(Recovery(**values))
    return found


async def add_recovery(conn, code_batch_id: uuid.UUID, recovery: Recovery) -> None:
    await conn.execute(
        "INSERT INTO code_export_recoveries (code_batch_id, recovery, from_page, voided_count,"
        " recovered_by, reason, recover_time)"
        " SELECT $1, coalesce(max(recovery), 0) + 1, $2, $3, $4, $5, $6"
        " FROM code_export_recoveries WHERE code_batch_id = $1",
        code_batch_id,
        recovery.from_page,
        recovery.voided_count,
        recovery.recovered_by,
        recovery.reason,
        recovery.recover_time,
    )


# --- the codes -------------------------------------------------------------------------------
async def add_codes(
    conn,
    code_batch_id: uuid.UUID,
    page: int,
    key_id: str,
    codes: dict[int, bytes],
) -> set[int]:
    """Store the digests of a page's codes by sequence; returns the sequences stored. A digest
    some code has already (two equal draws of 75 bits: not expected, but never two codes in
    one) is skipped, for the caller to draw again."""
    records = await conn.fetch(
        "INSERT INTO redemption_codes (code_batch_id, sequence, page, key_id, digest)"
        " SELECT $1, s, $2, $3, d FROM unnest($4::int[], $5::bytea[]) AS t(s, d)"
        " ON CONFLICT (digest) DO NOTHING RETURNING sequence",
        code_batch_id,
        page,
        key_id,
        list(codes),
        list(codes.values()),
    )
    return {r["sequence"] for r in records}


async def void_from_page(conn, code_batch_id: uuid.UUID, from_page: int, now: dt.datetime) -> int:
    """Void the codes of `from_page` and later pages not redeemed nor voided yet; how many."""
    status = await conn.execute(
        "UPDATE redemption_codes SET voided_at = $3"
        " WHERE code_batch_id = $1 AND page >= $2 AND redeemed_at IS NULL AND voided_at IS NULL",
        code_batch_id,
        from_page,
        now,
    )
    return int(status.split()[-1])


async def find(conn, hashes: list[tuple[str, bytes]]) -> FoundCode | None:
    """The code with one of `hashes` (key id, digest), its batch locked against a change of
    state (disabling, a recovery) until the caller's transaction ends."""
    record = await conn.fetchrow(
        "SELECT c.code_batch_id, c.sequence, c.key_id, c.digest, c.redeemed_at,"
        "   c.voided_at IS NOT NULL AS voided, b.state AS batch_state, b.redeem_by, b.plan_id,"
        "   b.plan_version"
        " FROM redemption_codes c JOIN code_batches b USING (code_batch_id)"
        " WHERE c.digest = ANY($2::bytea[])"  # the unique index on digest finds it
        "   AND (c.key_id, c.digest) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))"
        " LIMIT 1 FOR SHARE OF b",
        [k for k, _ in hashes],
        [d for _, d in hashes],
    )
    return FoundCode(**dict(record)) if record is not None else None


async def claim(
    conn, code_batch_id: uuid.UUID, sequence: int, member_id: uuid.UUID, now: dt.datetime
) -> bool:
    """Mark the code redeemed by `member_id`, unless it was redeemed or voided meanwhile: of
    concurrent claims exactly one updates the row."""
    claimed = await conn.fetchval(
        "UPDATE redemption_codes SET redeemed_at = $4, redeemed_by = $3"
        " WHERE code_batch_id = $1 AND sequence = $2"
        "   AND redeemed_at IS NULL AND voided_at IS NULL"
        " RETURNING true",
        code_batch_id,
        sequence,
        member_id,
        now,
    )
    return bool(claimed)


async def link(
    conn,
    code_batch_id: uuid.UUID,
    sequence: int,
    subscription_id: uuid.UUID,
    term_sequence: int,
    rehashed: tuple[str, bytes] | None,
) -> None:
    """Record the term a claimed code gave; `rehashed` replaces a hash made under a retired
    key."""
    key_id, digest = rehashed if rehashed is not None else (None, None)
    await conn.execute(
        "UPDATE redemption_codes SET subscription_id = $3, term_sequence = $4,"
        "   key_id = coalesce($5, key_id), digest = coalesce($6, digest)"
        " WHERE code_batch_id = $1 AND sequence = $2",
        code_batch_id,
        sequence,
        subscription_id,
        term_sequence,
        key_id,
        digest,
    )


async def term_batches(
    conn, subscription_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[int, uuid.UUID]]:
    """{subscription: {term sequence: code batch}} of the subscriptions' terms codes gave (one
    query for a page of subscriptions)."""
    records = await conn.fetch(
        "SELECT subscription_id, term_sequence, code_batch_id FROM redemption_codes"
        " WHERE subscription_id = ANY($1)",
        list(subscription_ids),
    )
    found: dict[uuid.UUID, dict[int, uuid.UUID]] = {}
    for r in records:
        found.setdefault(r["subscription_id"], {})[r["term_sequence"]] = r["code_batch_id"]
    return found
