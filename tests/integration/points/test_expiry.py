"""Lot expiry across partial spends, held points and expired lots, expiring-soon notices."""

from __future__ import annotations

import datetime as dt

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from services.points import jobs
from tests.support.points import assert_reconciled, redeem_request, reserve_request

T0 = dt.datetime(2025, 1, 10, 4, 0, tzinfo=dt.UTC)  # noon in Shanghai
# A lot lasts 12 months and ends with its business day (midnight Shanghai = 16:00 UTC).
EXPIRY_A = dt.datetime(2026, 1, 10, 16, 0, tzinfo=dt.UTC)
EXPIRY_B = dt.datetime(2026, 2, 19, 16, 0, tzinfo=dt.UTC)


async def redeem(points, operator, member, amount):
    return await points.Redeem(redeem_request(member, amount), metadata=operator)


async def test_expiry_across_lots_with_partial_spends(
    points, points_app, operator, new_member, fund, balance, clock, tap
):
    ledger, pool = points_app.usecases, points_app.pool
    member = await new_member()
    clock.set(T0)
    await fund(member, 100)  # lot A
    clock.set(T0 + dt.timedelta(days=40))
    await fund(member, 100)  # lot B
    clock.set(T0 + dt.timedelta(days=60))
    await redeem(points, operator, member, 60)  # A: 40 left, B untouched
    expiries = await pool.fetch("SELECT expires_at, remaining FROM lots ORDER BY expires_at")
    assert [(r["expires_at"], r["remaining"]) for r in expiries] == [
        (EXPIRY_A, 40),
        (EXPIRY_B, 100),
    ]

    clock.set(EXPIRY_A - dt.timedelta(days=10))
    assert (await balance(member)).expiring_soon == 40
    assert await jobs.notify_expiring(ledger, pool, EXPIRY_A - dt.timedelta(days=29)) == 1
    assert await jobs.notify_expiring(ledger, pool, EXPIRY_A - dt.timedelta(days=20)) == 0
    (notice,) = await tap.wait_for("loyalty.points.points.expiring.v1", member)
    assert notice.data["points"] == "40"
    assert notice.data["expireTime"] == "2026-01-10T16:00:00Z"

    assert await jobs.expire_lots(ledger, pool, EXPIRY_A - dt.timedelta(seconds=1)) == 0
    assert await jobs.expire_lots(ledger, pool, EXPIRY_A) == 40
    assert await jobs.expire_lots(ledger, pool, EXPIRY_A) == 0  # idempotent
    b = await balance(member)
    assert b.available == 100
    (expired,) = await tap.wait_for("loyalty.points.points.expired.v1", member)
    assert expired.data["points"] == "40" and expired.data["lotCount"] == 1

    clock.set(EXPIRY_A + dt.timedelta(days=1))
    await redeem(points, operator, member, 30)
    assert await jobs.notify_expiring(ledger, pool, EXPIRY_B - dt.timedelta(days=5)) == 1
    assert await jobs.expire_lots(ledger, pool, EXPIRY_B + dt.timedelta(hours=1)) == 70
    b = await balance(member)
    assert (b.available, b.held, b.pending) == (0, 0, 0)
    history = await points.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(member_id=member, kind=res.LEDGER_ENTRY_KIND_EXPIRE),
        metadata=operator,
    )
    assert [e.amount for e in history.entries] == [-70, -40]
    totals = await pool.fetchval(
        "SELECT sum(amount) FROM journal_postings WHERE account = 'expiry'"
    )
    assert totals == 110
    await assert_reconciled(pool)


async def test_held_points_do_not_expire_until_released(
    points, points_app, operator, new_member, fund, balance, clock
):
    ledger, pool = points_app.usecases, points_app.pool
    member = await new_member()
    clock.set(T0)
    await fund(member, 100)
    clock.set(EXPIRY_A - dt.timedelta(minutes=10))
    hold = (await points.ReserveHold(reserve_request(member, 50), metadata=operator)).hold
    assert await jobs.expire_lots(ledger, pool, EXPIRY_A) == 50
    b = await balance(member)
    assert (b.available, b.held) == (0, 50)
    # The hold times out after the lot's expiry: its points go back to the expired lot ...
    assert await jobs.release_timed_out_holds(ledger, pool, EXPIRY_A + dt.timedelta(hours=1)) == 1
    assert (await balance(member)).available == 50
    # ... and the next expiry run removes them.
    assert await jobs.expire_lots(ledger, pool, EXPIRY_A + dt.timedelta(hours=1)) == 50
    b = await balance(member)
    assert (b.available, b.held) == (0, 0)
    got = await points.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id), metadata=operator)
    assert got.hold.state == res.HOLD_STATE_EXPIRED
    await assert_reconciled(pool)


async def test_lots_of_one_business_day_expire_together(
    points, points_app, operator, new_member, fund, clock
):
    member = await new_member()
    clock.set(dt.datetime(2025, 3, 1, 16, 30, tzinfo=dt.UTC))  # 00:30 on 2 March in Shanghai
    await fund(member, 10)
    clock.set(dt.datetime(2025, 3, 2, 15, 59, tzinfo=dt.UTC))  # 23:59 on 2 March in Shanghai
    await fund(member, 20)
    ends = await points_app.pool.fetch("SELECT DISTINCT expires_at FROM lots")
    assert [r["expires_at"] for r in ends] == [dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.UTC)]
    assert (
        await jobs.notify_expiring(
            points_app.usecases, points_app.pool, dt.datetime(2026, 2, 20, tzinfo=dt.UTC)
        )
        == 1
    )
