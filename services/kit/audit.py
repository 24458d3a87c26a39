"""The audit trail: who did what to which member or aggregate, in the change's transaction."""

from __future__ import annotations

import uuid

import asyncpg


async def record(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    subject: str | uuid.UUID,
    detail: dict | None = None,
) -> None:
    """Append one entry; `subject` is the member or aggregate id the action was on."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4)",
        actor,
        action,
        str(subject),
        detail or {},
    )
