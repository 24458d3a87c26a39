"""A member's segmentation tags."""

from __future__ import annotations

import uuid


async def held(conn, member_id: uuid.UUID) -> list[str]:
    return await conn.fetchval(
        "SELECT coalesce(array_agg(tag), '{}') FROM member_tags WHERE member_id = $1", member_id
    )


async def add(conn, member_id: uuid.UUID, tags: list[str]) -> None:
    await conn.execute(
        "INSERT INTO member_tags (member_id, tag) SELECT $1, unnest($2::text[])"
        " ON CONFLICT DO NOTHING",
        member_id,
        tags,
    )


async def remove(conn, member_id: uuid.UUID, tags: list[str]) -> None:
    await conn.execute(
        "DELETE FROM member_tags WHERE member_id = $1 AND tag = ANY($2::text[])", member_id, tags
    )
