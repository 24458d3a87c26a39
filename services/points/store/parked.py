"""Storefront events points keeps instead of applying (parked_events, migration 0003)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from ..domain.commerce import OPEN_STATES, ParkedState


@dataclass(frozen=True)
class Parked:
    parked_id: int
    event_id: str
    event_type: str
    kind: str
    member_id: uuid.UUID
    order_id: str | None
    command: dict[str, Any]
    state: ParkedState
    reason: str
    detail: str
    parked_at: dt.datetime
    wait_until: dt.datetime | None
    settled_at: dt.datetime | None
    settle_reason: str


PARKED_FIELDS = tuple(f.name for f in dataclasses.fields(Parked))
PARKED_COLUMNS = ", ".join(PARKED_FIELDS)


def _parked(row) -> Parked:
    values = {name: row[name] for name in PARKED_FIELDS}
    return Parked(**{**values, "state": ParkedState(values["state"])})


async def park(
    conn,
    *,
    event_id: str,
    event_type: str,
    kind: str,
    member_id: uuid.UUID,
    order_id: str | None,
    command: dict[str, Any],
    state: ParkedState,
    reason: str,
    detail: str,
    now: dt.datetime,
    wait_until: dt.datetime | None = None,
) -> None:
    """Keep an event with its reason; an event parked before (applied after waiting, and
    parked again for another reason) keeps its row, with the new state and reason."""
    await conn.execute(
        "INSERT INTO parked_events (event_id, event_type, kind, member_id, order_id, command,"
        " state, reason, detail, parked_at, wait_until)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (event_id, event_type) DO UPDATE SET state = EXCLUDED.state,"
        " reason = EXCLUDED.reason, detail = EXCLUDED.detail, wait_until = EXCLUDED.wait_until,"
        " settled_at = NULL, settle_reason = ''",
        event_id,
        event_type,
        kind,
        member_id,
        order_id,
        command,
        state,
        reason,
        detail,
        now,
        wait_until,
    )


async def waiting_for(conn, member_id: uuid.UUID) -> list[Parked]:
    """The member's events waiting for the member, locked, in the order they came."""
    rows = await conn.fetch(
        f"SELECT {PARKED_COLUMNS} FROM parked_events WHERE member_id = $1 AND state = 'waiting'"
        " ORDER BY parked_id FOR UPDATE",
        member_id,
    )
    return [_parked(r) for r in rows]


async def settle(
    conn, parked_id: int, state: ParkedState, now: dt.datetime, settle_reason: str = ""
) -> bool:
    """Settle an event still waiting; False when it is no longer waiting (applying it parked
    it again, held for another reason)."""
    done = await conn.fetchval(
        "UPDATE parked_events SET state = $2, settled_at = $3, settle_reason = $4"
        " WHERE parked_id = $1 AND state = 'waiting' RETURNING true",
        parked_id,
        state,
        now,
        settle_reason,
    )
    return bool(done)


async def supersede_payments(conn, order_id: str, now: dt.datetime) -> list[str]:
    """Payments of the order held for an operator are superseded by the one just applied;
    the reasons they were held for."""
    rows = await conn.fetch(
        "UPDATE parked_events SET state = 'superseded', settled_at = $2"
        " WHERE order_id = $1 AND kind = 'order.paid' AND state = 'held' RETURNING reason",
        order_id,
        now,
    )
    return [r["reason"] for r in rows]


async def give_up_due(conn, now: dt.datetime, limit: int) -> list[Parked]:
    """Give up up to `limit` events whose wait for their member ended; those given up. Rows a
    registration is applying meanwhile are skipped (their state will not be waiting)."""
    rows = await conn.fetch(
        "UPDATE parked_events SET state = 'given_up', settled_at = $1"
        " WHERE parked_id IN (SELECT parked_id FROM parked_events"
        "  WHERE state = 'waiting' AND wait_until <= $1 ORDER BY wait_until LIMIT $2"
        "  FOR UPDATE SKIP LOCKED)"
        f" RETURNING {PARKED_COLUMNS}",
        now,
        limit,
    )
    return [_parked(r) for r in rows]


async def of_order(conn, order_id: str) -> list[Parked]:
    rows = await conn.fetch(
        f"SELECT {PARKED_COLUMNS} FROM parked_events WHERE order_id = $1 ORDER BY parked_id",
        order_id,
    )
    return [_parked(r) for r in rows]


async def open_events(conn, after: int, limit: int) -> list[Parked]:
    """Events still waiting or held, oldest first, after `after` (a parked_id)."""
    rows = await conn.fetch(
        f"SELECT {PARKED_COLUMNS} FROM parked_events WHERE state = ANY($1::text[])"
        " AND parked_id > $2 ORDER BY parked_id LIMIT $3",
        list(OPEN_STATES),
        after,
        limit,
    )
    return [_parked(r) for r in rows]


async def open_counts(conn) -> dict[ParkedState, int]:
    """How many events wait for their member, and how many are held for an operator."""
    rows = await conn.fetch(
        "SELECT state, count(*) AS n FROM parked_events WHERE state = ANY($1::text[])"
        " GROUP BY state",
        list(OPEN_STATES),
    )
    found = {ParkedState(r["state"]): r["n"] for r in rows}
    return {state: found.get(state, 0) for state in OPEN_STATES}
