"""Benefits: a member's quota per calendar month holds under concurrent claims and resets on the
1st of the business zone; quotas show what is left; claims are refused without a live
subscription, outside the plan and for a frozen member, changing nothing; storefronts read the
member price and multiplier; a member sees and claims only their own; a replayed claim is the
same claim."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from tests.support.grpc_errors import assert_error, fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_benefits import (
    CLAIMED,
    PICKUP,
    PLAN,
    SHIPPING,
    claim,
    claims,
    create_plan,
    quotas,
    subscribe,
)

FROZEN = "loyalty.identity.member.frozen.v1"
START = dt.datetime(2026, 6, 10, 4, 30, tzinfo=dt.UTC)  # 12:30 on 10 June in Asia/Shanghai
JULY = dt.datetime(2026, 6, 30, 16, 0, tzinfo=dt.UTC)  # 1 July 00:00 in Asia/Shanghai


def error_metadata(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    return {}


async def claim_rows(app, member: str) -> list:
    return await app.pool.fetch(
        "SELECT benefit_id, period_key FROM benefit_claims WHERE member_id = $1"
        " ORDER BY claim_time",
        uuid.UUID(member),
    )


async def test_four_a_month_hold_under_twenty_claims_at_once_and_reset_on_the_first(
    subscription, admin, operator, mint, checkout, clock, tap, subscription_app
):
    clock.set(START)
    await create_plan(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    subscription_id = await subscribe(subscription, checkout, member)
    results = await asyncio.gather(
        *(claim(subscription, own, member, SHIPPING) for _ in range(20)), return_exceptions=True
    )
    granted = [r for r in results if isinstance(r, pb.ClaimBenefitResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert (len(granted), len(refused)) == (4, 16), results
    assert sorted(g.quota.remaining for g in granted) == [0, 1, 2, 3]
    for error in refused:
        assert_error(error, grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXHAUSTED")
        assert error_metadata(error)["period_key"] == "2026-06"
        assert error_metadata(error)["reset_time"] == "2026-06-30T16:00:00Z"
    rows = await claim_rows(subscription_app, member)
    assert [tuple(r) for r in rows] == [(SHIPPING, "2026-06")] * 4
    events = await tap.wait_for(CLAIMED, subscription_id, count=4)
    assert {e.data["claimId"] for e in events} == {g.claim.claim_id for g in granted}
    event = events[0].data
    assert event["benefitKind"] == "BENEFIT_KIND_COUPON_PACK"
    assert (event["couponTemplateId"], event["periodKey"], event["planId"]) == (
        "tpl-shipping",
        "2026-06",
        PLAN,
    )
    assert event["value"] == {"currencyCode": "CNY", "amountMinor": "600"}
    assert event["memberId"] == member and "perkPoolId" not in event

    left = await quotas(subscription, own, member)
    shipping = left[SHIPPING]
    assert (shipping.quantity, shipping.claimed, shipping.remaining) == (4, 4, 0)
    assert shipping.period_key == "2026-06" and shipping.in_stock
    assert shipping.reset_time.ToDatetime(dt.UTC) == JULY
    assert (left[PICKUP].claimed, left[PICKUP].remaining) == (0, 2)

    # The last second of June in the business zone is still June; its first second is July.
    clock.set(JULY - dt.timedelta(seconds=1))
    await fails(
        claim(subscription, own, member, SHIPPING),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "QUOTA_EXHAUSTED",
    )
    clock.set(JULY)
    july = await claim(subscription, checkout, member, SHIPPING)
    assert (july.claim.period_key, july.quota.remaining) == ("2026-07", 3)
    assert july.quota.reset_time.ToDatetime(dt.UTC) == dt.datetime(2026, 7, 31, 16, tzinfo=dt.UTC)
    assert (await quotas(subscription, checkout, member))[SHIPPING].remaining == 3
    assert len(await claim_rows(subscription_app, member)) == 5


async def test_claims_refused_without_a_subscription_outside_the_plan_or_frozen_change_nothing(
    subscription, admin, operator, mint, checkout, publish, consumed, subscription_app
):
    await create_plan(admin, operator)
    stranger, member = str(uuid.uuid4()), str(uuid.uuid4())
    await subscribe(subscription, checkout, member)
    before = await snapshot(
        subscription_app.pool,
        "benefit_claims",
        outbox=f"SELECT id FROM outbox WHERE event_type = '{CLAIMED}'",
    )
    await fails(
        claim(subscription, mint(stranger), stranger, SHIPPING),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_ACTIVE_SUBSCRIPTION",
    )
    nothing = await subscription.ListBenefitQuotas(
        pb.ListBenefitQuotasRequest(member_id=stranger), metadata=mint(stranger)
    )
    assert (nothing.subscription_id, list(nothing.quotas)) == ("", [])
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await claim(subscription, mint(member), member, "airport_lounge")
    assert_error(outside, grpc.StatusCode.NOT_FOUND, "BENEFIT_NOT_IN_PLAN")
    assert error_metadata(outside.value) == {"benefit_id": "airport_lounge"}
    await fails(
        claim(subscription, mint(member), member, "bad\x00id"),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["benefit_id"],
    )
    await publish(FROZEN, member, identity.MemberFrozen(member_id=member, reason="risk"))
    await consumed(FROZEN)
    await fails(
        claim(subscription, checkout, member, SHIPPING),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_FROZEN",
    )
    at_checkout = await subscription.GetMemberBenefits(
        pb.GetMemberBenefitsRequest(member_id=member), metadata=checkout
    )
    assert at_checkout.benefits == res.MemberBenefits(member_id=member, subscribed=False)
    after = await snapshot(
        subscription_app.pool,
        "benefit_claims",
        outbox=f"SELECT id FROM outbox WHERE event_type = '{CLAIMED}'",
    )
    assert after == before


async def test_checkout_reads_the_member_price_and_multiplier(
    subscription, admin, operator, mint, checkout, clock
):
    clock.set(START)
    await create_plan(admin, operator)
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    subscription_id = await subscribe(subscription, checkout, member)
    request = pb.GetMemberBenefitsRequest(member_id=member)
    got = (await subscription.GetMemberBenefits(request, metadata=checkout)).benefits
    assert got.subscribed and got.subscription_id == subscription_id
    assert (got.member_discount_bps, got.points_multiplier) == (500, 10)
    assert (got.plan_id, got.plan_version, got.state) == (PLAN, 1, res.SUBSCRIPTION_STATE_ACTIVE)
    assert got.valid_until.ToDatetime(dt.UTC) == dt.datetime(2026, 7, 10, 4, 30, tzinfo=dt.UTC)
    assert [b.benefit_id for b in got.benefits] == [SHIPPING, PICKUP]
    own = (await subscription.GetMemberBenefits(request, metadata=mint(member))).benefits
    assert own == got
    none = await subscription.GetMemberBenefits(
        pb.GetMemberBenefitsRequest(member_id=other), metadata=checkout
    )
    assert none.benefits == res.MemberBenefits(member_id=other, subscribed=False)
    await fails(
        subscription.GetMemberBenefits(request, metadata=mint(other)),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWNER",
    )
    await fails(
        subscription.GetMemberBenefits(request, metadata=operator),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    # At the period's end the benefits stop, whether or not a job has moved the subscription.
    clock.set(dt.datetime(2026, 7, 10, 4, 30, tzinfo=dt.UTC))
    ended = await subscription.GetMemberBenefits(request, metadata=checkout)
    assert ended.benefits == res.MemberBenefits(member_id=member, subscribed=False)
    await fails(
        claim(subscription, checkout, member, SHIPPING),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_ACTIVE_SUBSCRIPTION",
    )


async def test_a_member_sees_and_claims_only_their_own(
    subscription, admin, operator, mint, checkout, clock, subscription_app
):
    clock.set(START)
    await create_plan(admin, operator)
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    await subscribe(subscription, checkout, member)
    await subscribe(subscription, checkout, other)
    own, theirs = mint(member), mint(other)
    first = await claim(subscription, own, member, SHIPPING)
    clock.set(START + dt.timedelta(hours=1))
    second = await claim(subscription, own, member, PICKUP)
    clock.set(START + dt.timedelta(hours=2))
    third = await claim(subscription, checkout, member, SHIPPING)
    before = await snapshot(subscription_app.pool, "benefit_claims")
    for call in (
        claim(subscription, theirs, member, SHIPPING),
        subscription.ListBenefitClaims(
            pb.ListBenefitClaimsRequest(member_id=member), metadata=theirs
        ),
        subscription.ListBenefitQuotas(
            pb.ListBenefitQuotasRequest(member_id=member), metadata=theirs
        ),
    ):
        await fails(call, grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")
    assert await snapshot(subscription_app.pool, "benefit_claims") == before
    assert await claims(subscription, theirs, other) == []

    newest_first = [third.claim, second.claim, first.claim]
    assert await claims(subscription, own, member) == newest_first
    assert await claims(subscription, operator, member) == newest_first
    assert await claims(subscription, own, member, benefit_id=SHIPPING) == [
        third.claim,
        first.claim,
    ]
    assert await claims(subscription, own, member, period_key="2026-05") == []
    await fails(
        subscription.ListBenefitClaims(
            pb.ListBenefitClaimsRequest(member_id=member, period_key="June"), metadata=own
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["period_key"],
    )
    paged, token = [], ""
    while True:
        page = await subscription.ListBenefitClaims(
            pb.ListBenefitClaimsRequest(member_id=member, page_size=2, page_token=token),
            metadata=own,
        )
        paged += page.claims
        token = page.next_page_token
        if not token:
            break
    assert paged == newest_first
    await fails(
        subscription.ListBenefitClaims(
            pb.ListBenefitClaimsRequest(member_id=member, page_token="bm90IGEgdG9rZW4="),
            metadata=own,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["page_token"],
    )


async def test_a_replayed_claim_is_the_same_claim(
    subscription, admin, operator, mint, checkout, subscription_app
):
    await create_plan(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    await subscribe(subscription, checkout, member)
    request_id = uid()
    first = await claim(subscription, own, member, SHIPPING, request_id)
    again = await claim(subscription, own, member, SHIPPING, request_id)
    assert again == first
    await fails(
        claim(subscription, own, member, PICKUP, request_id),
        grpc.StatusCode.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
    )
    assert len(await claim_rows(subscription_app, member)) == 1
    # The id is the caller's: a storefront using the same one makes a claim of its own.
    other = await claim(subscription, checkout, member, SHIPPING, request_id)
    assert other.claim.claim_id != first.claim.claim_id
    assert other.quota.remaining == 2
