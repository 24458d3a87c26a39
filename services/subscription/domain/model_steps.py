"""The subscription reference model's buying, payment, renewal and plan-change steps."""

from __future__ import annotations

import math

from services.kit.refusals import Refusal

from . import codes
from .lifecycle import (
    MULTIPLYING,
    MemberAction,
    Operation,
    State,
    member_refusal,
    transition,
)
from .model_records import (
    ChargeRecord,
    ModelState,
    Order,
    OrderKind,
    Refused,
    Settled,
    Sub,
    _check,
    _elapsed_share,
    _move,
    _ok,
)
from .plans import Plan, add_period, anchor_after
from .terms import Channel, Term


class ModelSteps(ModelState):
    """Buying, paying, redeeming, renewing, cancelling and changing plan."""

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
        """Refused to a frozen member: it asks for a charge."""
        self._sub_of(member_id)
        _check(member_refusal(self.member(member_id).status, MemberAction.RESUME))
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
        _check(member_refusal(self.member(member_id).status, MemberAction.BUY))
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
        if any(
            o.sub_id == sub.sub_id and o.kind is OrderKind.CHANGE and o.settled is Settled.PENDING
            for o in self.orders.values()
        ):
            raise Refused("PLAN_CHANGE_PENDING")  # one change waiting for its payment at a time
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
        sub.attempts, sub.last_attempt_at = 0, None  # a new period end
