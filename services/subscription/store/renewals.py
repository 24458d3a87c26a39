"""What the renewal and clock jobs find due, how they write many subscriptions at once, and the
terms a plan change cuts.

The jobs lock what they take with SKIP LOCKED: two replicas (or two runs) running at once take
different subscriptions, and a subscription a payment is being applied to waits for the next
run. Each query is one index's range (migration 0002), not a scan of every subscription."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields

from .subscriptions import SubscriptionRow, TermRow

_SUB_NAMES = [f.name for f in fields(SubscriptionRow) if f.name != "terms"]
_TERM_NAMES = [f.name for f in fields(TermRow)]
_SUB_COLUMNS = ", ".join(f"s.{n}" for n in _SUB_NAMES)


@dataclass(frozen=True)
class Loaded:
    row: SubscriptionRow
    member_status: str  # active | frozen | closed


async def load(conn, subscription_ids: list[uuid.UUID]) -> list[Loaded]:
    """The subscriptions named, with their terms and their member's status, in two queries."""
    if not subscription_ids:
        return []
    records = await conn.fetch(
        f"SELECT {_SUB_COLUMNS}, coalesce(m.status, 'active') AS member_status"
        " FROM subscriptions s LEFT JOIN members m USING (member_id)"
        " WHERE s.subscription_id = ANY($1) ORDER BY s.subscription_id",
        subscription_ids,
    )
    terms: dict[uuid.UUID, list[TermRow]] = {}
    for t in await conn.fetch(
        f"SELECT {', '.join(_TERM_NAMES)} FROM terms WHERE subscription_id = ANY($1)"
        " ORDER BY subscription_id, sequence",
        subscription_ids,
    ):
        terms.setdefault(t["subscription_id"], []).append(TermRow(**dict(t)))
    return [
        Loaded(
            SubscriptionRow(
                **{n: r[n] for n in _SUB_NAMES},
                terms=tuple(terms.get(r["subscription_id"], ())),
            ),
            r["member_status"],
        )
        for r in records
    ]


_ACTIVE_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM members m WHERE m.member_id = s.member_id AND m.status <> 'active')"
)


async def lock_charges_due(
    conn,
    *,
    first_before: dt.datetime,
    retry_before: dt.datetime,
    now: dt.datetime,
    max_attempts: int,
    skip: list[uuid.UUID],
    limit: int,
) -> list[uuid.UUID]:
    """Lock up to `limit` subscriptions of each kind a renewal charge is due for: a first charge
    (the period ends by `first_before`, i.e. within the lead), a retry (the last attempt made by
    `retry_before`), and grace entered without any charge; auto-renew on, attempts left, the
    member active, grace not over. `skip`: those this run already looked at."""
    common = (
        "s.auto_renew AND s.renewal_plan_id IS NOT NULL AND s.attempts < $4"
        f" AND {_ACTIVE_MEMBER} AND NOT (s.subscription_id = ANY($5))"
    )
    records = await conn.fetch(
        "WITH first AS ("
        "  SELECT s.subscription_id FROM subscriptions s"
        "  WHERE s.state = 'active' AND s.last_attempt_at IS NULL AND s.period_end <= $1"
        f"    AND {common} ORDER BY s.period_end LIMIT $6 FOR UPDATE SKIP LOCKED"
        "), retry AS ("
        "  SELECT s.subscription_id FROM subscriptions s"
        "  WHERE s.state IN ('active', 'grace') AND s.last_attempt_at IS NOT NULL"
        "    AND s.last_attempt_at <= $2 AND (s.state = 'active' OR s.grace_until > $3)"
        f"    AND {common} ORDER BY s.last_attempt_at LIMIT $6 FOR UPDATE SKIP LOCKED"
        "), unpaid AS ("
        "  SELECT s.subscription_id FROM subscriptions s"
        "  WHERE s.state = 'grace' AND s.last_attempt_at IS NULL AND s.grace_until > $3"
        f"    AND {common} ORDER BY s.grace_until LIMIT $6 FOR UPDATE SKIP LOCKED"
        ") SELECT subscription_id FROM first UNION ALL SELECT subscription_id FROM retry"
        " UNION ALL SELECT subscription_id FROM unpaid",
        first_before,
        retry_before,
        now,
        max_attempts,
        skip,
        limit,
    )
    return [r["subscription_id"] for r in records]


async def lock_clock_due(
    conn, *, now: dt.datetime, ordered_before: dt.datetime, skip: list[uuid.UUID], limit: int
) -> list[uuid.UUID]:
    """Lock up to `limit` subscriptions of each kind time alone moves on: a first order unpaid
    since before `ordered_before`, an active period ended, a grace ended."""
    records = await conn.fetch(
        "WITH pending AS ("
        "  SELECT subscription_id FROM subscriptions WHERE state = 'pending_payment'"
        "    AND ordered_at <= $2 AND NOT (subscription_id = ANY($3))"
        "  ORDER BY ordered_at LIMIT $4 FOR UPDATE SKIP LOCKED"
        "), ended AS ("
        "  SELECT subscription_id FROM subscriptions WHERE state = 'active'"
        "    AND period_end <= $1 AND NOT (subscription_id = ANY($3))"
        "  ORDER BY period_end LIMIT $4 FOR UPDATE SKIP LOCKED"
        "), graced AS ("
        "  SELECT subscription_id FROM subscriptions WHERE state = 'grace'"
        "    AND grace_until <= $1 AND NOT (subscription_id = ANY($3))"
        "  ORDER BY grace_until LIMIT $4 FOR UPDATE SKIP LOCKED"
        ") SELECT subscription_id FROM pending UNION ALL SELECT subscription_id FROM ended"
        " UNION ALL SELECT subscription_id FROM graced",
        now,
        ordered_before,
        skip,
        limit,
    )
    return [r["subscription_id"] for r in records]


@dataclass(frozen=True)
class Attempt:
    subscription_id: uuid.UUID
    attempts_before: int
    order_id: uuid.UUID  # the renewal order now pending


async def record_attempts(conn, attempts: list[Attempt], now: dt.datetime) -> set[uuid.UUID]:
    """Count a charge request on each subscription whose attempts are still `attempts_before`
    (a conditional update: a charge counted by another run is not counted, nor requested,
    again). Returns the subscriptions counted."""
    if not attempts:
        return set()
    records = await conn.fetch(
        "UPDATE subscriptions s SET attempts = s.attempts + 1, last_attempt_at = $4,"
        " order_id = a.order_id, update_time = $4"
        " FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS a(subscription_id, attempts, order_id)"
        " WHERE s.subscription_id = a.subscription_id AND s.attempts = a.attempts"
        " RETURNING s.subscription_id",
        [a.subscription_id for a in attempts],
        [a.attempts_before for a in attempts],
        [a.order_id for a in attempts],
        now,
    )
    return {r["subscription_id"] for r in records}


async def save_states(conn, rows: list[SubscriptionRow]) -> None:
    """Write what the clock changed (state, grace, end, auto-renew, pending order) of many
    subscriptions in one statement; their terms are unchanged."""
    if not rows:
        return
    await conn.execute(
        "UPDATE subscriptions s SET state = c.state, grace_until = c.grace_until,"
        " ended_at = c.ended_at, end_cause = c.end_cause, auto_renew = c.auto_renew,"
        " order_id = c.order_id, update_time = c.update_time"
        " FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],"
        "   $6::bool[], $7::uuid[], $8::timestamptz[])"
        "   AS c(subscription_id, state, grace_until, ended_at, end_cause, auto_renew, order_id,"
        "        update_time)"
        " WHERE s.subscription_id = c.subscription_id",
        [r.subscription_id for r in rows],
        [r.state for r in rows],
        [r.grace_until for r in rows],
        [r.ended_at for r in rows],
        [r.end_cause for r in rows],
        [r.auto_renew for r in rows],
        [r.order_id for r in rows],
        [r.update_time for r in rows],
    )


# --- a plan change ------------------------------------------------------------------------------
async def cut_terms(conn, subscription_id: uuid.UUID, kept: tuple[TermRow, ...]) -> None:
    """A plan change keeps `kept` (the terms ended, and the one running cut at the change) and
    drops the rest (stacked terms, their value moved into the new plan's term): written before
    the new term is appended, which takes the next sequence."""
    await conn.execute(
        "DELETE FROM terms WHERE subscription_id = $1 AND sequence > $2",
        subscription_id,
        len(kept),
    )
    await conn.executemany(
        "UPDATE terms SET end_time = $3, paid_minor = $4 WHERE subscription_id = $1"
        " AND sequence = $2 AND (end_time, paid_minor) IS DISTINCT FROM ($3, $4)",
        [(subscription_id, t.sequence, t.end_time, t.paid_minor) for t in kept],
    )


async def set_plan_change_time(conn, subscription_id: uuid.UUID, at: dt.datetime | None) -> None:
    await conn.execute(
        "UPDATE subscriptions SET plan_change_time = $2 WHERE subscription_id = $1",
        subscription_id,
        at,
    )


async def plan_change_times(
    conn, subscription_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dt.datetime | None]:
    """When each subscription's change at the next renewal was asked for."""
    records = await conn.fetch(
        "SELECT subscription_id, plan_change_time FROM subscriptions"
        " WHERE subscription_id = ANY($1)",
        list(subscription_ids),
    )
    return {r["subscription_id"]: r["plan_change_time"] for r in records}
