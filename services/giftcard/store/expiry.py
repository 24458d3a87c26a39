"""Cards past their validity, for the expiry job."""

from __future__ import annotations

import datetime as dt
import uuid

from ..domain.states import CardOperation, CardState, card_refusal

# The states the expiry job expires (domain.states: active, frozen, lost).
EXPIRING = sorted(s.value for s in CardState if card_refusal(s, CardOperation.EXPIRE) is None)
# Written out (the domain's own values, never input), so that the partial index cards_expiry
# serves the query.
_STATES = ", ".join(f"'{s}'" for s in EXPIRING)


async def due(
    conn, now: dt.datetime, limit: int, after: tuple[dt.datetime, uuid.UUID] | None = None
) -> list[tuple[dt.datetime, uuid.UUID]]:
    """(expire_time, card_id) of cards past their validity with nothing held (a held hold
    settles first, within the hold's time), in that order, after `after`."""
    rows = await conn.fetch(
        "SELECT expire_time, card_id FROM cards"
        f" WHERE state IN ({_STATES}) AND expire_time <= $1 AND held_minor = 0"
        " AND ($2::timestamptz IS NULL OR (expire_time, card_id) > ($2, $3::uuid))"
        " ORDER BY expire_time, card_id LIMIT $4",
        now,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [(r["expire_time"], r["card_id"]) for r in rows]
