"""The member's choices: a free trial once per member (however many calls race for it), cancel
(auto-renew off, running to the end) and resume (before the end); each refused where the
contract says, changing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import grpc

from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from tests.support.grpc_errors import fails
from tests.support.snapshots import snapshot
from tests.support.subscription_choices import (
    ACTIVATED,
    CANCELLED,
    FROZEN,
    RESUMED,
    START,
    buy,
    cancel,
    error_metadata,
    get,
    plans,
    resume,
    start_trial,
    trial,
    yearly,
)

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def state_of(pool) -> dict:
    """What a refused call must leave as it was."""
    return await snapshot(
        pool,
        "subscriptions",
        "terms",
        "orders",
        "cancellations",
        "audit_log",
        outbox="SELECT id FROM outbox",
    )


async def test_a_trial_is_once_per_member(
    subscription, admin, operator, mint, clock, tap, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    sub = (await start_trial(subscription, own, member)).subscription
    assert sub.state == res.SUBSCRIPTION_STATE_ACTIVE and not sub.auto_renew
    assert [t.source for t in sub.terms] == [res.TERM_SOURCE_TRIAL]
    assert sub.terms[0].value.amount_minor == 0
    assert sub.period_end.ToDatetime(dt.UTC) == START + dt.timedelta(days=7)
    (activated,) = await tap.wait_for(ACTIVATED, sub.subscription_id)
    assert activated.data["source"] == "TERM_SOURCE_TRIAL"
    assert activated.data["memberId"] == member
    assert not activated.data.get("autoRenew", False)
    mine = await subscription.GetMemberSubscription(
        pb.GetMemberSubscriptionRequest(member_id=member), metadata=own
    )
    assert mine.trial_used and mine.subscription.subscription_id == sub.subscription_id

    before = await state_of(subscription_app.pool)
    await fails(start_trial(subscription, own, member), PRECONDITION, "TRIAL_ALREADY_USED")
    clock.advance(days=8)  # the trial is over: still used
    await fails(start_trial(subscription, own, member), PRECONDITION, "TRIAL_ALREADY_USED")
    assert await state_of(subscription_app.pool) == before


async def test_a_trial_is_for_members_without_a_subscription_and_of_a_trial_plan_on_sale(
    subscription, admin, operator, mint, checkout, subscription_app
):
    await plans(admin, operator, yearly(), trial(), trial("old_trial", on_sale=False))
    member = str(uuid.uuid4())
    bought = await buy(subscription, checkout, member, "pay-1")
    before = await state_of(subscription_app.pool)
    code, reason, metadata = await error_metadata(start_trial(subscription, checkout, member))
    assert (code, reason) == (PRECONDITION, "SUBSCRIPTION_ALREADY_ACTIVE")
    assert metadata["subscription_id"] == bought.subscription.subscription_id
    newcomer = str(uuid.uuid4())
    await fails(
        start_trial(subscription, checkout, newcomer, "plus_yearly"),
        PRECONDITION,
        "PLAN_NOT_TRIAL",
    )
    await fails(
        start_trial(subscription, checkout, newcomer, "old_trial"),
        PRECONDITION,
        "PLAN_NOT_ON_SALE",
    )
    await fails(
        start_trial(subscription, checkout, newcomer, "no_such_plan"),
        grpc.StatusCode.NOT_FOUND,
        "PLAN_NOT_FOUND",
    )
    assert await state_of(subscription_app.pool) == before


async def test_concurrent_trials_of_one_member_give_one_trial(
    subscription, admin, operator, mint, subscription_app
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    outcomes = await asyncio.gather(
        *(start_trial(subscription, own, member) for _ in range(8)), return_exceptions=True
    )
    started = [o for o in outcomes if isinstance(o, pb.StartTrialResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(started) == 1 and len(refused) == 7, outcomes
    assert {e.code() for e in refused} == {PRECONDITION}
    pool = subscription_app.pool
    rows = await pool.fetch(
        "SELECT s.subscription_id, t.channel FROM subscriptions s JOIN terms t"
        " USING (subscription_id) WHERE s.member_id = $1",
        uuid.UUID(member),
    )
    assert [(str(r["subscription_id"]), r["channel"]) for r in rows] == [
        (started[0].subscription.subscription_id, "trial")
    ]
    announced = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = $1 AND payload->>'memberId' = $2",
        ACTIVATED,
        member,
    )
    assert announced == 1


async def test_cancel_then_resume(
    subscription, admin, operator, mint, checkout, clock, tap, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    member = str(uuid.uuid4())
    own = mint(member)
    bought = await buy(subscription, checkout, member, "pay-1")
    sub_id = bought.subscription.subscription_id
    assert bought.subscription.auto_renew
    clock.advance(days=10)

    cancelled = (await cancel(subscription, own, sub_id, "too expensive")).subscription
    assert cancelled.state == res.SUBSCRIPTION_STATE_ACTIVE and not cancelled.auto_renew
    assert cancelled.cancelled_by == f"member:{member}"
    assert cancelled.cancel_time.ToDatetime(dt.UTC) == START + dt.timedelta(days=10)
    assert not cancelled.HasField("next_charge_time")
    (event,) = await tap.wait_for(CANCELLED, sub_id)
    assert event.data["effectiveEnd"] == "2026-01-10T00:00:00Z"  # runs to the period end
    assert event.data["cause"] == "CANCEL_CAUSE_MEMBER"
    assert event.data["cancelledTime"] == "2025-01-20T00:00:00Z"
    assert await get(subscription, own, sub_id) == cancelled  # with who cancelled, and when
    pool = subscription_app.pool
    row = await pool.fetchrow(
        "SELECT s.auto_renew, s.state, c.reason, c.cause FROM subscriptions s"
        " JOIN cancellations c USING (subscription_id) WHERE subscription_id = $1",
        uuid.UUID(sub_id),
    )
    assert dict(row) == {
        "auto_renew": False,
        "state": "active",
        "reason": "too expensive",
        "cause": "member",
    }
    await fails(cancel(subscription, own, sub_id), PRECONDITION, "AUTO_RENEW_ALREADY_OFF")

    clock.advance(days=1)
    resumed = (await resume(subscription, checkout, sub_id)).subscription
    assert resumed.auto_renew and resumed.renewal_plan_id == "plus_yearly"
    assert not resumed.HasField("cancel_time") and resumed.cancelled_by == ""
    (event,) = await tap.wait_for(RESUMED, sub_id)
    assert event.data["periodEnd"] == "2026-01-10T00:00:00Z"
    assert (event.data["renewalPlanId"], event.data["renewalPlanVersion"]) == ("plus_yearly", 1)
    assert event.data["resumedTime"] == "2025-01-21T00:00:00Z"
    assert (await get(subscription, own, sub_id)).auto_renew
    assert await pool.fetchval(
        "SELECT auto_renew FROM subscriptions WHERE subscription_id = $1", uuid.UUID(sub_id)
    )
    assert not await pool.fetchval("SELECT count(*) FROM cancellations")
    await fails(resume(subscription, own, sub_id), PRECONDITION, "AUTO_RENEW_ALREADY_ON")


async def test_after_the_end_cancel_and_resume_say_it_ended_and_a_trial_never_renews(
    subscription, admin, operator, mint, checkout, clock, subscription_app
):
    clock.set(START)
    await plans(admin, operator)
    renewing, cancelled, trying = (str(uuid.uuid4()) for _ in range(3))
    on = (await buy(subscription, checkout, renewing, "pay-1")).subscription.subscription_id
    off = (await buy(subscription, checkout, cancelled, "pay-2")).subscription.subscription_id
    await cancel(subscription, checkout, off)
    free = (await start_trial(subscription, checkout, trying)).subscription.subscription_id
    before = await state_of(subscription_app.pool)
    await fails(cancel(subscription, checkout, free), PRECONDITION, "NOT_RENEWABLE")
    await fails(resume(subscription, checkout, free), PRECONDITION, "NOT_RENEWABLE")
    clock.set(START.replace(year=2026) + dt.timedelta(seconds=1))  # no job has expired them
    await fails(cancel(subscription, checkout, on), PRECONDITION, "SUBSCRIPTION_ENDED")
    await fails(resume(subscription, checkout, off), PRECONDITION, "SUBSCRIPTION_ENDED")
    assert await state_of(subscription_app.pool) == before


async def test_members_act_on_their_own_subscriptions_only(
    subscription, admin, operator, mint, checkout, subscription_app
):
    await plans(admin, operator)
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    sub_id = (await buy(subscription, checkout, member, "pay-1")).subscription.subscription_id
    intruder = mint(other)
    before = await state_of(subscription_app.pool)
    for call in (cancel(subscription, intruder, sub_id), resume(subscription, intruder, sub_id)):
        await fails(call, grpc.StatusCode.NOT_FOUND, "SUBSCRIPTION_NOT_FOUND")
    await fails(
        cancel(subscription, checkout, str(uuid.uuid4())),
        grpc.StatusCode.NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
    )
    await fails(
        start_trial(subscription, intruder, member),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWNER",
    )
    await fails(
        resume(subscription, operator, sub_id),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    assert await state_of(subscription_app.pool) == before


async def test_a_frozen_member_cannot_start_a_trial_nor_resume_but_may_cancel(
    subscription, admin, operator, checkout, publish, consumed, subscription_app
):
    await plans(admin, operator)
    member, newcomer = str(uuid.uuid4()), str(uuid.uuid4())
    sub_id = (await buy(subscription, checkout, member, "pay-1")).subscription.subscription_id
    for frozen in (member, newcomer):
        await publish(FROZEN, frozen, identity.MemberFrozen(member_id=frozen, reason="risk"))
    await consumed(FROZEN, 2)
    before = await state_of(subscription_app.pool)
    await fails(start_trial(subscription, checkout, newcomer), PRECONDITION, "MEMBER_FROZEN")
    assert await state_of(subscription_app.pool) == before
    assert not (await cancel(subscription, checkout, sub_id)).subscription.auto_renew
    before = await state_of(subscription_app.pool)
    await fails(resume(subscription, checkout, sub_id), PRECONDITION, "MEMBER_FROZEN")
    assert await state_of(subscription_app.pool) == before


async def test_an_operator_cancels_with_a_reason_and_is_audited(
    subscription, admin, operator, checkout, tap, subscription_app
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    sub_id = (await buy(subscription, checkout, member, "pay-1")).subscription.subscription_id
    before = await state_of(subscription_app.pool)
    await fails(
        cancel(subscription, operator, sub_id, "  "), INVALID, "REASON_REQUIRED", ["reason"]
    )
    assert await state_of(subscription_app.pool) == before
    done = (await cancel(subscription, operator, sub_id, "chargeback dispute")).subscription
    assert done.cancelled_by == "operator:ops-alice" and not done.auto_renew
    (event,) = await tap.wait_for(CANCELLED, sub_id)
    assert event.data["cause"] == "CANCEL_CAUSE_OPERATOR"
    audit = await subscription_app.pool.fetchrow(
        "SELECT actor, detail FROM audit_log WHERE action = 'subscription.cancel' AND subject = $1",
        sub_id,
    )
    assert audit["actor"] == "operator:ops-alice"
    assert audit["detail"]["reason"] == "chargeback dispute"
    assert audit["detail"]["member_id"] == member


async def test_bad_input_names_every_bad_field_and_changes_nothing(
    subscription, admin, operator, mint, checkout, subscription_app
):
    await plans(admin, operator)
    member = str(uuid.uuid4())
    sub_id = (await buy(subscription, checkout, member, "pay-1")).subscription.subscription_id
    before = await state_of(subscription_app.pool)
    await fails(
        start_trial(subscription, checkout, member, "plus\x00trial"), INVALID, None, ["plan_id"]
    )
    await fails(start_trial(subscription, checkout, "nobody"), INVALID, None, ["member_id"])
    await fails(
        cancel(subscription, checkout, "not-an-id", "x" * 513),
        INVALID,
        "INVALID_ARGUMENT",
        ["subscription_id", "reason"],
    )
    await fails(
        cancel(subscription, checkout, sub_id, "bye\x07"), INVALID, "INVALID_ARGUMENT", ["reason"]
    )
    await fails(resume(subscription, checkout, ""), INVALID, None, ["subscription_id"])
    assert await state_of(subscription_app.pool) == before
