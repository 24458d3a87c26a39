"""Batches (定制), what their views show (approvals, cards by state, recoveries), the pages of
their export and the cards a recovery voids."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

import asyncpg

from ..domain.approvals import Approval, Role
from ..domain.stock import BatchState
from .approvals import Given

_COLUMNS = """batch_id, product_id, currency_code, face_value_minor, card_count, total_minor,
    state, requested_by, note, policy_version, rejected_by, reject_reason, exported_pages,
    create_time, approve_time, generate_time, export_finish_time, update_time"""
# What `update` may set (names are code, never input).
_SETTABLE = frozenset(
    {
        "state",
        "rejected_by",
        "reject_reason",
        "exported_pages",
        "approve_time",
        "generate_time",
        "export_finish_time",
    }
)


@dataclass(frozen=True)
class BatchRow:
    batch_id: uuid.UUID
    product_id: uuid.UUID
    currency_code: str
    face_value_minor: int
    card_count: int
    total_minor: int
    state: BatchState
    requested_by: str
    note: str
    policy_version: int
    rejected_by: str
    reject_reason: str
    exported_pages: int
    create_time: dt.datetime
    approve_time: dt.datetime | None
    generate_time: dt.datetime | None
    export_finish_time: dt.datetime | None
    update_time: dt.datetime


@dataclass(frozen=True)
class Recovery:
    from_page: int
    voided_count: int
    generated_count: int
    recovered_by: str
    reason: str
    recover_time: dt.datetime


@dataclass(frozen=True)
class CardCounts:
    by_state: dict[str, int]
    delivered: int  # secrets delivered, voided cards' included


@dataclass(frozen=True)
class SecretCard:
    card_id: uuid.UUID
    card_number: str
    sequence: int


def _row(record: asyncpg.Record | None) -> BatchRow | None:
    if record is None:
        return None
    values = dict(record)
    values["state"] = BatchState(values["state"])
    return BatchRow(**values)


async def insert(conn, batch: BatchRow) -> BatchRow:
    record = await conn.fetchrow(
        "INSERT INTO batches (batch_id, product_id, currency_code, face_value_minor, card_count,"
        " total_minor, state, requested_by, note, policy_version, create_time, update_time)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {_COLUMNS}",
        batch.batch_id,
        batch.product_id,
        batch.currency_code,
        batch.face_value_minor,
        batch.card_count,
        batch.total_minor,
        batch.state.value,
        batch.requested_by,
        batch.note,
        batch.policy_version,
        batch.create_time,
    )
    row = _row(record)
    assert row is not None
    return row


async def get(conn, batch_id: uuid.UUID, *, for_update: bool = False) -> BatchRow | None:
    lock = " FOR UPDATE" if for_update else ""
    return _row(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM batches WHERE batch_id = $1{lock}", batch_id)
    )


async def update(conn, batch_id: uuid.UUID, now: dt.datetime, **values: object) -> BatchRow:
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"not a settable batch column: {sorted(unknown)}")
    names = list(values)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    args = [v.value if isinstance(v, BatchState) else v for v in values.values()]
    record = await conn.fetchrow(
        f"UPDATE batches SET {sets}, update_time = $2 WHERE batch_id = $1 RETURNING {_COLUMNS}",
        batch_id,
        now,
        *args,
    )
    row = _row(record)
    assert row is not None
    return row


async def listed(
    conn,
    *,
    before: uuid.UUID | None,
    limit: int,
    state: BatchState | None,
    product_id: uuid.UUID | None,
) -> list[BatchRow]:
    """Newest first (ids are time-ordered)."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM batches"
        " WHERE ($1::uuid IS NULL OR batch_id < $1) AND ($2::text IS NULL OR state = $2)"
        " AND ($3::uuid IS NULL OR product_id = $3)"
        " ORDER BY batch_id DESC LIMIT $4",
        before,
        state.value if state else None,
        product_id,
        limit,
    )
    return [r for r in map(_row, records) if r is not None]


# --- what a batch's view shows ----------------------------------------------------------
async def approvals_of(conn, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Given]]:
    records = await conn.fetch(
        "SELECT subject_id, approver, role, note, approve_time FROM approvals"
        " WHERE subject = 'batch' AND subject_id = ANY($1::uuid[])"
        " ORDER BY approve_time, approver",
        batch_ids,
    )
    found: dict[uuid.UUID, list[Given]] = defaultdict(list)
    for r in records:
        found[r["subject_id"]].append(
            Given(Approval(r["approver"], Role(r["role"])), r["note"], r["approve_time"])
        )
    return found


async def card_counts(conn, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, CardCounts]:
    records = await conn.fetch(
        "SELECT batch_id, state, count(*) AS n, count(*) FILTER (WHERE secret_delivered) AS d"
        " FROM cards WHERE batch_id = ANY($1::uuid[]) GROUP BY batch_id, state",
        batch_ids,
    )
    states: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    delivered: dict[uuid.UUID, int] = defaultdict(int)
    for r in records:
        states[r["batch_id"]][r["state"]] = r["n"]
        delivered[r["batch_id"]] += r["d"]
    return {b: CardCounts(states[b], delivered[b]) for b in batch_ids}


async def recoveries_of(conn, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Recovery]]:
    records = await conn.fetch(
        "SELECT batch_id, from_page, voided_count, generated_count, recovered_by, reason,"
        " recover_time FROM export_recoveries WHERE batch_id = ANY($1::uuid[])"
        " ORDER BY recovery",
        batch_ids,
    )
    found: dict[uuid.UUID, list[Recovery]] = defaultdict(list)
    for r in records:
        values = dict(r)
        found[values.pop("batch_id")].append(Recovery(**values))
    return found


# --- the export ---------------------------------------------------------------------------
async def undelivered(conn, batch_id: uuid.UUID, limit: int) -> list[SecretCard]:
    """The next cards whose secrets are to deliver, in the export's order."""
    records = await conn.fetch(
        "SELECT card_id, card_number, sequence FROM cards"
        " WHERE batch_id = $1 AND state = 'issued' AND NOT secret_delivered"
        " ORDER BY sequence LIMIT $2",
        batch_id,
        limit,
    )
    return [SecretCard(**dict(r)) for r in records]


async def undelivered_count(conn, batch_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM cards"
        " WHERE batch_id = $1 AND state = 'issued' AND NOT secret_delivered",
        batch_id,
    )


async def deliver(
    conn, card_ids: list[uuid.UUID], key_id: str, digests: list[bytes], now: dt.datetime
) -> None:
    """The cards' secrets as delivered: their new hashes, marked delivered (never again)."""
    await conn.execute(
        "UPDATE cards SET pin_key_id = $2, pin_hash = u.digest, secret_delivered = true,"
        " update_time = $4"
        " FROM unnest($1::uuid[], $3::bytea[]) AS u(card_id, digest)"
        " WHERE cards.card_id = u.card_id AND NOT cards.secret_delivered",
        card_ids,
        key_id,
        digests,
        now,
    )


async def add_page(
    conn,
    batch_id: uuid.UUID,
    page: int,
    cards: list[SecretCard],
    delivered_by: str,
    now: dt.datetime,
) -> None:
    await conn.execute(
        "INSERT INTO export_pages (batch_id, page, first_sequence, last_sequence, row_count,"
        " delivered_by, deliver_time) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        batch_id,
        page,
        cards[0].sequence,
        cards[-1].sequence,
        len(cards),
        delivered_by,
        now,
    )


async def page_start(conn, batch_id: uuid.UUID, page: int) -> int | None:
    return await conn.fetchval(
        "SELECT first_sequence FROM export_pages WHERE batch_id = $1 AND page = $2",
        batch_id,
        page,
    )


async def delivered_from(
    conn, batch_id: uuid.UUID, first_sequence: int
) -> list[tuple[uuid.UUID, str]]:
    """(card id, state) of the cards delivered in the pages from the one starting at
    `first_sequence` on, but those voided or cancelled already (out of use); locked."""
    records = await conn.fetch(
        "SELECT card_id, state FROM cards WHERE batch_id = $1 AND sequence >= $2"
        " AND secret_delivered AND state NOT IN ('voided', 'cancelled')"
        " ORDER BY card_id FOR UPDATE",
        batch_id,
        first_sequence,
    )
    return [(r["card_id"], r["state"]) for r in records]


async def void(conn, card_ids: list[uuid.UUID], reason: str, now: dt.datetime) -> None:
    await conn.execute(
        "UPDATE cards SET state = 'voided', state_reason = $2, update_time = $3"
        " WHERE card_id = ANY($1::uuid[]) AND state = 'issued'",
        card_ids,
        reason,
        now,
    )


async def add_recovery(
    conn,
    batch_id: uuid.UUID,
    recovery: Recovery,
) -> None:
    await conn.execute(
        "INSERT INTO export_recoveries (batch_id, recovery, from_page, voided_count,"
        " generated_count, recovered_by, reason, recover_time)"
        " SELECT $1, coalesce(max(recovery), 0) + 1, $2, $3, $4, $5, $6, $7"
        " FROM export_recoveries WHERE batch_id = $1",
        batch_id,
        recovery.from_page,
        recovery.voided_count,
        recovery.generated_count,
        recovery.recovered_by,
        recovery.reason,
        recovery.recover_time,
    )
