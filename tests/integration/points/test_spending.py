"""Spending under concurrency: redemptions, checkout holds, duplicate request ids, timeouts."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from services.points import jobs
from tests.support.grpc_errors import details, fails
from tests.support.points import (
    adjust_request,
    assert_reconciled,
    capture_request,
    grant_request,
    redeem_request,
    release_request,
    reserve_request,
)


async def never_negative(pool, member: str) -> None:
    """Replays the member's available postings in lock order: the running sum never dips."""
    amounts = await pool.fetch(
        "SELECT amount FROM journal_postings WHERE member_id = $1 AND account = 'member_available'"
        " ORDER BY posting_id",
        uuid.UUID(member),
    )
    running = 0
    for row in amounts:
        running += row["amount"]
        assert running >= 0


async def outcome(call):
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        return exc


async def test_100_concurrent_redeems_against_50_points(
    points, points_app, operator, new_member, fund, balance
):
    member = await new_member()
    await fund(member, 50)
    results = await asyncio.gather(
        *(
            outcome(points.Redeem(redeem_request(member, 1, "coupon.x"), metadata=operator))
            for _ in range(100)
        )
    )
    ok = [r for r in results if isinstance(r, pb.RedeemResponse)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 50 and len(failed) == 50
    assert {e.code() for e in failed} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert {details(e)[0] for e in failed} == {"INSUFFICIENT_POINTS"}
    assert all(r.balance.available >= 0 for r in ok)
    assert sorted(r.balance.available for r in ok) == list(range(50))
    b = await balance(member)
    assert (b.available, b.held, b.debt) == (0, 0, 0)
    debits = await points_app.pool.fetchval(
        "SELECT count(*) FROM journal_transactions WHERE kind = 'debit'"
    )
    assert debits == 50
    await never_negative(points_app.pool, member)
    await assert_reconciled(points_app.pool)


async def test_100_concurrent_holds_then_captures_against_50_points(
    points, points_app, operator, new_member, fund, balance
):
    member = await new_member()
    await fund(member, 50)

    def reserve(i):
        return points.ReserveHold(reserve_request(member, 1, f"order-{i}"), metadata=operator)

    results = await asyncio.gather(*(outcome(reserve(i)) for i in range(100)))
    holds = [r.hold for r in results if isinstance(r, pb.ReserveHoldResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(holds) == 50
    assert {details(e)[0] for e in refused} == {"INSUFFICIENT_POINTS"}
    b = await balance(member)
    assert (b.available, b.held) == (0, 50)

    captures = await asyncio.gather(
        *(points.CaptureHold(capture_request(h.hold_id), metadata=operator) for h in holds)
    )
    assert {c.hold.state for c in captures} == {res.HOLD_STATE_CAPTURED}
    b = await balance(member)
    assert (b.available, b.held, b.pending, b.debt) == (0, 0, 0, 0)
    await never_negative(points_app.pool, member)
    await assert_reconciled(points_app.pool)


async def test_concurrent_duplicate_request_ids_apply_once(
    points, points_app, operator, new_member, fund, balance
):
    member = await new_member()
    await fund(member, 100)
    request = redeem_request(member, 30, "phone_credit.10")
    responses = await asyncio.gather(
        *(points.Redeem(request, metadata=operator) for _ in range(20))
    )
    assert len({r.transaction_id for r in responses}) == 1
    assert {r.balance.available for r in responses} == {70}
    assert (await balance(member)).available == 70
    hold_request = reserve_request(member, 20, "o-1", 5_000)
    holds = await asyncio.gather(
        *(points.ReserveHold(hold_request, metadata=operator) for _ in range(20))
    )
    assert len({h.hold.hold_id for h in holds}) == 1
    b = await balance(member)
    assert (b.available, b.held) == (50, 20)
    await assert_reconciled(points_app.pool)


async def test_reused_request_id_with_other_request_is_refused(
    points, points_app, operator, new_member, fund, balance
):
    member = await new_member()
    await fund(member, 100)
    first = redeem_request(member, 10, "a")
    await points.Redeem(first, metadata=operator)
    await fails(
        points.Redeem(redeem_request(member, 11, "a", first.request_id), metadata=operator),
        grpc.StatusCode.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
        ["request_id"],
    )
    assert (await balance(member)).available == 90


async def test_hold_capture_publishes_events_and_spends_earliest_lots(
    points, points_app, operator, new_member, fund, balance, tap, clock
):
    member = await new_member()
    start = dt.datetime(2025, 1, 10, 4, 0, tzinfo=dt.UTC)
    clock.set(start)
    await fund(member, 100)  # lot A, expires 2026-01-11 (Shanghai day boundary)
    clock.set(start + dt.timedelta(days=40))
    await fund(member, 100)  # lot B, expires later
    hold = (
        await points.ReserveHold(reserve_request(member, 150, "o-9", 30_000), metadata=operator)
    ).hold
    assert hold.state == res.HOLD_STATE_HELD
    assert hold.expire_time.ToDatetime(dt.UTC) == clock() + dt.timedelta(minutes=30)
    lots = await points_app.pool.fetch(
        "SELECT remaining FROM lots WHERE member_id = $1 ORDER BY expires_at", uuid.UUID(member)
    )
    assert [r["remaining"] for r in lots] == [0, 50]
    captured = await points.CaptureHold(capture_request(hold.hold_id), metadata=operator)
    assert captured.balance.available == 50 and captured.balance.held == 0
    (held,) = await tap.wait_for("loyalty.points.points.held.v1", member)
    assert held.data["holdId"] == hold.hold_id and held.data["points"] == "150"
    (debited,) = await tap.wait_for("loyalty.points.points.debited.v1", member)
    assert debited.data["kind"] == "LEDGER_ENTRY_KIND_HOLD_CAPTURE"
    assert debited.data["reference"] == "o-9"
    assert debited.source == "/loyalty/points"
    await assert_reconciled(points_app.pool)


async def test_release_returns_points_to_their_lots(
    points, points_app, operator, new_member, fund, balance, tap
):
    member = await new_member()
    await fund(member, 80)
    hold = (
        await points.ReserveHold(reserve_request(member, 60, "o", 20_000), metadata=operator)
    ).hold
    released = await points.ReleaseHold(release_request(hold.hold_id), metadata=operator)
    assert released.hold.state == res.HOLD_STATE_RELEASED
    assert (released.balance.available, released.balance.held) == (80, 0)
    # Releasing again changes nothing.
    again = await points.ReleaseHold(release_request(hold.hold_id), metadata=operator)
    assert again.hold.state == res.HOLD_STATE_RELEASED and again.balance.available == 80
    (event,) = await tap.wait_for("loyalty.points.points.hold_released.v1", member)
    assert event.data["reason"] == "HOLD_RELEASE_REASON_REQUESTED"
    remaining = await points_app.pool.fetchval(
        "SELECT sum(remaining) FROM lots WHERE member_id = $1", uuid.UUID(member)
    )
    assert remaining == 80
    await assert_reconciled(points_app.pool)


async def test_hold_timeout_job_releases_expired_holds_once(
    points, points_app, operator, new_member, fund, balance, clock, tap
):
    member = await new_member()
    await fund(member, 100)
    hold = (await points.ReserveHold(reserve_request(member, 40), metadata=operator)).hold
    ledger = points_app.usecases
    assert (
        await jobs.release_timed_out_holds(
            ledger, points_app.pool, clock() + dt.timedelta(minutes=29)
        )
        == 0
    )
    later = clock() + dt.timedelta(minutes=31)
    assert await jobs.release_timed_out_holds(ledger, points_app.pool, later) == 1
    assert await jobs.release_timed_out_holds(ledger, points_app.pool, later) == 0
    b = await balance(member)
    assert (b.available, b.held) == (100, 0)
    got = await points.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id), metadata=operator)
    assert got.hold.state == res.HOLD_STATE_EXPIRED
    (event,) = await tap.wait_for("loyalty.points.points.hold_released.v1", member)
    assert event.data["reason"] == "HOLD_RELEASE_REASON_EXPIRED"
    await assert_reconciled(points_app.pool)


async def test_hold_share_counts_every_hold_of_the_order(
    points, points_app, operator, new_member, fund, balance
):
    member = await new_member()
    await fund(member, 10_000)

    def reserve(amount):
        # 100 CNY: at most 50 CNY = 5000 points
        request = reserve_request(member, amount, "big-order", order_amount_minor=10_000)
        return points.ReserveHold(request, metadata=operator)

    await reserve(3000)
    await fails(
        reserve(2001), grpc.StatusCode.INVALID_ARGUMENT, "HOLD_EXCEEDS_ORDER_SHARE", ["points"]
    )
    await reserve(2000)
    b = await balance(member)
    assert (b.available, b.held) == (5000, 5000)


async def test_write_responses_carry_the_balance_a_read_gives_afterwards(
    points, points_app, operator, new_member, balance, clock
):
    """Grant, Redeem, Adjust, ReserveHold and CaptureHold answer with the balance after the
    change without reading it back: it must equal what GetBalance says next, expiring soon
    included (lots inside and outside the notice window, taken and added)."""
    member = await new_member()
    start = dt.datetime(2030, 1, 10, 4, 0, tzinfo=dt.UTC)
    clock.set(start)

    def grant(points_):
        return points.Grant(
            grant_request(member, "tier_upgrade", points=points_), metadata=operator
        )

    await grant(70)
    clock.set(start + dt.timedelta(days=200))
    await grant(40)
    clock.set(start + dt.timedelta(days=350))  # the first lot now expires within 30 days
    steps = [  # one after the other: a gRPC call starts when it is made
        lambda: grant(25),
        lambda: points.Redeem(redeem_request(member, 50), metadata=operator),
        lambda: points.Adjust(adjust_request(member, -5, "fix"), metadata=operator),
        lambda: points.Adjust(adjust_request(member, 8, "goodwill"), metadata=operator),
    ]
    for step in steps:
        response = await step()
        assert response.balance == await balance(member)
    held = await points.ReserveHold(reserve_request(member, 10, "o-1", 9000), metadata=operator)
    assert held.balance.expiring_soon == 5  # of the first lot, after the spends took 65
    assert held.balance == await balance(member)
    captured = await points.CaptureHold(capture_request(held.hold.hold_id), metadata=operator)
    assert captured.balance == await balance(member)
    assert (captured.balance.available, captured.balance.held) == (78, 0)
    await assert_reconciled(points_app.pool)
