"""An in-memory reference model of the subscription service: members, orders, subscriptions,
renewal charges, claims, perk inventory, redemption codes and a clock.

Meant to run side by side with the real service in a property-based test: the same random
steps (buy, pay, fail, the renewal job and its charge results, cancel, resume, change plan,
claim, redeem, refund, member events, clock advances) go to both, and states, period ends,
refunds, quotas and inventory must agree after every step. What a state allows is asked of the
domain's state table and member rules (`lifecycle`), and the refusals beyond them are written
out here in the domain's order with the domain's reasons, so a refused step is refused with the
reason the service gives. The arithmetic (refunds, credits, quota windows, due dates) is redone
here in the plainest way (fractions, strftime), so a slip in the domain's shows up as a
disagreement. Period ends use the domain's calendar arithmetic (plans.add_period): there is
no plainer way to say "a month later".

A refused step raises `Refused` and changes nothing. `problems()` lists every broken invariant.
Reasons the service adds for things the domain never sees: `PLAN_NOT_FOUND`, `ORDER_NOT_FOUND`,
`ORDER_CLOSED`, `CHARGE_NOT_FOUND`, `SUBSCRIPTION_NOT_FOUND`, `MEMBER_NOT_FOUND`.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from zoneinfo import ZoneInfo

from .lifecycle import (
    LIVE,
    MULTIPLYING,
    MemberAction,
    MemberStatus,
    Operation,
    State,
    member_refusal,
)
from .model_records import (
    ChargeRecord,
    Code,
    Member,
    Order,
    OrderKind,
    Refused,
    Settled,
    Sub,
    _check,
    _elapsed_share,
    _move,
)
from .model_steps import ModelSteps
from .plans import BenefitKind, QuotaWindow
from .refunds import BenefitUse
from .terms import Channel

__all__ = [
    "ChargeRecord",
    "Code",
    "Member",
    "Model",
    "Order",
    "OrderKind",
    "Refused",
    "Settled",
    "Sub",
]


class Model(ModelSteps):
    # --- benefits ------------------------------------------------------------------------------
    def window_key(self, window: QuotaWindow) -> str:
        local = self.now.astimezone(ZoneInfo(self.zone))
        return local.strftime("%Y" if window is QuotaWindow.YEAR else "%Y-%m")

    def _entitled(self, sub: Sub | None) -> bool:
        end = sub.benefits_end() if sub else None
        return sub is not None and sub.state in MULTIPLYING and end is not None and self.now < end

    def claim(self, member_id: str, benefit_id: str) -> str | None:
        """Returns the partner code handed out (None for other benefits)."""
        _check(member_refusal(self.member(member_id).status, MemberAction.CLAIM))
        sub = self.latest(member_id)
        if sub is None or not self._entitled(sub):
            raise Refused("NO_ACTIVE_SUBSCRIPTION")
        benefit = self._plan_now(sub).benefit(benefit_id)
        if benefit is None:
            raise Refused("BENEFIT_NOT_IN_PLAN")
        key = (member_id, benefit_id, self.window_key(benefit.window))
        if self.claims.get(key, 0) >= benefit.quantity:
            raise Refused("QUOTA_EXHAUSTED")
        handed = None
        if benefit.kind is BenefitKind.PARTNER_PERK:
            left = self.inventory.get(benefit_id, [])
            if not left:
                raise Refused("PERK_OUT_OF_STOCK")
            handed = left.pop(0)
            self.handed.setdefault(benefit_id, []).append(handed)
        self.claims[key] = self.claims.get(key, 0) + 1
        self.limits[key] = max(self.limits.get(key, 0), benefit.quantity)
        use = BenefitUse(benefit_id, benefit.value_minor, self.now)
        self.uses.setdefault(sub.sub_id, []).append(use)
        return handed

    def remaining(self, member_id: str) -> dict[str, int]:
        sub = self.latest(member_id)
        if sub is None or not sub.terms:
            return {}
        return {
            b.benefit_id: b.quantity
            - self.claims.get((member_id, b.benefit_id, self.window_key(b.window)), 0)
            for b in self._plan_now(sub).benefits
        }

    def multiplier(self, member_id: str) -> int:
        """A frozen or closed member takes nothing more, the multiplier neither."""
        sub = self.latest(member_id)
        if self.member(member_id).status is not MemberStatus.ACTIVE:
            return 1
        return self._plan_now(sub).points_multiplier if sub and self._entitled(sub) else 1

    # --- refunds and the end -------------------------------------------------------------------
    def refund_due(self, sub: Sub) -> tuple[int, int]:
        """(refund, paid for the open terms) by the formula, in fractions."""
        open_ = [t for t in sub.terms if t.end > self.now]
        if not open_:
            return 0, 0
        uses = [u for u in self.uses.get(sub.sub_id, []) if u.used_at >= open_[0].start]
        shares = Fraction(0)
        for term in open_:
            if not uses and self.now < term.paid_at + self.cooling_off:
                shares += term.paid_minor
                continue
            shares += term.paid_minor - math.floor(term.paid_minor * _elapsed_share(term, self.now))
        paid = sum(t.paid_minor for t in open_)
        amount = int(shares) - sum(u.value_minor for u in uses)
        return min(paid, max(0, amount)), paid

    def refund(self, member_id: str) -> int:
        sub = self._sub_of(member_id)
        state = _move(sub, Operation.REFUND)
        amount, _ = self.refund_due(sub)
        if amount == 0:
            raise Refused("NOTHING_TO_REFUND")
        sub.state, sub.ended_at, sub.refunded, sub.auto_renew = state, self.now, amount, False
        return amount

    def freeze(self, member_id: str) -> None:
        self._status(member_id, MemberStatus.FROZEN)

    def unfreeze(self, member_id: str) -> None:
        self._status(member_id, MemberStatus.ACTIVE)

    def _status(self, member_id: str, status: MemberStatus) -> None:
        m = self.member(member_id)
        if m.status is MemberStatus.CLOSED:
            raise Refused("MEMBER_CLOSED")
        m.status = status

    def close(self, member_id: str) -> int:
        """member.closed: the live subscription is cancelled with the formula's refund."""
        m = self.member(member_id)
        if m.status is MemberStatus.CLOSED:
            raise Refused("MEMBER_CLOSED")
        m.status = MemberStatus.CLOSED
        sub = self._live(member_id)
        if sub is None:
            return 0
        amount = 0 if sub.state is State.PENDING_PAYMENT else self.refund_due(sub)[0]
        sub.state = _move(sub, Operation.CLOSE)
        sub.ended_at, sub.refunded, sub.auto_renew = self.now, amount, False
        for order in self.orders.values():
            if order.sub_id == sub.sub_id and order.settled is Settled.PENDING:
                order.settled = Settled.ABANDONED
        return amount

    # --- the clock -----------------------------------------------------------------------------
    def advance(self, delta: dt.timedelta) -> None:
        """Time passes and the expiry job runs (as it would, every few minutes)."""
        if delta < dt.timedelta(0):
            raise ValueError("time does not go back")
        self.now += delta
        self.expiry_job()

    def expiry_job(self) -> None:
        grace, window = self.renewal.grace, self.payment_window
        for order in self.orders.values():
            if order.settled is Settled.PENDING and self.now >= order.ordered_at + window:
                order.settled = Settled.ABANDONED
        for sub in self.subs.values():
            end = sub.end
            if sub.state is State.PENDING_PAYMENT and self.now >= sub.ordered_at + window:
                sub.state, sub.ended_at = State.CANCELLED, sub.ordered_at + window
            elif sub.state is State.ACTIVE and end is not None and self.now >= end:
                renews = sub.auto_renew and sub.renewal_plan is not None
                if renews and self.now < end + grace:
                    sub.state, sub.grace_until = State.GRACE, end + grace
                else:
                    sub.state, sub.ended_at = State.EXPIRED, end + grace if renews else end
                    sub.auto_renew = False
            elif sub.state is State.GRACE and sub.grace_until and self.now >= sub.grace_until:
                sub.state, sub.ended_at, sub.auto_renew = State.EXPIRED, sub.grace_until, False

    # --- invariants ----------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Every invariant the model breaks (empty when it keeps them all)."""
        found: list[str] = []
        for member_id, m in self.members.items():
            subs = [self.subs[s] for s in m.subs]
            if sum(s.state in LIVE for s in subs) > 1:
                found.append(f"{member_id}: more than one live subscription")
            if sum(any(t.channel is Channel.TRIAL for t in s.terms) for s in subs) > 1:
                found.append(f"{member_id}: more than one trial")
        for sub in self.subs.values():
            found += [f"{sub.sub_id}: {p}" for p in self._sub_problems(sub)]
        for key, count in self.claims.items():
            if count > self.limits.get(key, 0):
                found.append(f"{key}: {count} claims over the quota")
        for benefit_id, uploaded in self.uploaded.items():
            handed, left = self.handed.get(benefit_id, []), self.inventory.get(benefit_id, [])
            if len(set(handed)) != len(handed):
                found.append(f"{benefit_id}: a partner code handed out twice")
            if sorted(handed + left) != sorted(uploaded):
                found.append(f"{benefit_id}: inventory does not add up")
        if len(set(self.redeemed)) != len(self.redeemed):
            found.append("a redemption code was used twice")
        return found

    def _sub_problems(self, sub: Sub) -> list[str]:
        found = []
        terms = sub.terms
        if any(a.end != b.start for a, b in zip(terms, terms[1:], strict=False)):
            found.append("terms not contiguous")
        if sum(t.paid_minor for t in terms) != sub.paid:
            found.append(f"terms hold {sum(t.paid_minor for t in terms)}, paid {sub.paid}")
        if sub.refunded is not None and not 0 <= sub.refunded <= sub.paid:
            found.append(f"refunded {sub.refunded} of {sub.paid}")
        if sub.refunded is not None and sub.state not in (State.REFUNDED, State.CANCELLED):
            found.append("a refund recorded on a subscription not ended")
        if sub.state is State.REFUNDED and not sub.refunded:
            found.append("refunded without an amount")
        if sub.state is State.PENDING_PAYMENT and (
            terms or self.now >= sub.ordered_at + self.payment_window
        ):
            found.append("pending with terms, or past its payment window")
        if sub.state is State.ACTIVE and (not terms or self.now >= terms[-1].end):
            found.append("active without paid time left")
        if sub.state is State.GRACE and (sub.grace_until is None or self.now >= sub.grace_until):
            found.append("in grace past its end")
        if sub.state in (State.EXPIRED, State.REFUNDED, State.CANCELLED):
            if sub.ended_at is None or sub.auto_renew:
                found.append("ended without an end, or still renewing")
        if sub.attempts > self.renewal.max_attempts:
            found.append("charged too often for one period")
        renewals = [t.start for t in terms if t.channel is Channel.RENEWAL]
        if len(set(renewals)) != len(renewals):
            found.append("one period renewed twice")
        return found
