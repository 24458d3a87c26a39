"""Subscription's model-agreement steps: the real service, driven only through its public
interfaces (SubscriptionService with a storefront's checkout token, SubscriptionAdminService
with an operator's, the payment and member events it consumes, its two jobs run with the
test's clock), side by side with the in-memory reference model
(services.subscription.domain.model). The world they run in is in subscription_world.py, the
comparison after every step in subscription_world_check.py, the steps that order, pay and
renew in subscription_world_payments.py; here are the member's choices (cancel, resume, plan
changes, claims, codes), the operator's refunds, identity's member events and time.

Each step is interpreted against the state the model holds at that moment (a pick chooses
among the members, orders or charges that fit, a `mode` of ANY among all of them, so that now
and then a step is one that must be refused).

Where the model does less than the contract (the proto) says, the step says so in a comment
marked MODEL GAP and accepts the service's answer there without stepping the model;
tests/integration/subscription/test_model_agreement.py keeps a strict-xfail reproduction of
each gap (World.unfilled names the gap a reproduction leaves open).
"""

from __future__ import annotations

import datetime as dt

from loyalty.identity.v1 import events_pb2 as identity
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.subscription.domain import benefits, codes, renewal
from services.subscription.domain.lifecycle import State
from services.subscription.domain.model import Model
from services.subscription.domain.plans import QuotaWindow
from tests.support.subscription_world import (
    ANY,
    CLOSED,
    FROZEN,
    PLAN_CODES,
    UNFROZEN,
    Alike,
    uid,
)
from tests.support.subscription_world_payments import PayingWorld

BENEFITS = ["free_shipping", "video_vip", "return_pickup", "nope"]
DURATIONS = [
    dt.timedelta(minutes=1),
    dt.timedelta(hours=6),
    dt.timedelta(days=1),
    dt.timedelta(days=3),
    dt.timedelta(days=6),
    dt.timedelta(days=8),
    dt.timedelta(days=29),
    dt.timedelta(days=31),
    dt.timedelta(days=95),
]
JOBS = ["none", "job", "job_succeed", "job_fail"]
MEMBER_EVENTS = {"freeze": FROZEN, "unfreeze": UNFROZEN, "close": CLOSED}


class World(PayingWorld):
    """The steps of a program, each on the service and the model, then `check`."""

    # --- refusals alike ------------------------------------------------------------------------
    def _of_sub(self, member: str, alike: Alike = lambda s, m, _: s == m) -> Alike:
        """A call naming the member's subscription: for a member without one it names an id
        of none, which the service cannot find before anything else (the model, given the
        member, may name another check first)."""

        def check(service: str, model: str | None, m: Model) -> bool:
            none = service == "SUBSCRIPTION_NOT_FOUND" and self.model.latest(member) is None
            return none or alike(service, model, m)

        return check

    # --- the member's choices -------------------------------------------------------------------
    async def cancel_or_resume(self, member_pick: int, on: bool) -> None:
        member = self.member(member_pick)
        what = "resume" if on else "cancel"
        self.note(f"{member} {what}s")
        before = await self.snapshot()
        sub_id = self.sub_id(member)
        if on:
            rpc = self.subscription.ResumeSubscription(
                pb.ResumeSubscriptionRequest(request_id=uid(), subscription_id=sub_id),
                metadata=self.checkout,
            )
        else:
            rpc = self.subscription.CancelSubscription(
                pb.CancelSubscriptionRequest(request_id=uid(), subscription_id=sub_id),
                metadata=self.checkout,
            )
        _, reason = await self.call(rpc)
        step = (lambda m: m.resume(member)) if on else (lambda m: m.cancel(member))
        if reason:
            self.refused_alike(what, reason, step, self._of_sub(member))
            await self.unchanged(before, what)
            return
        self.accepted(what, step)

    async def change_plan(self, member_pick: int, plan_pick: int, now: bool, then: int) -> None:
        member, plan = self.member(member_pick), PLAN_CODES[plan_pick % len(PLAN_CODES)]
        timing = res.PLAN_CHANGE_TIMING_NOW if now else res.PLAN_CHANGE_TIMING_AT_RENEWAL
        self.note(f"{member} changes to {plan} " + ("now" if now else "at renewal"))
        before = await self.snapshot()
        sub_id = self.sub_id(member)
        made, reason = await self.call(
            self.subscription.ChangePlan(
                pb.ChangePlanRequest(
                    request_id=uid(),
                    subscription_id=sub_id,
                    plan_id=plan,
                    timing=timing,
                    collection=res.PAYMENT_COLLECTION_STOREFRONT,
                ),
                metadata=self.checkout,
            )
        )
        if not now:

            def step(m: Model) -> None:
                m.change_at_renewal(member, plan)

            if reason:
                self.refused_alike("schedule", reason, step, self._of_sub(member))
                await self.unchanged(before, "schedule")
                return
            self.accepted("schedule", step)
            return
        if reason:
            self.refused_alike(
                "change now",
                reason,
                lambda m: m.change_now(member, plan, uid()),
                self._of_sub(member),
            )
            await self.unchanged(before, "change now")
            return
        order = made.order
        charge = self.accepted("change now", lambda m: m.change_now(member, plan, order.order_id))
        self.same("the plan change's charge", charge, order.amount.amount_minor)
        if charge > 0:
            await self._settle(order.order_id, then)

    async def claim(self, member_pick: int, mode: int, benefit_pick: int) -> None:
        """ClaimBenefit, mostly by a member with benefits; the partner code the service hands
        out is the one the model hands out (the contract does not say which comes first)."""
        entitled = [m for m in self.members if self.model.multiplier(m) > 1]
        pool = entitled if entitled and mode != ANY else self.members
        member = pool[member_pick % len(pool)]
        benefit = BENEFITS[benefit_pick % len(BENEFITS)]
        self.note(f"{member} claims {benefit}")
        before = await self.snapshot()
        made, reason = await self.call(
            self.subscription.ClaimBenefit(
                pb.ClaimBenefitRequest(request_id=uid(), member_id=member, benefit_id=benefit),
                metadata=self.checkout,
            )
        )
        if reason:
            self.refused_alike("claim", reason, lambda m: m.claim(member, benefit))
            await self.unchanged(before, "claim")
            return
        code = made.claim.partner_code or None

        def step(m: Model) -> str | None:
            left = m.inventory.get(benefit, [])
            if code is not None and code in left:
                left.insert(0, left.pop(left.index(code)))  # the one the service chose
            return m.claim(member, benefit)

        self.same("the partner code handed out", self.accepted("claim", step), code)

    async def redeem(self, member_pick: int, code_pick: int) -> None:
        """RedeemCode: an exported code as printed, typed loosely, run together; garbage; a
        well-formed code never issued."""
        member = self.member(member_pick)
        known = self.codes
        raw = [
            *known,
            " ".join(known[0].lower().split("-")),  # the forgiving input
            "not a code",
            codes.printed(codes.new_code(lambda n: 42)),  # well formed, never issued
            known[1].replace("-", ""),
        ][code_pick % (len(known) + 4)]
        self.note(f"{member} redeems {raw!r}")
        before = await self.snapshot()
        made, reason = await self.call(
            self.subscription.RedeemCode(
                pb.RedeemCodeRequest(request_id=uid(), member_id=member, code=raw),
                metadata=self.checkout,
            )
        )
        if reason:

            def alike(service: str, model: str | None, m: Model) -> bool:
                live = m.latest(member)
                if service == "SUBSCRIPTION_PENDING_PAYMENT" and model == "CODE_INVALID":
                    # The contract checks the member's own state before the code is read.
                    return live is not None and live.state is State.PENDING_PAYMENT
                if service == "RATE_LIMITED" and self.fills("redemption_attempts_limited"):
                    # MODEL GAP (attempts): the contract limits failed attempts (5 in 15
                    # minutes a member); the model has no limit.
                    return True
                if model is None and service == "STACKING_LIMIT_REACHED" and live:
                    return self._beyond_limit(m, live.sub_id)
                return service == model

            self.refused_alike("redeem", reason, lambda m: m.redeem(member, raw), alike)
            await self.unchanged(before, "redeem")
            return
        sub_id = self.accepted("redeem", lambda m: m.redeem(member, raw))
        self.link(sub_id, made.subscription.subscription_id)

    # --- operators and identity -----------------------------------------------------------------
    async def refund(self, member_pick: int) -> None:
        member = self.member(member_pick)
        self.note(f"refund of {member}'s subscription")
        before = await self.snapshot()
        made, reason = await self.call(
            self.admin.RefundSubscription(
                admin_pb.RefundSubscriptionRequest(
                    request_id=uid(), subscription_id=self.sub_id(member), reason="asked"
                ),
                metadata=self.operator,
            )
        )
        if reason:
            self.refused_alike("refund", reason, lambda m: m.refund(member), self._of_sub(member))
            await self.unchanged(before, "refund")
            return
        amount = self.accepted("refund", lambda m: m.refund(member))
        self.same("the refund", amount, made.refund.amount.amount_minor)

    async def member_event(self, member_pick: int, event: str) -> None:
        member = self.member(member_pick)
        self.note(f"member.{event} {member}")
        before = await self.snapshot()
        type_ = MEMBER_EVENTS[event]
        payload = {
            "freeze": identity.MemberFrozen,
            "unfreeze": identity.MemberUnfrozen,
            "close": identity.MemberClosed,
        }[event](member_id=member)
        await self.publish(type_, member, payload)
        await self.wait(type_)
        await self.either(event, lambda m: getattr(m, event)(member), before)

    # --- time -----------------------------------------------------------------------------------
    async def pass_time(self, delta: dt.timedelta, then: str) -> None:
        self.note(f"+{delta} (clock job)")
        await self.advance(delta)
        await self._jobs(then)

    async def advance_to_a_moment(self, pick: int, nudge: int, then: str) -> None:
        """To an instant a rule turns on, give or take a second: a renewal falling due, a
        period or grace ending, an order lapsing, a cooling-off ending, a quota window turning."""
        m = self.model
        moments = self._renewal_moments()
        for sub in m.subs.values():
            moments += [sub.ordered_at + m.payment_window]
            moments += [t.paid_at + m.cooling_off for t in sub.terms]
        moments += [o.ordered_at + m.payment_window for o in m.orders.values()]
        moments.append(benefits.window_end(m.now, QuotaWindow.MONTH, m.zone))
        await self._to_one_of(moments, pick, nudge, then)

    async def advance_to_a_renewal(self, nudge: int, then: str) -> None:
        """To the next renewal falling due (a first charge or a retry), period or grace
        ending, give or take a second: a run of them with failed charges goes through every
        retry and the end of grace."""
        await self._to_one_of(self._renewal_moments(), 0, nudge, then)

    def _renewal_moments(self) -> list[dt.datetime | None]:
        m, found = self.model, []
        for sub in m.subs.values():
            found += [renewal.due_at(sub.to_domain(), m.renewal), sub.end, sub.grace_until]
        return found

    async def _to_one_of(
        self, moments: list[dt.datetime | None], pick: int, nudge: int, then: str
    ) -> None:
        """To one of the first few `moments` to come (shifted by `nudge` seconds), then the
        jobs `then` says; only the jobs when none is to come."""
        now = self.model.now
        shifted = {t + dt.timedelta(seconds=nudge) for t in moments if t is not None}
        later = sorted(t for t in shifted if t > now)[:6]
        if later:
            await self.pass_time(later[pick % len(later)] - now, then)
        else:
            await self._jobs(then)

    async def _jobs(self, then: str) -> None:
        """The renewal job runs every minute too; the provider may answer its charges at once
        (`then`: one of JOBS)."""
        if then == "none":
            return
        before = set(self.model.charges)
        await self.renewal_job()
        for charge_id in sorted(set(self.model.charges) - before):
            if then != "job":
                await self._charge_result(charge_id, then == "job_succeed")
