"""Member stored value (余额): top-ups quoted with the bonus policy, confirmed by a call or by
the payment event, spent at checkout like a card (principal first), refunded with the bonus
taken back in proportion — every fen in the journal."""

from __future__ import annotations

import uuid

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import giftcard_service_pb2 as gpb
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.type.v1 import money_pb2
from services.giftcard.store import journal
from tests.support.grpc_errors import fails
from tests.support.ids import uid

SUCCEEDED = "commerce.payment.succeeded.v1"
FROZEN = "loyalty.identity.member.frozen.v1"


async def set_bonus(giftcard, staff, *tiers: tuple[int, int]):
    policy = res.BonusPolicy(
        currency_code="CNY",
        enabled=True,
        tiers=[res.BonusTier(min_top_up_minor=m, bonus_minor=b) for m, b in tiers],
    )
    return await giftcard.SetBonusPolicy(
        gpb.SetBonusPolicyRequest(request_id=uid(), policy=policy),
        metadata=staff("mia", "manager"),
    )


async def top_up(wallet, checkout, member: str, amount: int) -> res.TopUp:
    made = await wallet.CreateTopUp(
        pb.CreateTopUpRequest(
            request_id=uid(), member_id=member, currency_code="CNY", amount_minor=amount
        ),
        metadata=checkout,
    )
    return made.top_up


async def value(wallet, checkout, member: str) -> res.StoredValue:
    got = await wallet.GetStoredValue(pb.GetStoredValueRequest(member_id=member), metadata=checkout)
    return got.stored_value


async def test_a_top_up_confirmed_by_its_payment_event_credits_principal_and_bonus_once(
    giftcard, wallet, staff, checkout, giftcard_app, publish, consumed, tap
):
    await set_bonus(giftcard, staff, (1000_00, 50_00), (500_00, 20_00))
    member = str(uuid.uuid4())
    pending = await top_up(wallet, checkout, member, 1000_00)
    assert pending.bonus_minor == 50_00 and pending.state == res.TOP_UP_STATE_PENDING
    assert (await value(wallet, checkout, member)).pending_top_up_minor == 1000_00
    paid = commerce.PaymentSucceeded(
        payment_id="pay-1",
        member_id=member,
        purpose="stored_value_top_up",
        reference_id=pending.top_up_id,
        amount=money_pb2.Money(currency_code="CNY", amount_minor=1000_00),
    )
    await publish(SUCCEEDED, pending.top_up_id, paid)
    await publish(SUCCEEDED, pending.top_up_id, paid)  # delivered again, another event id
    await consumed(SUCCEEDED, 2)
    now = await value(wallet, checkout, member)
    assert (now.principal_minor, now.bonus_minor, now.pending_top_up_minor) == (1000_00, 50_00, 0)
    (event,) = await tap.wait_for("loyalty.giftcard.balance.topped_up.v1", member)
    assert event.data["bonusMinor"] == "5000"
    assert await journal.problems(giftcard_app.pool) == {}


async def test_stored_value_pays_principal_first_and_a_refund_takes_back_bonus_in_proportion(
    giftcard, wallet, staff, checkout, giftcard_app
):
    await set_bonus(giftcard, staff, (1000_00, 100_00))
    member = str(uuid.uuid4())
    made = await top_up(wallet, checkout, member, 1000_00)
    await wallet.ConfirmTopUp(
        pb.ConfirmTopUpRequest(
            request_id=uid(),
            top_up_id=made.top_up_id,
            payment_reference="p-1",
            amount_minor=1000_00,
        ),
        metadata=checkout,
    )
    order = uid()
    (hold,) = (
        await wallet.PlaceHolds(
            pb.PlaceHoldsRequest(
                request_id=uid(),
                order_id=order,
                member_id=member,
                currency_code="CNY",
                order_amount_minor=600_00,
                channel="online",
                sources=[
                    pb.HoldSource(kind=res.HOLD_SOURCE_KIND_STORED_VALUE, amount_minor=600_00)
                ],
            ),
            metadata=checkout,
        )
    ).holds
    assert hold.bonus_minor == 0  # principal first
    await wallet.CaptureHold(
        pb.CaptureHoldRequest(request_id=uid(), hold_id=hold.hold_id), metadata=checkout
    )
    before = await value(wallet, checkout, member)
    assert (before.principal_minor, before.bonus_minor) == (400_00, 100_00)
    # 400.00 of the 1000.00 principal is left: refunding it takes back 40% of the bonus.
    refunded = await giftcard.RefundTopUp(
        gpb.RefundTopUpRequest(request_id=uid(), top_up_id=made.top_up_id, reason="customer asked"),
        metadata=staff("fay", "finance"),
    )
    assert refunded.top_up.refunded_minor == 400_00
    assert refunded.top_up.bonus_revoked_minor == 40_00
    after = refunded.stored_value
    assert (after.principal_minor, after.bonus_minor) == (0, 60_00)
    await fails(
        giftcard.RefundTopUp(
            gpb.RefundTopUpRequest(request_id=uid(), top_up_id=made.top_up_id, reason="again"),
            metadata=staff("fay", "finance"),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "TOP_UP_NOT_REFUNDABLE",
    )
    assert await journal.problems(giftcard_app.pool) == {}


async def test_a_frozen_member_can_neither_top_up_nor_spend_stored_value(
    wallet, checkout, giftcard_app, publish, consumed
):
    member = str(uuid.uuid4())
    await publish(FROZEN, member, identity.MemberFrozen(member_id=member, reason="risk"))
    await consumed(FROZEN)
    await fails(
        wallet.CreateTopUp(
            pb.CreateTopUpRequest(
                request_id=uid(), member_id=member, currency_code="CNY", amount_minor=100_00
            ),
            metadata=checkout,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_FROZEN",
    )


async def test_bad_top_ups_are_refused_and_change_nothing(wallet, checkout, giftcard_app, mint):
    member = str(uuid.uuid4())
    for amount, currency, field in (
        (0, "CNY", "amount_minor"),
        (-5, "CNY", "amount_minor"),
        (10**13, "CNY", "amount_minor"),
        (100_00, "USD", "currency_code"),
    ):
        await fails(
            wallet.CreateTopUp(
                pb.CreateTopUpRequest(
                    request_id=uid(), member_id=member, currency_code=currency, amount_minor=amount
                ),
                metadata=checkout,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            fields=[field],
        )
    other = mint(str(uuid.uuid4()))  # another member's token
    await fails(
        wallet.CreateTopUp(
            pb.CreateTopUpRequest(
                request_id=uid(), member_id=member, currency_code="CNY", amount_minor=100_00
            ),
            metadata=other,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert await giftcard_app.pool.fetchval("SELECT count(*) FROM top_ups") == 0
