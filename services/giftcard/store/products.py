"""Card products (卡种)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

_COLUMNS = """product_id, display_name, kind, currency_code, face_value_minor, validity_months,
    channels, enabled, created_by, create_time, update_time"""


@dataclass(frozen=True)
class ProductRow:
    product_id: uuid.UUID
    display_name: str
    kind: str  # denomination | custom
    currency_code: str
    face_value_minor: int  # 0 for custom
    validity_months: int
    channels: tuple[str, ...]
    enabled: bool
    created_by: str
    create_time: dt.datetime
    update_time: dt.datetime


def _row(record: asyncpg.Record | None) -> ProductRow | None:
    if record is None:
        return None
    values = dict(record)
    values["channels"] = tuple(values["channels"])
    return ProductRow(**values)


async def insert(conn, product: ProductRow) -> ProductRow:
    record = await conn.fetchrow(
        "INSERT INTO products (product_id, display_name, kind, currency_code, face_value_minor,"
        " validity_months, channels, enabled, created_by, create_time, update_time)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_COLUMNS}",
        product.product_id,
        product.display_name,
        product.kind,
        product.currency_code,
        product.face_value_minor,
        product.validity_months,
        list(product.channels),
        product.enabled,
        product.created_by,
        product.create_time,
        product.update_time,
    )
    row = _row(record)
    assert row is not None
    return row


async def get(conn, product_id: uuid.UUID, *, for_update: bool = False) -> ProductRow | None:
    lock = " FOR UPDATE" if for_update else ""
    return _row(
        await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM products WHERE product_id = $1{lock}", product_id
        )
    )


async def update(
    conn,
    product_id: uuid.UUID,
    *,
    display_name: str,
    validity_months: int,
    channels: tuple[str, ...],
    enabled: bool,
    now: dt.datetime,
) -> ProductRow:
    record = await conn.fetchrow(
        "UPDATE products SET display_name = $2, validity_months = $3, channels = $4,"
        f" enabled = $5, update_time = $6 WHERE product_id = $1 RETURNING {_COLUMNS}",
        product_id,
        display_name,
        validity_months,
        list(channels),
        enabled,
        now,
    )
    row = _row(record)
    assert row is not None
    return row


async def listed(
    conn, *, after: tuple[str, uuid.UUID] | None, limit: int, enabled_only: bool
) -> list[ProductRow]:
    """By display name (byte order, so pages are stable whatever the collation), then id."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM products"
        ' WHERE ($1::text IS NULL OR (display_name COLLATE "C", product_id) > ($1, $2))'
        " AND (NOT $3 OR enabled)"
        ' ORDER BY display_name COLLATE "C", product_id LIMIT $4',
        after[0] if after else None,
        after[1] if after else None,
        enabled_only,
        limit,
    )
    return [r for r in map(_row, records) if r is not None]
