"""db.Batch: several statements in one round trip, all or nothing."""

from __future__ import annotations

import asyncpg
import pytest

from services.kit import db, outbox
from tests.support.kit_events import ThingHappened


async def _effects(pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT kind, key FROM kit_test_effects ORDER BY id")
    return [tuple(r) for r in rows]


async def test_statements_run_together_and_return_their_rows(kit_db):
    await kit_db.execute("INSERT INTO kit_test_effects (kind, key) VALUES ('seed', 'a')")
    batch = db.Batch()
    batch.add("INSERT INTO kit_test_effects (kind, key) VALUES ($1, $2)", "batch", "b")
    updated = batch.add(
        "UPDATE kit_test_effects SET key = $1 WHERE kind = $2 RETURNING kind, key",
        "a2",
        "seed",
        returns=("kind", "key"),
    )
    # A read in the batch sees the database as it was before the batch.
    before = batch.add(
        "SELECT count(*) AS n FROM kit_test_effects WHERE kind = $1", "batch", returns=("n",)
    )
    nothing = batch.add(
        "UPDATE kit_test_effects SET key = 'x' WHERE kind = $1 RETURNING key",
        "missing",
        returns=("key",),
        disjoint=True,  # no row of kind 'seed' has kind 'missing'
    )
    async with kit_db.acquire() as conn:
        await batch.run(conn)
    assert updated.rows == [{"kind": "seed", "key": "a2"}]
    assert before.row == {"n": 0}
    assert nothing.rows == [] and nothing.row is None
    assert await _effects(kit_db) == [("seed", "a2"), ("batch", "b")]
    assert not batch  # empty again: it can be reused


async def test_one_failing_statement_fails_them_all(kit_db):
    batch = db.Batch()
    batch.add("INSERT INTO kit_test_effects (kind, key) VALUES ($1, $2)", "batch", "kept?")
    batch.add("INSERT INTO kit_test_effects (kind, key) VALUES ($1, NULL)", "batch")
    async with kit_db.acquire() as conn:
        with pytest.raises(asyncpg.NotNullViolationError):
            await batch.run(conn)
    assert await _effects(kit_db) == []


async def test_code_written_for_a_connection_queues_its_writes(kit_db):
    """The outbox writes through `execute`: given a batch, its row goes with the batch."""
    batch = db.Batch()
    event_id = await outbox.Outbox("kit").add(batch, "subject-1", ThingHappened(n=1))
    assert await kit_db.fetchval("SELECT count(*) FROM outbox") == 0
    async with kit_db.acquire() as conn:
        await batch.run(conn)
    assert str(await kit_db.fetchval("SELECT id FROM outbox")) == event_id


async def test_an_empty_batch_sends_nothing(kit_db):
    async with kit_db.acquire() as conn:
        await db.Batch().run(conn)


async def test_a_second_change_to_a_table_is_refused_unless_declared_disjoint(kit_db):
    """The trap the guard is for: two changes of one row in one batch, only one applied."""
    await kit_db.execute("INSERT INTO kit_test_effects (kind, key) VALUES ('row', 'a')")
    batch = db.Batch()
    batch.add("UPDATE kit_test_effects SET key = key || '1' WHERE kind = 'row'")
    with pytest.raises(db.BatchConflict, match="kit_test_effects"):
        batch.add("UPDATE kit_test_effects SET key = key || '2' WHERE kind = 'row'")
    with pytest.raises(db.BatchConflict):
        batch.add("DELETE FROM kit_test_effects WHERE kind = 'row'")
    with pytest.raises(db.BatchConflict):
        batch.add(
            "INSERT INTO kit_test_effects (id, kind, key) VALUES (1, 'row', 'b')"
            " ON CONFLICT (id) DO UPDATE SET key = 'b'"
        )
    # Declared disjoint when it is not, PostgreSQL applies one of the two changes only.
    batch.add("UPDATE kit_test_effects SET key = key || '2' WHERE kind = 'row'", disjoint=True)
    async with kit_db.acquire() as conn:
        await batch.run(conn)
    assert await _effects(kit_db) in ([("row", "a1")], [("row", "a2")])


async def test_a_unique_violation_becomes_the_stores_own_error(kit_db):
    class KeyTaken(db.Duplicate):
        pass

    await kit_db.execute("CREATE UNIQUE INDEX IF NOT EXISTS kit_test_key ON kit_test_effects (key)")
    try:
        await kit_db.execute("INSERT INTO kit_test_effects (kind, key) VALUES ('k', 'same')")
        with pytest.raises(KeyTaken):
            with db.duplicates({"kit_test_key": KeyTaken}):
                await kit_db.execute(
                    "INSERT INTO kit_test_effects (kind, key) VALUES ('k', 'same')"
                )
        with pytest.raises(asyncpg.UniqueViolationError):  # a constraint the store did not name
            with db.duplicates({"other": KeyTaken}):
                await kit_db.execute(
                    "INSERT INTO kit_test_effects (kind, key) VALUES ('k', 'same')"
                )
    finally:
        await kit_db.execute("DROP INDEX kit_test_key")
