"""Subscription's model-agreement steps that buy and pay (the world is in subscription_world.py):
orders (paid by commerce.payment.succeeded or ConfirmPayment, failed by commerce.payment.failed,
or left to lapse), trials, the renewal job and the payment provider's answers to its charges.

A payment event the service cannot apply is parked with a reason of the contract's own
vocabulary (ParkedPayment.reason); `paid_alike` says which model refusals each stands for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.subscription import jobs
from services.subscription.domain.model import Model, Settled
from tests.support.subscription_world import (
    ANY,
    FAILED,
    PLAN_CODES,
    SUCCEEDED,
    money,
    uid,
)
from tests.support.subscription_world_check import CheckedWorld

LEAVE, PAY_BY_EVENT, CONFIRM, FAIL = range(4)  # what follows an order
# A payment the service cannot apply is parked (or, by ConfirmPayment, refused) for one of
# these, whatever the model's reason for refusing it: the order is no longer payable.
NOT_PAYABLE = {"ALREADY_PAID", "ORDER_NOT_PAYABLE", "ORDER_NOT_PENDING", "NOT_APPLICABLE"}


def paid_alike(service: str, model: str) -> bool:
    """A payment refused by the service for `service` (a parked payment's reason, or
    ConfirmPayment's) and by the model for `model` is the same refusal."""
    if service == model:
        return True
    if model in ("ORDER_NOT_FOUND", "CHARGE_NOT_FOUND"):
        return service == "ORDER_NOT_FOUND"
    if model == "PAYMENT_ALREADY_CONFIRMED":
        return service in ("ALREADY_PAID", "ORDER_NOT_PENDING")
    if model == "ORDER_CLOSED":
        return service in ("ORDER_NOT_PAYABLE", "ORDER_NOT_PENDING")
    # The subscription moved on (ended, renewed, in grace): the service's order was settled
    # with it (ORDER_NOT_PAYABLE), or it finds the subscription can no longer take it.
    return service in NOT_PAYABLE or service == "MEMBER_CLOSED"


class PayingWorld(CheckedWorld):
    """The steps that order, pay and renew."""

    def _beyond_limit(self, m: Model, sub_id: str) -> bool:
        """MODEL GAP (stacking limit): the contract refuses a term stacked beyond 3 years
        ahead (STACKING_LIMIT_REACHED; a payment then parked NOT_APPLICABLE); the model has no
        limit. True when the model, having taken the step, holds time beyond it."""
        end = m.subs[sub_id].end
        return (
            self.fills("stacking_limit") and end is not None and end > m.now + self.stacking_limit
        )

    # --- orders and payments --------------------------------------------------------------------
    async def buy(self, member_pick: int, plan_pick: int, then: int) -> None:
        member, plan = self.member(member_pick), PLAN_CODES[plan_pick % len(PLAN_CODES)]
        if self.model.plans[plan].is_trial:
            await self.start_trial(member, plan)
            return
        self.note(f"{member} orders {plan}")
        before = await self.snapshot()
        made, reason = await self.call(
            self.subscription.CreateSubscriptionOrder(
                pb.CreateSubscriptionOrderRequest(
                    request_id=uid(),
                    member_id=member,
                    plan_id=plan,
                    collection=res.PAYMENT_COLLECTION_STOREFRONT,
                ),
                metadata=self.checkout,
            )
        )
        if reason:
            tried = uid()

            def alike(service: str, model: str | None, m: Model) -> bool:
                if model is None and service == "STACKING_LIMIT_REACHED":
                    m.pay(tried)  # the order would be refused at its payment
                    return self._beyond_limit(m, m.orders[tried].sub_id)
                return service == model

            self.refused_alike("order", reason, lambda m: m.buy(member, plan, tried), alike)
            await self.unchanged(before, "order")
            return
        order_id = made.order.order_id
        sub_id = self.accepted("order", lambda m: m.buy(member, plan, order_id))
        self.link(sub_id, made.subscription.subscription_id)
        self.same(
            "the order's amount", self.model.orders[order_id].amount, made.order.amount.amount_minor
        )
        await self._settle(order_id, then)

    async def start_trial(self, member: str, plan: str) -> None:
        self.note(f"{member} starts the trial")
        before = await self.snapshot()
        made, reason = await self.call(
            self.subscription.StartTrial(
                pb.StartTrialRequest(request_id=uid(), member_id=member, plan_id=plan),
                metadata=self.checkout,
            )
        )
        if reason:
            self.refused_alike("trial", reason, lambda m: m.buy(member, plan, uid()))
            await self.unchanged(before, "trial")
            return
        sub_id = self.accepted("trial", lambda m: m.buy(member, plan, uid()))
        self.link(sub_id, made.subscription.subscription_id)

    async def settle(self, pick: int, mode: int, succeeded: bool, by_event: bool) -> None:
        """An order's payment: mostly one pending, now and then any order or an unknown one."""
        orders = self.model.orders
        pending = sorted(o for o, order in orders.items() if order.settled is Settled.PENDING)
        pool: list[str | None] = [*pending] if pending and mode != ANY else [*sorted(orders), None]
        order_id = pool[pick % len(pool)] or uid()
        await self._settle(order_id, (PAY_BY_EVENT if by_event else CONFIRM) if succeeded else FAIL)

    async def _settle(self, order_id: str, how: int) -> None:
        if how == LEAVE:
            return
        order = self.model.orders.get(order_id)
        member = self.model.subs[order.sub_id].member if order else self.members[0]
        amount, currency = (order.amount, order.plan.currency) if order else (1_500, "CNY")
        if how == FAIL:
            await self._failed(order_id, member, amount, currency, lambda m: m.fail(order_id))
            return
        sub_id = order.sub_id if order else None

        def alike(service: str, model: str | None, m: Model) -> bool:
            if model is None:
                return sub_id is not None and self._beyond_limit(m, sub_id)
            return paid_alike(service, model)

        await self._paid(order_id, member, amount, currency, how == PAY_BY_EVENT, alike)

    async def _paid(
        self,
        order_id: str,
        member: str,
        amount: int,
        currency: str,
        by_event: bool,
        alike: Callable[[str, str | None, Model], bool],
        model_step: Callable[[Model], Any] | None = None,
    ) -> None:
        """The order paid (commerce.payment.succeeded, or the storefront's ConfirmPayment)."""
        step = model_step or (lambda m: m.pay(order_id))
        self.note(f"payment of {order_id[-8:]} ({amount})" + (" by event" if by_event else ""))
        before = await self.snapshot()
        reason: str | None
        if by_event:
            parked = await self.parked(order_id)
            await self.publish(
                SUCCEEDED,
                order_id,
                commerce.PaymentSucceeded(
                    payment_id=uid(),
                    member_id=member,
                    purpose="subscription",
                    reference_id=order_id,
                    amount=money(amount, currency),
                ),
            )
            await self.wait(SUCCEEDED)
            now_parked = await self.parked(order_id)  # newest first
            new = now_parked[: len(now_parked) - len(parked)]
            reason = new[0] if new else None
            self.trace[-1] += f" → {f'parked {reason}' if reason else 'done'}"
        else:
            _, reason = await self.call(
                self.subscription.ConfirmPayment(
                    pb.ConfirmPaymentRequest(
                        request_id=uid(),
                        order_id=order_id,
                        payment_id=uid(),
                        amount=money(amount, currency),
                    ),
                    metadata=self.checkout,
                )
            )
        if reason:
            self.refused_alike("payment", reason, step, alike)
            await self.unchanged(before, "payment")
            return
        self.accepted("payment", step)

    async def _failed(
        self, order_id: str, member: str, amount: int, currency: str, step: Callable[[Model], Any]
    ) -> None:
        """commerce.payment.failed for the order: the service refuses nothing (a failure for an
        order not pending changes nothing)."""
        self.note(f"payment of {order_id[-8:]} failed")
        before = await self.snapshot()
        await self.publish(
            FAILED,
            order_id,
            commerce.PaymentFailed(
                payment_id=uid(),
                member_id=member,
                purpose="subscription",
                reference_id=order_id,
                amount=money(amount, currency),
                failure_reason="card_declined",
            ),
        )
        await self.wait(FAILED)
        await self.either("payment failed", step, before)

    # --- renewals -------------------------------------------------------------------------------
    async def renewal_job(self) -> None:
        """The renewal job on both; each charge the model requests is the service's RENEWAL
        order of that subscription (a retry charges the same order again)."""
        self.note("renewal job")
        m = self.model
        charged = m.renewal_job()
        count = await jobs.request_renewals(self.app.usecases, self.app.pool, m.now)
        self.trace[-1] += f" → {count} charged"
        self.same("renewal charges requested", len(charged), count)
        for charge_id in charged:
            record = m.charges[charge_id]
            sub = m.subs[record.sub_id]
            got = await self.subscription.ListSubscriptionOrders(
                pb.ListSubscriptionOrdersRequest(
                    member_id=sub.member,
                    subscription_id=self.subs[sub.sub_id],
                    kind=res.ORDER_KIND_RENEWAL,
                    state=res.ORDER_STATE_PENDING_PAYMENT,
                ),
                metadata=self.checkout,
            )
            if len(got.orders) != 1:
                self.disagree(f"{sub.sub_id} charged: {len(got.orders)} renewal orders pending")
            (order,) = got.orders
            assert sub.renewal_plan is not None
            self.same(
                f"the renewal charge of {sub.sub_id} (plan, amount, attempt)",
                (sub.renewal_plan.code, record.amount, sub.attempts),
                (order.plan_id, order.amount.amount_minor, order.charge_attempts),
            )
            self.charge_orders[charge_id] = order.order_id

    async def charge_result(self, pick: int, mode: int, succeeded: bool) -> None:
        """The payment provider's answer to a renewal charge (mostly one unanswered)."""
        charges = self.model.charges
        if not charges:
            return
        pending = sorted(c for c, r in charges.items() if r.settled is Settled.PENDING)
        pool = pending if pending and mode != ANY else sorted(charges)
        await self._charge_result(pool[pick % len(pool)], succeeded)

    async def _charge_result(self, charge_id: str, succeeded: bool) -> None:
        record = self.model.charges[charge_id]
        sub = self.model.subs[record.sub_id]
        order_id, currency = self.charge_orders[charge_id], sub.terms[-1].plan.currency
        if not succeeded:
            await self._failed(
                order_id, sub.member, record.amount, currency, lambda m: m.charge_failed(charge_id)
            )
            return
        await self._paid(
            order_id,
            sub.member,
            record.amount,
            currency,
            True,
            lambda s, m, _: m is not None and paid_alike(s, m),
            lambda m: m.charge_succeeded(charge_id),
        )
