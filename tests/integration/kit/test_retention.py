"""Retention prunes old bookkeeping and keeps what is still in its window."""

from __future__ import annotations

import datetime as dt
import uuid

from services.kit import retention

DAYS = {"idempotency": 30, "inbox": 30, "outbox": 7}


async def test_prune_removes_only_rows_past_their_window(kit_db):
    kit_pool = kit_db
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    async with kit_pool.acquire() as conn:
        for request_id, age in ((old, dt.timedelta(days=31)), (new, dt.timedelta(days=29))):
            await conn.execute(
                "INSERT INTO idempotency (request_id, method, request_hash, created_at)"
                " VALUES ($1, 'M', '\\x00', now() - $2::interval)",
                request_id,
                age,
            )
            await conn.execute(
                "INSERT INTO inbox (consumer, event_id, event_type, received_at)"
                " VALUES ('retention-test', $1, 't', now() - $2::interval)",
                request_id,
                age,
            )
        for published, age in (
            (True, dt.timedelta(days=8)),
            (True, dt.timedelta(days=6)),
            (False, dt.timedelta(days=30)),
        ):
            await conn.execute(
                "INSERT INTO outbox (id, event_type, source, subject, payload, created_at,"
                " published_at) VALUES ($1, 't', '/s', 's', '{}',"
                " now() - $2::interval, CASE WHEN $3 THEN now() - $2::interval END)",
                uuid.uuid4(),
                age,
                published,
            )
    removed = await retention.prune(kit_pool, DAYS)
    assert removed["idempotency"] >= 1 and removed["inbox"] >= 1 and removed["outbox"] >= 1
    async with kit_pool.acquire() as conn:
        ids = {r["request_id"] for r in await conn.fetch("SELECT request_id FROM idempotency")}
        assert new in ids and old not in ids
        events = {
            r["event_id"]
            for r in await conn.fetch(
                "SELECT event_id FROM inbox WHERE consumer = 'retention-test'"
            )
        }
        assert events == {new}
        # An unpublished row is never pruned, however old: it still has to go out.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                " AND created_at < now() - interval '29 days'"
            )
            >= 1
        )
        assert not await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at < now() - interval '7 days'"
        )
