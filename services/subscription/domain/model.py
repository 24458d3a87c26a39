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
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar
from zoneinfo import ZoneInfo

from services.kit.refusals import FieldProblem, Refusal

from . import codes
from .lifecycle import (
    LIVE,
    MULTIPLYING,
    MemberAction,
    MemberStatus,
    Operation,
    State,
    member_refusal,
    transition,
)
from .plans import DEFAULT_ZONE, BenefitKind, Plan, QuotaWindow, add_period, anchor_after
from .refunds import DEFAULT_COOLING_OFF, BenefitUse
from .renewal import DEFAULT_PAYMENT_WINDOW, RenewalPolicy
from .subscriptions import Subscription
from .terms import Channel, Term


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


T = TypeVar("T")


def _ok(result: T | Refusal | FieldProblem) -> T:
    if isinstance(result, Refusal | FieldProblem):
        raise Refused(result.reason)
    return result


def _check(result: Refusal | FieldProblem | None) -> None:
    if result is not None:
        raise Refused(result.reason)


def _move(sub: Sub, op: Operation) -> State:
    return _ok(transition(sub.state, op))


_US = dt.timedelta(microseconds=1)


def _elapsed_share(term: Term, now: dt.datetime) -> Fraction:
    """The fraction of the term gone by at `now`, between 0 and 1, exactly."""
    share = Fraction((now - term.start) // _US, (term.end - term.start) // _US)
    return min(max(share, Fraction(0)), Fraction(1))


class OrderKind(StrEnum):
    NEW = "new"  # the first order of a subscription (the subscription is pending meanwhile)
    EXTEND = "extend"  # a purchase while live: stacks when paid
    CHANGE = "change"  # a plan change now: its charge


class Settled(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    ABANDONED = "abandoned"


@dataclass
class Member:
    status: MemberStatus = MemberStatus.ACTIVE
    had_trial: bool = False
    subs: list[str] = field(default_factory=list)  # oldest first


@dataclass
class Sub:
    sub_id: str
    member: str
    state: State
    order_plan: Plan
    ordered_at: dt.datetime
    terms: list[Term] = field(default_factory=list)
    auto_renew: bool = False
    renewal_plan: Plan | None = None
    anchor_day: int | None = None
    grace_until: dt.datetime | None = None
    attempts: int = 0
    last_attempt_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    refunded: int | None = None
    paid: int = 0  # every payment confirmed for it, renewals and plan-change charges included

    @property
    def end(self) -> dt.datetime | None:
        return self.terms[-1].end if self.terms else None

    def benefits_end(self) -> dt.datetime | None:
        return {State.ACTIVE: self.end, State.GRACE: self.grace_until}.get(self.state)

    def to_domain(self) -> Subscription:
        return Subscription(
            self.member,
            self.state,
            self.order_plan,
            self.ordered_at,
            tuple(self.terms),
            self.auto_renew,
            self.renewal_plan,
            self.anchor_day,
            self.grace_until,
            self.attempts,
            self.last_attempt_at,
            self.ended_at,
            self.refunded,
        )


@dataclass
class Order:
    order_id: str
    kind: OrderKind
    sub_id: str
    plan: Plan
    amount: int
    ordered_at: dt.datetime
    settled: Settled = Settled.PENDING


@dataclass
class ChargeRecord:
    charge_id: str
    sub_id: str
    renews_end: dt.datetime
    amount: int
    settled: Settled = Settled.PENDING


@dataclass
class Code:
    plan: Plan
    expires_at: dt.datetime
    redeemed_by: str | None = None


class Model:
    def __init__(
        self,
        now: dt.datetime,
        plans: Sequence[Plan],
        *,
        zone: str = DEFAULT_ZONE,
        renewal: RenewalPolicy | None = None,
        cooling_off: dt.timedelta = DEFAULT_COOLING_OFF,
        payment_window: dt.timedelta = DEFAULT_PAYMENT_WINDOW,
    ) -> None:
        self.now = now
        self.plans = {p.code: p for p in plans}  # the version on sale
        self.zone = zone
        self.renewal = renewal or RenewalPolicy()
        self.cooling_off = cooling_off
        self.payment_window = payment_window
        self.members: dict[str, Member] = {}
        self.subs: dict[str, Sub] = {}
        self.orders: dict[str, Order] = {}
        self.charges: dict[str, ChargeRecord] = {}
        self.uses: dict[str, list[BenefitUse]] = {}  # by subscription
        self.claims: dict[tuple[str, str, str], int] = {}  # (member, benefit, window) → count
        self.limits: dict[tuple[str, str, str], int] = {}  # the largest limit a claim met
        self.inventory: dict[str, list[str]] = {}  # partner codes left, by benefit id
        self.uploaded: dict[str, list[str]] = {}
        self.handed: dict[str, list[str]] = {}
        self.codes: dict[str, Code] = {}  # by canonical code
        self.redeemed: list[str] = []
        self.n = 0

    # --- lookups and setup -------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def add_member(self, member_id: str) -> None:
        self.members.setdefault(member_id, Member())

    def member(self, member_id: str) -> Member:
        if member_id not in self.members:
            raise Refused("MEMBER_NOT_FOUND")
        return self.members[member_id]

    def plan(self, code: str) -> Plan:
        if code not in self.plans:
            raise Refused("PLAN_NOT_FOUND")
        return self.plans[code]

    def latest(self, member_id: str) -> Sub | None:
        subs = self.member(member_id).subs
        return self.subs[subs[-1]] if subs else None

    def _sub_of(self, member_id: str) -> Sub:
        sub = self.latest(member_id)
        if sub is None:
            raise Refused("SUBSCRIPTION_NOT_FOUND")
        return sub

    def upload_perk_codes(self, benefit_id: str, perk_codes: Sequence[str]) -> None:
        if set(perk_codes) & set(self.uploaded.get(benefit_id, [])):
            raise ValueError("a partner code is uploaded once")
        self.uploaded.setdefault(benefit_id, []).extend(perk_codes)
        self.inventory.setdefault(benefit_id, []).extend(perk_codes)

    def issue_code(self, code: str, plan_code: str, expires_at: dt.datetime) -> None:
        if code in self.codes:
            raise ValueError("codes differ")
        self.codes[code] = Code(self.plan(plan_code), expires_at)

    # --- terms ---------------------------------------------------------------------------------
    def _add_term(
        self, sub: Sub, plan: Plan, start: dt.datetime, paid: int, channel: Channel
    ) -> None:
        end = add_period(start, plan.period, self.zone, sub.anchor_day)
        sub.anchor_day = anchor_after(start, plan.period, self.zone, sub.anchor_day)
        sub.terms.append(Term(plan, start, end, paid, self.now, channel))
        sub.paid += paid

    def _new_sub(self, member_id: str, plan: Plan, state: State) -> Sub:
        sub = Sub(self._id("s"), member_id, state, plan, self.now)
        self.subs[sub.sub_id] = sub
        self.members[member_id].subs.append(sub.sub_id)
        return sub

    def _live(self, member_id: str) -> Sub | None:
        sub = self.latest(member_id)
        return sub if sub is not None and sub.state in LIVE else None

    # --- buying --------------------------------------------------------------------------------
    def _acquire(self, member_id: str, plan: Plan, action: MemberAction) -> Sub | None:
        """The live subscription to extend, or None for a new one (the domain's acquisition)."""
        m = self.member(member_id)
        _check(member_refusal(m.status, action))
        live = self._live(member_id)
        if plan.is_trial:
            if m.had_trial:
                raise Refused("TRIAL_ALREADY_USED")
            if live:
                raise Refused("SUBSCRIPTION_ALREADY_ACTIVE")
            return None
        if live is None:
            return None
        if live.state is State.PENDING_PAYMENT:
            raise Refused("SUBSCRIPTION_PENDING_PAYMENT")
        if live.terms[-1].plan.currency != plan.currency:
            raise Refused("CURRENCY_MISMATCH")
        return live

    def buy(self, member_id: str, plan_code: str, order_id: str) -> str:
        """Returns the subscription the order is for (a trial is active at once)."""
        if order_id in self.orders:
            raise ValueError(f"order {order_id} exists")
        plan = self.plan(plan_code)
        live = self._acquire(member_id, plan, MemberAction.BUY)
        if plan.is_trial:
            sub = self._new_sub(member_id, plan, State.ACTIVE)
            self._add_term(sub, plan, self.now, 0, Channel.TRIAL)
            self.members[member_id].had_trial = True
            return sub.sub_id
        if live is None:
            sub = self._new_sub(member_id, plan, State.PENDING_PAYMENT)
            self.orders[order_id] = Order(
                order_id, OrderKind.NEW, sub.sub_id, plan, plan.price_minor, self.now
            )
            return sub.sub_id
        self.orders[order_id] = Order(
            order_id, OrderKind.EXTEND, live.sub_id, plan, plan.price_minor, self.now
        )
        return live.sub_id

    def _order(self, order_id: str) -> Order:
        if order_id not in self.orders:
            raise Refused("ORDER_NOT_FOUND")
        return self.orders[order_id]

    def _extend(self, sub: Sub, plan: Plan, paid: int, channel: Channel) -> None:
        state = _move(sub, Operation.EXTEND)
        if sub.terms[-1].plan.currency != plan.currency:
            raise Refused("CURRENCY_MISMATCH")
        self._add_term(sub, plan, sub.terms[-1].end, paid, channel)
        sub.state, sub.grace_until, sub.attempts, sub.last_attempt_at = state, None, 0, None
        if channel is Channel.PURCHASE:
            sub.auto_renew, sub.renewal_plan = True, plan

    def pay(self, order_id: str) -> None:
        """The order's payment is confirmed (commerce.payment.succeeded, for its amount)."""
        order = self._order(order_id)
        sub = self.subs[order.sub_id]
        if order.kind is OrderKind.NEW:
            state = _move(sub, Operation.CONFIRM_PAYMENT)
            self._add_term(sub, order.plan, self.now, order.amount, Channel.PURCHASE)
            sub.state, sub.auto_renew, sub.renewal_plan = state, True, order.plan
        elif order.settled is Settled.PAID:
            raise Refused("PAYMENT_ALREADY_CONFIRMED")
        elif order.settled is not Settled.PENDING:
            raise Refused("ORDER_CLOSED")
        elif order.kind is OrderKind.EXTEND:
            self._extend(sub, order.plan, order.amount, Channel.PURCHASE)
        else:
            self._change_now(sub, order.plan, order.amount)
        order.settled = Settled.PAID

    def fail(self, order_id: str) -> None:
        order = self._order(order_id)
        sub = self.subs[order.sub_id]
        if order.kind is OrderKind.NEW:
            sub.state = _move(sub, Operation.FAIL_PAYMENT)
            sub.ended_at = self.now
        elif order.settled is Settled.PAID:
            raise Refused("PAYMENT_ALREADY_CONFIRMED")
        elif order.settled is not Settled.PENDING:
            raise Refused("ORDER_CLOSED")
        order.settled = Settled.FAILED

    def redeem(self, member_id: str, raw: str) -> str:
        code = _ok(codes.parse(raw))
        _check(member_refusal(self.member(member_id).status, MemberAction.REDEEM))
        found = self.codes.get(code)
        if found is None or found.redeemed_by is not None or self.now >= found.expires_at:
            raise Refused("CODE_INVALID")
        live = self._acquire(member_id, found.plan, MemberAction.REDEEM)
        if live is None:
            live = self._new_sub(member_id, found.plan, State.ACTIVE)
            self._add_term(live, found.plan, self.now, 0, Channel.CODE)
        else:
            self._extend(live, found.plan, 0, Channel.CODE)
        found.redeemed_by = member_id
        self.redeemed.append(code)
        return live.sub_id

    # --- renewal -------------------------------------------------------------------------------
    def _renewal_refusal(self, sub: Sub) -> str | None:
        """The domain's charge checks, in its order, written out again."""
        status = self.members[sub.member].status
        problem = member_refusal(status, MemberAction.RENEW)
        if problem:
            return problem.reason
        result = transition(sub.state, Operation.REQUEST_RENEWAL)
        if isinstance(result, Refusal):
            return result.reason
        if sub.renewal_plan is None:
            return "NOT_RENEWABLE"
        if not sub.auto_renew:
            return "AUTO_RENEW_OFF"
        if sub.attempts >= self.renewal.max_attempts:
            return "RENEWAL_ATTEMPTS_EXHAUSTED"
        if sub.state is State.GRACE and sub.grace_until and self.now >= sub.grace_until:
            return "SUBSCRIPTION_ENDED"
        end = sub.end
        assert end is not None
        if sub.last_attempt_at is not None:
            due = sub.last_attempt_at + self.renewal.retry_every
        elif sub.state is State.ACTIVE:
            due = end - self.renewal.lead
        else:
            due = end
        return "RENEWAL_NOT_DUE" if self.now < due else None

    def renewal_refusal(self, sub_id: str) -> str | None:
        return self._renewal_refusal(self.subs[sub_id])

    def renewal_job(self) -> list[str]:
        """Requests every charge due now; returns their ids."""
        requested = []
        for sub in self.subs.values():
            if sub.state not in MULTIPLYING or self._renewal_refusal(sub):
                continue
            assert sub.renewal_plan is not None and sub.end is not None
            charge = ChargeRecord(self._id("c"), sub.sub_id, sub.end, sub.renewal_plan.price_minor)
            self.charges[charge.charge_id] = charge
            sub.attempts += 1
            sub.last_attempt_at = self.now
            requested.append(charge.charge_id)
        return requested

    def _charge(self, charge_id: str) -> tuple[ChargeRecord, Sub]:
        if charge_id not in self.charges:
            raise Refused("CHARGE_NOT_FOUND")
        charge = self.charges[charge_id]
        return charge, self.subs[charge.sub_id]

    def charge_succeeded(self, charge_id: str) -> None:
        charge, sub = self._charge(charge_id)
        state = _move(sub, Operation.RENEW)
        if charge.renews_end != sub.end:
            raise Refused("RENEWAL_NOT_CURRENT")
        assert sub.renewal_plan is not None
        self._add_term(sub, sub.renewal_plan, charge.renews_end, charge.amount, Channel.RENEWAL)
        sub.state, sub.grace_until, sub.attempts, sub.last_attempt_at = state, None, 0, None
        charge.settled = Settled.PAID

    def charge_failed(self, charge_id: str) -> None:
        charge, sub = self._charge(charge_id)
        state = _move(sub, Operation.FAIL_RENEWAL)
        if charge.renews_end != sub.end:
            raise Refused("RENEWAL_NOT_CURRENT")
        if sub.state is State.ACTIVE and sub.auto_renew:
            sub.grace_until = max(self.now, charge.renews_end) + self.renewal.grace
            sub.state = state
        charge.settled = Settled.FAILED

    # --- the member's choices ------------------------------------------------------------------
    def _auto_renew(self, member_id: str, op: Operation, on: bool) -> None:
        sub = self._sub_of(member_id)
        _move(sub, op)
        if sub.renewal_plan is None:
            raise Refused("NOT_RENEWABLE")
        if sub.auto_renew == on:
            raise Refused("AUTO_RENEW_ALREADY_ON" if on else "AUTO_RENEW_ALREADY_OFF")
        end = sub.benefits_end()
        if end is None or self.now >= end:
            raise Refused("SUBSCRIPTION_ENDED")
        sub.auto_renew = on

    def cancel(self, member_id: str) -> None:
        self._auto_renew(member_id, Operation.CANCEL, False)

    def resume(self, member_id: str) -> None:
        self._auto_renew(member_id, Operation.RESUME, True)

    def _plan_now(self, sub: Sub) -> Plan:
        for term in sub.terms:
            if term.start <= self.now < term.end:
                return term.plan
        return sub.terms[-1].plan if sub.terms else sub.order_plan

    def _change_checks(self, sub: Sub, plan: Plan, current: Plan) -> None:
        _move(sub, Operation.CHANGE_PLAN)
        if plan.is_trial:
            raise Refused("PLAN_IS_TRIAL")
        if (plan.code, plan.version) == (current.code, current.version):
            raise Refused("PLAN_UNCHANGED")
        if sub.terms[-1].plan.currency != plan.currency:
            raise Refused("CURRENCY_MISMATCH")
        if sub.end is None or self.now >= sub.end:
            raise Refused("SUBSCRIPTION_ENDED")

    def change_at_renewal(self, member_id: str, plan_code: str) -> None:
        plan = self.plan(plan_code)
        sub = self._sub_of(member_id)
        if sub.renewal_plan is None:
            _move(sub, Operation.CHANGE_PLAN)
            raise Refused("NOT_RENEWABLE")
        self._change_checks(sub, plan, sub.renewal_plan)
        sub.renewal_plan = plan

    def _credit(self, sub: Sub) -> tuple[int, list[Term]]:
        """The open terms' unused value, and the terms as cut at now (used part kept)."""
        credit, kept = 0, []
        for term in sub.terms:
            if term.end <= self.now:
                kept.append(term)
                continue
            share = _elapsed_share(term, self.now)
            used = math.floor(term.paid_minor * share)
            credit += term.paid_minor - used
            if term.start < self.now:
                kept.append(Term(term.plan, term.start, self.now, used, term.paid_at, term.channel))
        return credit, kept

    def _change_quote(self, sub: Sub, plan: Plan) -> tuple[int, list[Term]]:
        self._change_checks(sub, plan, self._plan_now(sub))
        if any(
            t.channel in (Channel.TRIAL, Channel.CODE, Channel.GIFT)
            for t in sub.terms
            if t.end > self.now
        ):
            raise Refused("PLAN_CHANGE_ON_FREE_TERM")
        credit, kept = self._credit(sub)
        if credit > plan.price_minor:
            raise Refused("PLAN_CHANGE_NOT_UPGRADE")
        return credit, kept

    def change_now(self, member_id: str, plan_code: str, order_id: str) -> int:
        """Quotes a change now and, when something is to pay, opens its order; returns the
        charge (0: applied at once)."""
        if order_id in self.orders:
            raise ValueError(f"order {order_id} exists")
        plan = self.plan(plan_code)
        _check(member_refusal(self.member(member_id).status, MemberAction.BUY))
        sub = self._sub_of(member_id)
        credit, _ = self._change_quote(sub, plan)
        charge = plan.price_minor - credit
        if charge == 0:
            self._change_now(sub, plan, 0)
        else:
            self.orders[order_id] = Order(
                order_id, OrderKind.CHANGE, sub.sub_id, plan, charge, self.now
            )
        return charge

    def _change_now(self, sub: Sub, plan: Plan, charge: int) -> None:
        credit, kept = self._change_quote(sub, plan)
        sub.terms = kept
        end = add_period(self.now, plan.period, self.zone)
        sub.anchor_day = anchor_after(self.now, plan.period, self.zone, None)
        sub.terms.append(Term(plan, self.now, end, credit + charge, self.now, Channel.PLAN_CHANGE))
        sub.paid += charge
        sub.renewal_plan = plan

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
        sub = self.latest(member_id)
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
