"""`make demo`'s building blocks (tools/demo) on a small data set, against the suite as `make run`
starts it (tests/e2e/suite.py, without the Procfile's payment provider: the demo runs its own,
told whose renewals to decline): the tour's members hold what the documented rules make of
their plan (docs/domain.md, worked out here, not read from the services), and a second run
changes nothing the API reports."""

from __future__ import annotations

import os

import pytest

from loyalty.growth.v1 import growth_service_pb2 as gpb
from loyalty.growth.v1 import resources_pb2 as gres
from loyalty.points.v1 import points_service_pb2 as ppb
from loyalty.subscription.v1 import resources_pb2 as sres
from loyalty.subscription.v1 import subscription_service_pb2 as spb
from tests.e2e import suite as e2e
from tools.demo import plan
from tools.demo.people import Callers
from tools.demo.play import play
from tools.demo.target import CommandFailed, Secrets, Target

# About 40 s (the suite started, the demo run twice): more than `make test` affords it.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("DEMO_TEST") != "1", reason="the demo's test runs with DEMO_TEST=1"
    ),
]

SEED, MEMBERS = 7, 20
SIGN_UP, REVIEW, PHOTO_REVIEW, REFERRAL = 100, 20, 40, 500
# The upgrade gift packs' points (growth's default rule set): each tier reached is paid.
PACKS = {
    gres.TIER_BRONZE: 200,
    gres.TIER_SILVER: 500,
    gres.TIER_GOLD: 1_000,
    gres.TIER_DIAMOND: 2_000,
}


class Suite(e2e.Suite):
    """The suite without the Procfile's fake payment provider (the demo brings its own)."""

    async def _consumed(self, queues: list[str], timeout: float = 60) -> None:
        await super()._consumed([q for q in queues if q != self.payments_queue], timeout)


def rebate(order: plan.Order, multiplier: int = 1) -> int:
    """1 point per whole CNY paid, times the multiplier (purchase_rebate)."""
    return order.paid_minor // 100 * multiplier


def points_of(orders: list[plan.Order], multiplier: int) -> tuple[int, int]:
    """(available, pending) the orders earn: a rebate is pending until its order completes, a
    refund reverses it in proportion (rounded down), a review earns 20 (40 with photos); this
    hour's orders earn the PLUS multiplier, less the points spent at checkout."""
    available = pending = 0
    for order in orders:
        earned = rebate(order, multiplier if order.recent else 1)
        if order.completed_at is None:
            pending += earned
        else:
            available += earned
        if order.refund is not None:
            available -= earned * order.refund.amount_minor // order.paid_minor
        if order.review is not None:
            available += PHOTO_REVIEW if order.review[2] else REVIEW
        available -= order.points_used
    return available, pending


async def test_the_demo_seeds_its_tour_and_a_second_run_changes_nothing(
    amqp, tmp_path, monkeypatch
):
    # The suite's honcho runs this copy of the Procfile, which leaves the payment provider out.
    procfile = tmp_path / "Procfile"
    lines = e2e.PROCFILE.read_text().splitlines(keepends=True)
    procfile.write_text("".join(line for line in lines if not line.startswith("payments:")))
    monkeypatch.setattr(e2e, "PROCFILE", procfile)
    async with Suite(amqp) as suite:

        async def command(service: str, *args: str, at=None) -> str:
            try:
                return await suite.command(service, *args, at=at)
            except AssertionError as exc:
                raise CommandFailed(str(exc)) from None

        target = Target(
            grpc={name: suite.grpc(name) for name in e2e.APPS},
            ops={name: f"http://127.0.0.1:{ops}" for name, (_, ops) in suite.ports.items()},
            storefront_url=suite.storefront_url,
            command=command,
            secrets_file=tmp_path / "secrets.json",
            events_exchange=e2e.NAMES.events,
            commerce_exchange=e2e.NAMES.commerce,
            queue_prefix=e2e.NAMES.queue_prefix,
        )
        said: list[str] = []  # what the demo prints, shown when an assertion fails
        first = await play(target, SEED, MEMBERS, say=said.append)
        assert first.dead_lettered == 0, "\n".join(said)
        assert first.after["members"] == MEMBERS
        assert "$BUF" in first.tour

        async with Callers(target, Secrets(target.secrets_file)) as call:
            await the_tour_holds_what_the_plan_says(call, first)

        second = await play(target, SEED, MEMBERS, say=said.append)
        assert second.dead_lettered == 0, "\n".join(said)
        assert second.before == second.after == first.after, "\n".join(said)


async def the_tour_holds_what_the_plan_says(call: Callers, outcome) -> None:
    people = plan.people(SEED, MEMBERS)
    star, grace, newcomer = plan.STAR, plan.GRACE, plan.NEWCOMER
    ids, orders = outcome.ids, outcome.orders

    async def balance(index: int) -> tuple[int, int, int, int]:
        got = await call.points.GetBalance(
            ppb.GetBalanceRequest(member_id=ids[index]), metadata=call.shop
        )
        b = got.balance
        return b.available, b.pending, b.held, b.debt

    async def growth(index: int) -> gres.MemberGrowth:
        request = gpb.GetMemberGrowthRequest(member_id=ids[index])
        return (await call.growth.GetMemberGrowth(request, metadata=call.shop)).growth

    async def subscription(index: int) -> sres.Subscription:
        request = spb.GetMemberSubscriptionRequest(member_id=ids[index])
        return (
            await call.subscription.GetMemberSubscription(request, metadata=call.shop)
        ).subscription

    # The star: a diamond year (every tier's gift pack on the way), PLUS renewed, this hour's
    # orders at 10x, 2,000 points spent at checkout, and 500 for referring the newcomer, whose
    # one order completed.
    assert people[newcomer].referrer == star and orders[newcomer][0].completed_at is not None
    assert (await growth(star)).tier == gres.TIER_DIAMOND
    available, pending = points_of(orders[star], multiplier=10)
    available += SIGN_UP + REFERRAL + sum(PACKS.values())
    assert await balance(star) == (available, pending, 0, 0)
    plus = await subscription(star)
    assert (plus.state, len(plus.terms)) == (sres.SUBSCRIPTION_STATE_ACTIVE, 2)

    # The second: PLUS too, its renewal declined, in grace.
    assert (await subscription(grace)).state == sres.SUBSCRIPTION_STATE_GRACE

    # The newcomer: one order, completed, reviewed with photos; still registered.
    available, pending = points_of(orders[newcomer], multiplier=1)
    assert await balance(newcomer) == (SIGN_UP + available, pending, 0, 0)
    assert (await growth(newcomer)).tier == gres.TIER_REGISTERED
