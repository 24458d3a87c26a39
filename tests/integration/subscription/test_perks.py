"""Partner perks: 200 members claiming at once from a pool of 50 codes get exactly 50 distinct
codes and operators are warned once per crossing; uploads are all or nothing, count duplicates
and keep codes encrypted; expired codes are never handed out; a member reads their code again,
an operator never; only operators manage pools; a plan names only pools that exist."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import grpc
from google.protobuf import field_mask_pb2

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.subscription import jobs
from tests.support.grpc_errors import assert_error, fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_benefits import (
    CLAIMED,
    INVENTORY_LOW,
    VIDEO,
    benefits,
    claim,
    claims,
    connections,
    create_plan,
    create_pool,
    inventory,
    subscribe,
    subscribe_all,
    upload,
)
from tests.support.waiting import wait_until

START = dt.datetime(2026, 6, 10, 4, 30, tzinfo=dt.UTC)


async def outbox_drained(app) -> None:
    async def drained():
        return not await app.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    await wait_until(drained, 10, "the outbox relayed")


async def test_two_hundred_claims_at_once_share_fifty_codes_exactly(
    subscription, admin, operator, mint, checkout, clock, tap, subscription_app
):
    clock.set(START)
    pool = await create_pool(admin, operator)
    codes = [f"VIP-{i:03d}-{uuid.uuid4().hex[:8]}" for i in range(50)]
    uploaded = await upload(admin, operator, pool.perk_pool_id, codes)
    assert (uploaded.added_count, uploaded.pool.available_count) == (50, 50)
    await create_plan(admin, operator, pool.perk_pool_id)
    members = [str(uuid.uuid4()) for _ in range(200)]
    await subscribe_all(subscription, checkout, members)

    async with connections(subscription_app, 4) as stubs:
        results = await asyncio.gather(
            *(claim(stubs[i % 4], mint(m), m, VIDEO) for i, m in enumerate(members)),
            return_exceptions=True,
        )
    granted = [r for r in results if isinstance(r, pb.ClaimBenefitResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert (len(granted), len(refused)) == (50, 150), [r for r in results if r not in granted][:3]
    for error in refused:
        assert_error(error, grpc.StatusCode.FAILED_PRECONDITION, "PERK_OUT_OF_STOCK")
    handed = [g.claim.partner_code for g in granted]
    assert len(set(handed)) == 50 and set(handed) == set(codes)
    assert {g.claim.perk_pool_id for g in granted} == {pool.perk_pool_id}
    assert all(g.claim.kind == res.BENEFIT_KIND_PARTNER_PERK for g in granted)

    left = await inventory(admin, operator, pool.perk_pool_id)
    assert (left.uploaded_count, left.claimed_count, left.available_count) == (50, 50, 0)
    rows = await subscription_app.pool.fetch("SELECT state, claim_id FROM perk_codes")
    assert {r["state"] for r in rows} == {"claimed"}
    assert len({r["claim_id"] for r in rows}) == 50
    assert await subscription_app.pool.fetchval("SELECT count(*) FROM benefit_claims") == 50
    quota = await subscription.ListBenefitQuotas(
        pb.ListBenefitQuotasRequest(member_id=members[0]), metadata=checkout
    )
    assert not next(q for q in quota.quotas if q.benefit_id == VIDEO).in_stock

    # Operators were told twice: when 20 were left (the default threshold), and at 0.
    await outbox_drained(subscription_app)
    warnings = await tap.wait_for(INVENTORY_LOW, pool.perk_pool_id, count=2)
    assert len(tap.envelopes(INVENTORY_LOW, pool.perk_pool_id)) == 2
    assert sorted(w.data.get("availableCount", 0) for w in warnings) == [0, 20]
    assert {w.data["lowStockThreshold"] for w in warnings} == {20}
    assert warnings[0].data["partner"] == "tencent_video"
    claimed = [e for e in tap.envelopes(CLAIMED) if e.data.get("perkPoolId") == pool.perk_pool_id]
    assert len(claimed) == 50
    # Codes never leave in an event.
    payloads = await subscription_app.pool.fetch("SELECT payload FROM outbox")
    text = " ".join(json.dumps(r["payload"]) for r in payloads)
    assert not any(code in text for code in codes)


async def test_an_upload_is_all_or_nothing_counts_duplicates_and_keeps_codes_sealed(
    subscription, admin, operator, clock, subscription_app
):
    clock.set(START)
    pool = await create_pool(admin, operator, low_stock_threshold=2)
    tables = ("perk_pools", "perk_codes")
    before = await snapshot(subscription_app.pool, *tables)
    await fails(
        upload(
            admin, operator, pool.perk_pool_id, ["GOOD-1", "", "bad\ncode", "x" * 257, "GOOD-1"]
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["codes[1]", "codes[2]", "codes[3]"],
    )
    await fails(
        upload(admin, operator, pool.perk_pool_id, ["GOOD-1"], START - dt.timedelta(seconds=1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["expire_time"],
    )
    await fails(
        upload(admin, operator, pool.perk_pool_id, []),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["codes"],
    )
    await fails(
        upload(admin, operator, str(uuid.uuid4()), ["GOOD-1"]),
        grpc.StatusCode.NOT_FOUND,
        "PERK_POOL_NOT_FOUND",
    )
    assert await snapshot(subscription_app.pool, *tables) == before

    first = await upload(admin, operator, pool.perk_pool_id, ["GOOD-1", "GOOD-2", "GOOD-1"])
    assert (first.added_count, first.duplicate_count) == (2, 1)
    second = await upload(admin, operator, pool.perk_pool_id, ["GOOD-2", "GOOD-3"])
    assert (second.added_count, second.duplicate_count) == (1, 1)
    assert (second.pool.uploaded_count, second.pool.available_count) == (3, 3)
    stored = await subscription_app.pool.fetch("SELECT sealed, digest FROM perk_codes")
    assert len(stored) == 3
    assert not any(b"GOOD-" in bytes(r["sealed"]) + bytes(r["digest"]) for r in stored)
    audit = await subscription_app.pool.fetch(
        "SELECT actor, detail FROM audit_log WHERE action = 'subscription.perk_pool.upload'"
    )
    assert len(audit) == 2
    assert "GOOD-" not in " ".join(str(r["detail"]) for r in audit)
    assert {r["actor"] for r in audit} == {"operator:ops-alice"}
    listed = await admin.ListPerkPools(admin_pb.ListPerkPoolsRequest(), metadata=operator)
    assert [p.perk_pool_id for p in listed.pools] == [pool.perk_pool_id]
    assert "GOOD-" not in str(listed)


async def test_expired_codes_are_never_handed_out_and_their_lapse_warns(
    subscription, admin, operator, mint, checkout, clock, tap, subscription_app
):
    clock.set(START)
    day = dt.timedelta(days=1)
    pool = await create_pool(admin, operator, low_stock_threshold=2)
    await upload(admin, operator, pool.perk_pool_id, ["SOON-1"], START + day)
    later = await upload(
        admin, operator, pool.perk_pool_id, ["LATER-1", "LATER-2"], START + 30 * day
    )
    assert later.pool.next_expire_time.ToDatetime(dt.UTC) == START + day
    await create_plan(admin, operator, pool.perk_pool_id)
    members = [str(uuid.uuid4()) for _ in range(3)]
    for member in members:
        await subscribe(subscription, checkout, member)
    clock.set(START + 2 * day)
    got = await inventory(admin, operator, pool.perk_pool_id)
    assert (got.expired_count, got.available_count) == (1, 2)
    assert got.next_expire_time.ToDatetime(dt.UTC) == START + 30 * day
    # The lapse job counts the expired code, and the pool is now at its threshold: one warning.
    assert await jobs.lapse_perk_codes(subscription_app.usecases, subscription_app.pool) == 1
    assert await jobs.lapse_perk_codes(subscription_app.usecases, subscription_app.pool) == 0
    (lapsed,) = await tap.wait_for(INVENTORY_LOW, pool.perk_pool_id)
    assert lapsed.data["availableCount"] == 2
    after = await inventory(admin, operator, pool.perk_pool_id)
    assert (after.expired_count, after.available_count) == (1, 2)

    first = await claim(subscription, mint(members[0]), members[0], VIDEO)
    assert first.claim.partner_code == "LATER-1"
    assert first.claim.partner_code_expire_time.ToDatetime(dt.UTC) == START + 30 * day
    second = await claim(subscription, mint(members[1]), members[1], VIDEO)
    assert second.claim.partner_code == "LATER-2" and not second.quota.in_stock
    await fails(
        claim(subscription, mint(members[2]), members[2], VIDEO),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PERK_OUT_OF_STOCK",
    )
    # Still low at 1 (told already), then empty: one more.
    warnings = await tap.wait_for(INVENTORY_LOW, pool.perk_pool_id, count=2)
    await outbox_drained(subscription_app)
    assert len(tap.envelopes(INVENTORY_LOW, pool.perk_pool_id)) == 2
    assert warnings[1].data.get("availableCount", 0) == 0


async def test_the_member_reads_their_code_again_an_operator_never(
    subscription, admin, operator, mint, checkout, subscription_app
):
    pool = await create_pool(admin, operator)
    await upload(admin, operator, pool.perk_pool_id, ["ONLY-ONE"])
    await create_plan(admin, operator, pool.perk_pool_id)
    member = str(uuid.uuid4())
    own = mint(member)
    await subscribe(subscription, checkout, member)
    request_id = uid()
    granted = await claim(subscription, own, member, VIDEO, request_id)
    assert granted.claim.partner_code == "ONLY-ONE"
    replay = await claim(subscription, own, member, VIDEO, request_id)
    assert replay == granted
    stored = await subscription_app.pool.fetch("SELECT response FROM idempotency")
    assert not any(b"ONLY-ONE" in bytes(r["response"] or b"") for r in stored)
    (mine,) = await claims(subscription, own, member)
    assert mine.partner_code == "ONLY-ONE"
    (at_checkout,) = await claims(subscription, checkout, member)
    assert at_checkout.partner_code == "ONLY-ONE"
    (seen,) = await claims(subscription, operator, member)
    assert seen.partner_code == "" and seen.claim_id == mine.claim_id
    # Once a year: the second claim is refused on the quota, before any stock is looked at.
    await fails(
        claim(subscription, own, member, VIDEO),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "QUOTA_EXHAUSTED",
    )


async def test_only_operators_manage_pools(subscription, admin, mint, checkout, operator):
    pool = await create_pool(admin, operator)
    member = mint(str(uuid.uuid4()))
    calls = {
        "CreatePerkPool": admin_pb.CreatePerkPoolRequest(
            request_id=uid(), display_name="x", partner="y"
        ),
        "UpdatePerkPool": admin_pb.UpdatePerkPoolRequest(
            request_id=uid(),
            pool=res.PerkPool(perk_pool_id=pool.perk_pool_id, display_name="z"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        "UploadPerkCodes": admin_pb.UploadPerkCodesRequest(
            request_id=uid(), perk_pool_id=pool.perk_pool_id, codes=["A"]
        ),
        "GetPerkInventory": admin_pb.GetPerkInventoryRequest(perk_pool_id=pool.perk_pool_id),
        "ListPerkPools": admin_pb.ListPerkPoolsRequest(),
    }
    for name, request in calls.items():
        for caller in (member, checkout):
            await fails(
                getattr(admin, name)(request, metadata=caller),
                grpc.StatusCode.PERMISSION_DENIED,
                "MISSING_SCOPE",
            )
    assert (await inventory(admin, operator, pool.perk_pool_id)).uploaded_count == 0


async def test_a_pool_is_updated_by_mask_and_warns_when_a_raised_threshold_is_reached(
    subscription, admin, operator, tap, subscription_app
):
    pool = await create_pool(admin, operator, display_name="B pool")
    other = await create_pool(admin, operator, display_name="A pool", low_stock_threshold=0)
    await upload(admin, operator, pool.perk_pool_id, [f"C-{i}" for i in range(30)])
    await upload(admin, operator, other.perk_pool_id, ["D-1"])

    def update(paths: list[str], **fields):
        return admin.UpdatePerkPool(
            admin_pb.UpdatePerkPoolRequest(
                request_id=uid(),
                pool=res.PerkPool(perk_pool_id=pool.perk_pool_id, **fields),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
            metadata=operator,
        )

    before = await snapshot(subscription_app.pool, "perk_pools")
    await fails(update([]), grpc.StatusCode.INVALID_ARGUMENT, fields=["update_mask"])
    await fails(update(["partner"], partner="x"), grpc.StatusCode.INVALID_ARGUMENT)
    await fails(
        update(["low_stock_threshold"], low_stock_threshold=1_000_001),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["pool.low_stock_threshold"],
    )
    await fails(
        update(["display_name"], display_name=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["pool.display_name"],
    )
    assert await snapshot(subscription_app.pool, "perk_pools") == before
    low = await admin.ListPerkPools(
        admin_pb.ListPerkPoolsRequest(low_stock_only=True), metadata=operator
    )
    assert list(low.pools) == []

    raised = await update(
        ["low_stock_threshold", "display_name"], low_stock_threshold=50, display_name="B pool 2"
    )
    assert (raised.pool.low_stock_threshold, raised.pool.display_name) == (50, "B pool 2")
    (warning,) = await tap.wait_for(INVENTORY_LOW, pool.perk_pool_id)
    assert (warning.data["availableCount"], warning.data["lowStockThreshold"]) == (30, 50)
    low = await admin.ListPerkPools(
        admin_pb.ListPerkPoolsRequest(low_stock_only=True), metadata=operator
    )
    assert [p.perk_pool_id for p in low.pools] == [pool.perk_pool_id]
    first = await admin.ListPerkPools(admin_pb.ListPerkPoolsRequest(page_size=1), metadata=operator)
    assert [p.display_name for p in first.pools] == ["A pool"] and first.next_page_token
    rest = await admin.ListPerkPools(
        admin_pb.ListPerkPoolsRequest(page_size=1, page_token=first.next_page_token),
        metadata=operator,
    )
    assert [p.perk_pool_id for p in rest.pools] == [pool.perk_pool_id]
    assert not rest.next_page_token


async def test_a_plan_names_only_pools_that_exist(subscription, admin, operator):
    missing = str(uuid.uuid4())
    plan = res.Plan(
        plan_id="plus_monthly",
        display_name="PLUS monthly",
        kind=res.PLAN_KIND_MONTHLY,
        price=benefits(missing)[0].value,
        benefits=benefits(missing),
    )
    plan.price.amount_minor = 15_00
    await fails(
        admin.CreatePlan(
            admin_pb.CreatePlanRequest(request_id=uid(), plan=plan), metadata=operator
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["plan.benefits[2].perk_pool_id"],
    )
