"""Growth's upgrade gift packs (growth.gift_pack_granted): points credits a pack's points under
its tier_upgrade rule exactly once per reference, whatever the redeliveries and new event ids;
a pack that breaks the contract is dead-lettered at once and credits nothing; only growth's
broker user may publish one."""

from __future__ import annotations

import uuid

import aiormq
import pytest

from loyalty.growth.v1 import events_pb2 as growth
from loyalty.growth.v1 import resources_pb2 as growth_res
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.points.v1 import points_service_pb2 as pb
from services.kit import events, metrics, publishers
from tests.support import bus, servers
from tests.support.ids import uid
from tests.support.logs import malformed_reason
from tests.support.points import REGISTERED, assert_reconciled, dead_lettered, rejected_at_once
from tests.support.waiting import wait_until

GIFT = "loyalty.growth.growth.gift_pack_granted.v1"
QUEUE = "points.growth"
NAMES = servers.broker_settings()
TIERS: dict[int, str] = {
    growth_res.TIER_SILVER: "silver",
    growth_res.TIER_GOLD: "gold",
    growth_res.TIER_DIAMOND: "diamond",
}

managed_users = pytest.mark.skipif(
    not servers.broker_users_managed(),
    reason="the broker cannot be administered here (no LOYALTY_RABBITMQCTL): every publisher "
    "is one user, so there is no other user to refuse",
)


def pack(
    member: str,
    points: int = 500,
    tier: int = growth_res.TIER_GOLD,
    period: str = "2026-10",
    **fields,
) -> growth.GrowthGiftPackGranted:
    """A gift pack as growth publishes it; `fields` override (reference, coupons, …)."""
    values = {
        "reference": f"growth:tier_upgrade:{member}:{TIERS.get(tier, 'gold')}:{period}",
        "member_id": member,
        "tier": tier,
        "period": period,
        "points": points,
        "coupons": [growth_res.GiftCoupon(code="free_shipping", quantity=2, value_minor=1_000)],
        "currency_code": "CNY",
        "rule_set_version": 1,
        **fields,
    }
    message = growth.GrowthGiftPackGranted(**values)
    if "granted_time" not in fields:
        message.granted_time.FromSeconds(1_793_462_400)  # 2026-11-01 (UTC)
    return message


async def credits(points, operator, member: str) -> list[tuple[str, int, str]]:
    """The member's credits under tier_upgrade, as ListLedgerEntries shows them."""
    response = await points.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(member_id=member, page_size=500), metadata=operator
    )
    return sorted(
        (e.rule_code, e.amount, e.reference)
        for e in response.entries
        if e.rule_code == "tier_upgrade"
    )


async def changes(points_app, member: str) -> tuple:
    """What a refused event must leave as it was."""
    pool = points_app.pool
    return (
        await pool.fetchval("SELECT count(*) FROM journal_transactions"),
        await pool.fetchval("SELECT count(*) FROM parked_events"),
        await pool.fetchrow(
            "SELECT available, pending, held, debt FROM member_accounts WHERE member_id = $1",
            uuid.UUID(member),
        ),
    )


def duplicates(points_app) -> float:
    return metrics.EVENTS_DUPLICATE.labels(points_app.settings.queue_prefix + QUEUE)._value.get()


async def _at_least(value: float, target: float) -> bool:
    return value >= target


async def test_a_gift_pack_credits_its_points_under_tier_upgrade(
    points, points_app, operator, new_member, balance, publish, consumed, tap
):
    member = await new_member()
    sent = pack(member, 500)
    await publish(GIFT, member, sent)
    await consumed(GIFT)
    b = await balance(member)
    assert (b.available, b.pending, b.held, b.debt) == (500, 0, 0, 0)
    assert await credits(points, operator, member) == [("tier_upgrade", 500, sent.reference)]
    (credited,) = await tap.wait_for("loyalty.points.points.credited.v1", member)
    assert credited.data["points"] == "500"
    await assert_reconciled(points_app.pool)


async def test_a_pack_redelivered_or_sent_again_under_a_new_event_id_credits_once(
    points, points_app, operator, new_member, balance, publish, consumed
):
    member = await new_member()
    sent = pack(member, 700)
    before = duplicates(points_app)
    first = await publish(GIFT, member, sent)
    await publish(GIFT, member, sent, event_id=first)  # the broker's redelivery: same id
    await publish(GIFT, member, sent)  # growth's retry: a new event id, the same reference
    # The same reference with other content: still the grant already credited.
    await publish(GIFT, member, pack(member, 9_000, reference=sent.reference))
    await consumed(GIFT, 3)
    await wait_until(
        lambda: _at_least(duplicates(points_app), before + 1), 10, "the redelivery counted"
    )
    assert (await balance(member)).available == 700
    assert await credits(points, operator, member) == [("tier_upgrade", 700, sent.reference)]
    await assert_reconciled(points_app.pool)


async def test_packs_of_other_tiers_or_periods_are_credited_each(
    points, points_app, operator, new_member, balance, publish, consumed
):
    member = await new_member()
    gold = pack(member, 500, growth_res.TIER_GOLD, "2026-10")
    diamond = pack(member, 2_000, growth_res.TIER_DIAMOND, "2026-10")
    gold_next_year = pack(member, 600, growth_res.TIER_GOLD, "2027-10")
    other = await new_member()  # another member's pack of the same tier and period
    for message in (gold, diamond, gold_next_year):
        await publish(GIFT, member, message)
    await publish(GIFT, other, pack(other, 500, growth_res.TIER_GOLD, "2026-10"))
    await consumed(GIFT, 4)
    assert (await balance(member)).available == 500 + 2_000 + 600
    assert (await balance(other)).available == 500
    assert await credits(points, operator, member) == sorted(
        ("tier_upgrade", m.points, m.reference) for m in (gold, diamond, gold_next_year)
    )
    await assert_reconciled(points_app.pool)


async def test_a_pack_of_coupons_only_credits_nothing_and_is_acknowledged(
    points, points_app, operator, new_member, balance, publish, consumed
):
    member = await new_member()
    stranger = uid()  # a member points does not know: a pack of no points is not parked either
    before = await changes(points_app, member)
    await publish(GIFT, member, pack(member, 0))
    await publish(GIFT, stranger, pack(stranger, 0))
    await consumed(GIFT, 2)
    assert await changes(points_app, member) == before
    assert (await balance(member)).available == 0
    assert await credits(points, operator, member) == []


def _long_reference(member: str) -> str:
    return f"growth:tier_upgrade:{member}:gold:2026-10:" + "x" * 128


MALFORMED = {
    "member id no uuid": (dict(member_id="member-1"), "member_id"),
    "reference not growth's": (dict(reference="review:rv-1"), "reference"),
    "reference of another member": (
        dict(reference=f"growth:tier_upgrade:{uuid.uuid4()}:gold:2026-10"),
        "reference",
    ),
    "reference of another tier": (dict(tier=growth_res.TIER_SILVER), "reference"),
    "reference over 128 characters": ("long", "reference"),
    "reference with a control character": (
        dict(reference="growth:tier_upgrade:\x00"),
        "reference",
    ),
    "negative points": (dict(points=-1), "points"),
    "points over 10^7": (dict(points=10**7 + 1), "points"),
    "points 2^63-1": (dict(points=2**63 - 1), "points"),
    "period no month": (dict(period="2026-13"), "period"),
    "period no YYYY-MM": (dict(period="Oct 2026"), "period"),
    "no tier": (dict(tier=growth_res.TIER_UNSPECIFIED), "tier"),
    "coupon quantity over 100": (
        dict(coupons=[growth_res.GiftCoupon(code="c1", quantity=101)]),
        "coupons[0].quantity",
    ),
    "coupons of no currency": (dict(currency_code=""), "currency_code"),
    "no rule set version": (dict(rule_set_version=0), "rule_set_version"),
}


@pytest.mark.parametrize(("fields", "field"), list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_pack_is_dead_lettered_at_once_and_credits_nothing(
    points, points_app, amqp, new_member, balance, publish, consumed, log_capture, fields, field
):
    member = await new_member()
    before = await changes(points_app, member)
    if fields == "long":
        fields = dict(reference=_long_reference(member))
    message = pack(member, **{"points": 500, **fields})
    if "period" in fields or "tier" in fields:  # the reference of the grant growth meant
        message.reference = pack(member).reference
    sent = await publish(GIFT, member, message)
    (letter,) = await dead_lettered(amqp, points_app, QUEUE, member)
    assert rejected_at_once(letter)
    assert field in malformed_reason(log_capture, sent, "points")
    assert await changes(points_app, member) == before
    # The member's packs still credit.
    await publish(GIFT, member, pack(member, 300, growth_res.TIER_SILVER))
    await consumed(GIFT)
    assert (await balance(member)).available == 300


async def test_a_pack_of_a_member_not_yet_registered_waits_then_credits_once(
    points, points_app, operator, balance, publish, consumed
):
    member = uid()  # identity has not told points about this member yet
    sent = pack(member, 800)
    await publish(GIFT, member, sent)
    await publish(GIFT, member, sent)  # growth's retry, while the first waits
    await consumed(GIFT, 2)
    waiting = await points_app.pool.fetchval(
        "SELECT count(*) FROM parked_events WHERE member_id = $1 AND state = 'waiting'",
        uuid.UUID(member),
    )
    assert waiting == 2
    assert (
        await points_app.pool.fetchval(
            "SELECT count(*) FROM member_accounts WHERE member_id = $1", uuid.UUID(member)
        )
        == 0
    )
    await publish(REGISTERED, member, identity.MemberRegistered(member_id=member))
    await consumed(REGISTERED)
    assert (await balance(member)).available == 100 + 800  # the sign-up bonus and the pack
    assert await credits(points, operator, member) == [("tier_upgrade", 800, sent.reference)]
    await assert_reconciled(points_app.pool)


async def test_a_frozen_member_earns_no_pack(
    points, points_app, operator, new_member, balance, publish, consumed
):
    member = await new_member(status="frozen")
    await publish(GIFT, member, pack(member, 500))
    await consumed(GIFT)
    assert (await balance(member)).available == 0
    assert await credits(points, operator, member) == []


@managed_users
async def test_a_pack_published_by_another_broker_user_is_refused(
    points, points_app, amqp, producers, new_member, balance, publish, consumed
):
    member = await new_member()
    # The run's administrator may publish anywhere, but is not growth: dead-lettered at once.
    forged = await bus.publish(amqp, NAMES["events_exchange"], GIFT, member, pack(member, 9_999))
    (letter,) = await dead_lettered(amqp, points_app, QUEUE, member)
    assert letter.message_id == forged and rejected_at_once(letter)
    assert letter.user_id == publishers.broker_user(servers.AMQP_URL)
    # Another service's user (identity) may not even publish growth's types.
    impostor = await producers("identity")
    channel = await impostor.channel(publisher_confirms=True)
    try:
        exchange = await channel.get_exchange(NAMES["events_exchange"], ensure=False)
        message = events.to_amqp(
            event_id=uid(),
            type_=GIFT,
            source="/loyalty/growth",
            subject=member,
            data=events.payload_json(pack(member, 9_999)),
            user_id=publishers.broker_user(servers.publisher_urls()["identity"]),
        )
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await exchange.publish(message, routing_key=GIFT, timeout=10)
    finally:
        if not channel.is_closed:
            await channel.close()
    assert (await balance(member)).available == 0
    # growth's own user is trusted.
    await publish(GIFT, member, pack(member, 400))
    await consumed(GIFT)
    assert (await balance(member)).available == 400
