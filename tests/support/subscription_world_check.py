"""What subscription's model-agreement test compares after every step (the world is in
subscription_world.py): for every member, each subscription (state, period end, terms,
auto-renew, grace, the renewal plan, the end, the refund), the current one and whether the
trial was used, what a refund would pay now (GetRefundQuote), the quotas left
(ListBenefitQuotas), the points multiplier (GetMemberBenefits); every order the model knows
(its state); the partner perk's inventory (GetPerkInventory); the model's own invariants.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.subscription.domain.lifecycle import MULTIPLYING, MemberStatus, State
from services.subscription.domain.model import Model, OrderKind, Settled, Sub
from services.subscription.domain.plans import Plan
from services.subscription.domain.terms import PAID_CHANNELS, Channel
from tests.support.subscription_world import PERK, WorldBase

_SOURCES = {
    res.TERM_SOURCE_PURCHASE: Channel.PURCHASE,
    res.TERM_SOURCE_RENEWAL: Channel.RENEWAL,
    res.TERM_SOURCE_TRIAL: Channel.TRIAL,
    res.TERM_SOURCE_REDEMPTION_CODE: Channel.CODE,
    res.TERM_SOURCE_GIFT: Channel.GIFT,
    res.TERM_SOURCE_PLAN_CHANGE: Channel.PLAN_CHANGE,
}
_TIMINGS = {res.PLAN_CHANGE_TIMING_NOW: "now", res.PLAN_CHANGE_TIMING_AT_RENEWAL: "at_renewal"}
# The model's settled orders as the service's order states (an abandoned order lapsed, or was
# cancelled with its subscription by member.closed).
_ORDER_STATES = {
    Settled.PENDING: {"pending_payment"},
    Settled.PAID: {"paid"},
    Settled.FAILED: {"failed"},
    Settled.ABANDONED: {"expired", "cancelled"},
}


def when(message: Any, name: str) -> dt.datetime | None:
    """A Timestamp field as an instant, None when unset."""
    return getattr(message, name).ToDatetime(dt.UTC) if message.HasField(name) else None


def state_name(value: res.SubscriptionState.ValueType) -> str:
    return res.SubscriptionState.Name(value).removeprefix("SUBSCRIPTION_STATE_").lower()


def plan_now(m: Model, sub: Sub) -> Plan:
    """The plan in effect (Subscription.plan_id): the current term's; in grace or ended, the
    last term's; while pending, the first order's."""
    current = [t.plan for t in sub.terms if t.start <= m.now < t.end]
    return (current or [t.plan for t in sub.terms[-1:]] or [sub.order_plan])[0]


def pending_change(m: Model, sub: Sub) -> tuple[str, str] | None:
    """The plan change waiting (Subscription.pending_plan_change): a plan change's order
    unpaid, else a renewal plan other than that of the last term paid for."""
    for order in m.orders.values():
        waiting = order.kind is OrderKind.CHANGE and order.settled is Settled.PENDING
        if waiting and order.sub_id == sub.sub_id:
            return order.plan.code, "now"
    paid = [t.plan for t in sub.terms if t.channel in PAID_CHANNELS]
    renewal = sub.renewal_plan
    if not paid or renewal is None or renewal.same_version(paid[-1]):
        return None
    return renewal.code, "at_renewal"


def model_view(m: Model, sub: Sub) -> dict[str, Any]:
    """What `check` compares of a subscription, as the model holds it."""
    live = sub.state in MULTIPLYING
    plan = plan_now(m, sub)
    return {
        "state": sub.state.value,
        "plan": (plan.code, plan.version),
        "period_end": sub.end,
        "terms": [
            (t.plan.code, t.plan.version, t.channel.value, t.start, t.end, t.paid_minor)
            for t in sub.terms
        ],
        "auto_renew": sub.auto_renew,
        "grace_until": sub.grace_until if sub.state is State.GRACE else None,
        "renewal_plan": (sub.renewal_plan.code if sub.renewal_plan else "") if live else None,
        "pending_change": pending_change(m, sub) if live else None,
        "ended_at": sub.ended_at
        if sub.state not in (*MULTIPLYING, State.PENDING_PAYMENT)
        else None,
        "refunded": sub.refunded or 0,
    }


def service_view(sub: res.Subscription) -> dict[str, Any]:
    state, change = state_name(sub.state), sub.pending_plan_change
    live = State(state) in MULTIPLYING
    return {
        "state": state,
        "plan": (sub.plan_id, sub.plan_version),
        "period_end": when(sub, "period_end"),
        "terms": [
            (
                t.plan_id,
                t.plan_version,
                _SOURCES[t.source].value,
                when(t, "start_time"),
                when(t, "end_time"),
                t.value.amount_minor,
            )
            for t in sub.terms
        ],
        "auto_renew": sub.auto_renew,
        "grace_until": when(sub, "grace_until") if state == State.GRACE else None,
        "renewal_plan": sub.renewal_plan_id if live else None,
        "pending_change": (
            (change.plan_id, _TIMINGS[change.timing])
            if live and sub.HasField("pending_plan_change")
            else None
        ),
        "ended_at": when(sub, "end_time") if not live and state != State.PENDING_PAYMENT else None,
        "refunded": sub.refund.amount.amount_minor if sub.HasField("refund") else 0,
    }


class CheckedWorld(WorldBase):
    """The world, and its comparison of the service with the model."""

    def status(self, member: str) -> MemberStatus:
        return self.model.members[member].status

    async def check(self) -> None:
        """Everything the service shows, against the model (read at once: the reads are
        independent, and the random programs check after every step)."""
        m = self.model
        inventory, orders, *members = await asyncio.gather(
            self.admin.GetPerkInventory(
                admin_pb.GetPerkInventoryRequest(perk_pool_id=self.pool_id),
                metadata=self.operator,
            ),
            self.app.pool.fetch("SELECT order_id, state FROM orders"),
            *(self._read_member(member) for member in self.members),
        )
        for member, shown in zip(self.members, members, strict=True):
            self._check_member(member, *shown)
        states = {str(r["order_id"]): r["state"] for r in orders}
        for order_id, order in m.orders.items():
            state = states.get(order_id)
            ended = m.subs[order.sub_id].state in (State.REFUNDED, State.CANCELLED)
            # A refund or member.closed cancels the pending orders; the model leaves them be.
            if state == "cancelled" and order.settled is Settled.PENDING and ended:
                continue
            if state not in _ORDER_STATES[order.settled]:
                self.disagree(f"order {order_id}: model {order.settled.value}, service {state}")
        # A RENEWAL order is charged once per attempt: paid when one of its charges was.
        charged = self.charge_orders
        self.same(
            "the renewal orders paid",
            {o for c, o in charged.items() if m.charges[c].settled is Settled.PAID},
            {o for o in charged.values() if states.get(o) == "paid"},
        )
        self.same(
            "the perk inventory (available, claimed)",
            (len(m.inventory.get(PERK, [])), len(m.handed.get(PERK, []))),
            (inventory.pool.available_count, inventory.pool.claimed_count),
        )
        self.same("the model's own invariants", [], m.problems())

    async def _read_member(self, member: str) -> tuple:
        """What the service shows of a member: its subscriptions (newest first), the current
        one with whether the trial was used, its quotas, its benefits at checkout, and what a
        refund would pay now (its live subscription's quote; None when none is live)."""
        latest = self.model.latest(member)
        quote = None
        if latest is not None and latest.state in MULTIPLYING:
            quote = self.admin.GetRefundQuote(
                admin_pb.GetRefundQuoteRequest(subscription_id=self.subs[latest.sub_id]),
                metadata=self.operator,
            )
        return await asyncio.gather(
            self.admin.ListSubscriptions(
                admin_pb.ListSubscriptionsRequest(member_id=member, page_size=500),
                metadata=self.operator,
            ),
            self.subscription.GetMemberSubscription(
                pb.GetMemberSubscriptionRequest(member_id=member), metadata=self.checkout
            ),
            self.subscription.ListBenefitQuotas(
                pb.ListBenefitQuotasRequest(member_id=member), metadata=self.checkout
            ),
            self.subscription.GetMemberBenefits(
                pb.GetMemberBenefitsRequest(member_id=member), metadata=self.checkout
            ),
            quote or asyncio.sleep(0),
        )

    def _check_member(
        self,
        member: str,
        listed: admin_pb.ListSubscriptionsResponse,
        current: pb.GetMemberSubscriptionResponse,
        quotas: pb.ListBenefitQuotasResponse,
        benefits: pb.GetMemberBenefitsResponse,
        quote: admin_pb.GetRefundQuoteResponse | None,
    ) -> None:
        m = self.model
        ours = [m.subs[s] for s in reversed(m.members[member].subs)]  # newest first
        self.same(
            f"{member}'s subscriptions",
            [(self.subs.get(s.sub_id), s.state.value) for s in ours],
            [(s.subscription_id, state_name(s.state)) for s in listed.subscriptions],
        )
        for sub, theirs in zip(ours, listed.subscriptions, strict=True):
            self.same(f"subscription {sub.sub_id}", model_view(m, sub), service_view(theirs))
        latest = m.latest(member)
        self.same(
            f"{member}'s current subscription",
            self.subs[latest.sub_id] if latest else "",
            current.subscription.subscription_id,
        )
        self.same(f"{member}'s trial used", m.members[member].had_trial, current.trial_used)
        if quote is not None:
            assert latest is not None
            self.same(
                f"{member}'s refund quote (refund, paid)",
                m.refund_due(latest),
                (quote.quote.amount.amount_minor, quote.quote.paid_value.amount_minor),
            )
        expected = m.remaining(member) if latest and latest.state in MULTIPLYING else {}
        self.same(
            f"{member}'s quotas (left, in stock)",
            {
                b: (max(0, left), b != PERK or bool(m.inventory[PERK]))
                for b, left in expected.items()
            },
            {q.benefit_id: (q.remaining, q.in_stock) for q in quotas.quotas},
        )
        multiplier = m.multiplier(member)
        b = benefits.benefits
        self.same(
            f"{member}'s points multiplier", multiplier, b.points_multiplier if b.subscribed else 1
        )
