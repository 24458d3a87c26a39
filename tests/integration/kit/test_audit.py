"""The audit trail: one row per recorded action, kept with the change's transaction."""

from __future__ import annotations

import uuid

import pytest

from services.kit import audit


async def test_record_keeps_actor_action_subject_and_detail(kit_db):
    member = uuid.uuid4()
    async with kit_db.acquire() as conn:
        await audit.record(
            conn, actor="operator:desk", action="member.frozen", subject=member, detail={"r": 1}
        )
        await audit.record(conn, actor="cli", action="client.create", subject="shop-app")
    rows = await kit_db.fetch("SELECT actor, action, subject, detail FROM audit_log ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("operator:desk", "member.frozen", str(member), {"r": 1}),
        ("cli", "client.create", "shop-app", {}),
    ]


async def test_a_rolled_back_change_leaves_no_audit_row(kit_db):
    with pytest.raises(RuntimeError):
        async with kit_db.acquire() as conn, conn.transaction():
            await audit.record(conn, actor="system", action="points.adjust", subject="m-1")
            raise RuntimeError("the change failed")
    assert await kit_db.fetchval("SELECT count(*) FROM audit_log") == 0
