"""Buying a period of a paid plan: a pending order (and, without a live subscription, a
subscription PENDING_PAYMENT), its charge requested from the payment provider; the payment
(an event or a confirming call) activates the subscription, or stacks a term on the live one.
Every order's payment comes here: a renewal's renews (renewals.py), a plan change's changes
the plan (changes.py). An order left unpaid is cancelled by its member or lapses.

A payment that cannot be applied is parked with its reason (the event's case) or refused (the
call's); the same payment confirmed twice is applied once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from services.kit import auth, db, errors, ids
from services.kit.refusals import Refusal

from ..deps import SubscriptionDeps
from ..domain import subscriptions as subs
from ..domain.lifecycle import MULTIPLYING, MemberStatus, State
from ..domain.stacking import stacking_refusal
from ..domain.terms import Channel
from ..store import members
from ..store import orders as order_store
from ..store import plans as plan_store
from ..store import subscriptions as sub_store
from ..store.orders import PENDING, Order, OrderFilter
from ..store.parked import ParkedPayment, park
from ..store.plans import PlanRow
from . import announce, records, term_starts
from .changes import PlanChanges
from .records import Held
from .renewals import Renewals, close_order

PURPOSE = announce.PURPOSE


class _LiveTaken(db.Duplicate):
    """Another order created the member's live subscription at the same time."""


@dataclass(frozen=True)
class Paid:
    order: Order
    held: Held


@dataclass(frozen=True)
class NotApplied:
    """Why a payment was not applied: a parked payment's reason, and the error a confirming
    call gets."""

    reason: str  # the parked payment's
    description: str
    error: errors.AppError


def _precondition(reason: str, message: str, **metadata: str) -> errors.AppError:
    error = errors.failed_precondition(reason, message)
    error.metadata = dict(metadata)
    return error


class Purchases:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
        self.renewals = Renewals(deps)
        self.changes = PlanChanges(deps)

    @property
    def _zone(self) -> str:
        return self.deps.settings.business_zone

    @property
    def _stacking_limit(self) -> dt.timedelta:
        return dt.timedelta(days=self.deps.settings.stacking_limit_days)

    # --- ordering ---------------------------------------------------------------------------
    async def order(
        self, conn, member_id: uuid.UUID, plan_id: str, collection: str, created_by: str
    ) -> tuple[Order, Held]:
        now = self.deps.now()
        plan = await plan_store.get(conn, plan_id)
        if plan is None:
            raise errors.not_found("plan", plan_id)
        if plan.rules.is_trial:
            raise errors.failed_precondition("PLAN_IS_TRIAL", "a trial is started: StartTrial")
        if not plan.on_sale:
            raise errors.failed_precondition("PLAN_NOT_ON_SALE", f"plan {plan_id} is not sold")
        status = MemberStatus(await members.status(conn, member_id, lock=True))
        current = await records.live(conn, member_id, lock=True)
        decided = subs.acquisition(
            status, current.sub if current else None, plan.rules, Channel.PURCHASE, had_trial=False
        )
        if isinstance(decided, Refusal):
            error = errors.refused(decided)
            if decided.reason == "SUBSCRIPTION_PENDING_PAYMENT" and current is not None:
                error.metadata["order_id"] = str(current.row.order_id or "")
            raise error
        order_id = ids.new_id()
        if decided is subs.Acquisition.EXTEND:
            assert current is not None
            self._check_extension(current, plan.rules, now)
            subscription_id = current.subscription_id
        else:
            subscription_id = ids.new_id()
            pending = subs.new_order(str(member_id), plan.rules, now)
            try:
                with db.duplicates({"subscriptions_one_live": _LiveTaken}):
                    await sub_store.save(
                        conn, records.new_row(subscription_id, member_id, order_id, pending)
                    )
            except _LiveTaken:
                raise errors.failed_precondition(
                    "SUBSCRIPTION_PENDING_PAYMENT", "another order was just made"
                ) from None
        provider = collection == "provider"
        order = await order_store.insert(
            conn,
            Order(
                order_id=order_id,
                member_id=member_id,
                subscription_id=subscription_id,
                kind="purchase",
                plan_id=plan.plan_id,
                plan_version=plan.version,
                state="pending_payment",
                collection=collection,
                currency_code=plan.currency_code,
                list_price_minor=plan.price_minor,
                credit_minor=0,
                amount_minor=plan.price_minor,
                charge_attempts=1 if provider else 0,
                last_failure_reason="",
                payment_id=None,
                created_by=created_by,
                create_time=now,
                expire_time=now + dt.timedelta(seconds=self.deps.settings.payment_window_seconds),
                settle_time=None,
                last_charge_id=ids.new_id() if provider else None,
            ),
        )
        if provider:
            await announce.charge_requested(self.deps, conn, order, plan.display_name, now)
        held = await records.get(conn, subscription_id)
        assert held is not None
        return order, held

    def _check_extension(self, held: Held, plan, now: dt.datetime) -> subs.Subscription:
        after = subs.extend(held.sub, plan, Channel.PURCHASE, plan.price_minor, now, self._zone)
        if isinstance(after, Refusal):
            raise errors.refused(after)
        problem = stacking_refusal(after.period_end, now, self._stacking_limit)
        if problem:
            raise errors.refused(problem)
        return after

    # --- paying -----------------------------------------------------------------------------
    async def pay(
        self,
        conn,
        order_id: uuid.UUID,
        payment_id: str,
        amount_minor: int,
        currency: str,
        member_id: uuid.UUID | None = None,
    ) -> Paid | NotApplied:
        """Apply a payment to its order: PAID, and the subscription activated or extended; the
        same payment again changes nothing."""
        now = self.deps.now()
        order = await order_store.get(conn, order_id, lock=True)
        if order is None:
            return NotApplied(
                "ORDER_NOT_FOUND",
                f"no order {order_id}",
                errors.not_found("order", str(order_id)),
            )
        if order.state == "paid" and order.payment_id == payment_id:
            held = await records.get(conn, order.subscription_id)
            assert held is not None
            return Paid(order, held)
        if order.state != "pending_payment":
            reason = "ALREADY_PAID" if order.state == "paid" else "ORDER_NOT_PAYABLE"
            return NotApplied(
                reason,
                f"order {order_id} is {order.state.upper()}",
                _precondition(
                    "ORDER_NOT_PENDING", f"the order is {order.state}", state=order.state.upper()
                ),
            )
        if now >= order.expire_time:
            # Lapsed unpaid (the lapse job marks it EXPIRED): the money goes back.
            return NotApplied(
                "ORDER_NOT_PAYABLE",
                f"order {order_id} is EXPIRED",
                _precondition("ORDER_NOT_PENDING", "the order has lapsed", state="EXPIRED"),
            )
        if member_id is not None and member_id != order.member_id:
            return NotApplied(
                "MEMBER_MISMATCH",
                f"order {order_id} is another member's",
                errors.failed_precondition("MEMBER_MISMATCH", "another member's order"),
            )
        if currency != order.currency_code:
            return NotApplied(
                "CURRENCY_MISMATCH",
                f"order {order_id} is paid in {order.currency_code}",
                _precondition(
                    "CURRENCY_MISMATCH", "not the order's currency", currency=order.currency_code
                ),
            )
        if amount_minor != order.amount_minor:
            return NotApplied(
                "AMOUNT_MISMATCH",
                f"order {order_id} costs {order.amount_minor} {order.currency_code}",
                _precondition(
                    "AMOUNT_MISMATCH",
                    "not the order's amount",
                    amount_minor=str(order.amount_minor),
                ),
            )
        if await members.status(conn, order.member_id) == MemberStatus.CLOSED.value:
            return NotApplied(
                "MEMBER_CLOSED",
                "the member is closed",
                errors.failed_precondition("MEMBER_CLOSED", "the member is closed"),
            )
        held = await records.get(conn, order.subscription_id, lock=True)
        assert held is not None
        plan = await plan_store.get(conn, order.plan_id, order.plan_version)
        assert plan is not None
        applied: Held | Refusal
        if order.kind == "renewal":
            applied = await self.renewals.paid(conn, order, held, plan, payment_id, now)
        elif order.kind == "plan_change":
            applied = await self.changes.paid(
                conn, order, held, plan, amount_minor, payment_id, now
            )
        else:
            applied = await self._purchased(conn, order, held, plan, payment_id, now)
        if isinstance(applied, Refusal):
            return NotApplied(
                "NOT_APPLICABLE",
                f"order {order_id} no longer applies: {applied.message}",
                errors.refused(applied),
            )
        settled = await order_store.get(conn, order.order_id)
        assert settled is not None
        return Paid(settled, applied)

    async def _purchased(
        self, conn, order: Order, held: Held, plan: PlanRow, payment_id: str, now: dt.datetime
    ) -> Held | Refusal:
        """A PURCHASE paid: the first order activates its subscription, a later one stacks a
        term (in grace it settles the failed renewal: its order is withdrawn)."""
        amount_minor, currency = order.amount_minor, order.currency_code
        if held.sub.state is State.PENDING_PAYMENT:
            after = subs.activate(held.sub, amount_minor, currency, now, self._zone)
        elif held.sub.state in MULTIPLYING:
            after = subs.extend(
                held.sub, plan.rules, Channel.PURCHASE, amount_minor, now, self._zone
            )
        else:
            after = Refusal(
                "NOT_APPLICABLE", f"the subscription is {held.sub.state.value}", {"state": ""}
            )
        if not isinstance(after, Refusal) and held.sub.state in MULTIPLYING:
            after = stacking_refusal(after.period_end, now, self._stacking_limit) or after
        if isinstance(after, Refusal):
            return after
        first = held.sub.state is State.PENDING_PAYMENT
        if not first:
            # The renewal charge asked for the old period end no longer renews anything.
            await self.renewals.withdraw(conn, held, now)
        row = records.changed_row(
            held.row, after, now, order_id=order.order_id, payment_id=payment_id
        )
        await sub_store.save(conn, row)
        await order_store.settle(conn, order.order_id, "paid", now, payment_id=payment_id)
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        await announce.term_started(self.deps, conn, fresh, first=first, order_id=order.order_id)
        if not first:
            previous = held.sub.terms[-1].plan
            await term_starts.announce_if_begun(self.deps, conn, fresh, previous, now)
        return fresh

    async def park(
        self,
        conn,
        event_id: str,
        payment_id: str,
        order_ref: str,
        member_id: str,
        amount_minor: int,
        currency: str,
        why: NotApplied,
    ) -> None:
        await park(
            conn,
            ParkedPayment(
                event_id=event_id,
                payment_id=payment_id,
                order_id=order_ref,
                member_id=member_id,
                amount_minor=amount_minor,
                currency_code=currency,
                reason=why.reason,
                description=why.description,
                park_time=self.deps.now(),
            ),
        )

    async def payment_failed(self, conn, order_id: uuid.UUID, reason: str) -> Order | None:
        """An order's payment failed. A PURCHASE or PLAN_CHANGE order is FAILED (a first
        order's subscription CANCELLED, cause PAYMENT_FAILED); a RENEWAL order stays pending,
        retried, and its subscription enters grace. An order not pending changes nothing."""
        now = self.deps.now()
        order = await order_store.get(conn, order_id, lock=True)
        if order is None or order.state != PENDING:
            return None
        held = await records.get(conn, order.subscription_id, lock=True)
        assert held is not None
        if order.kind == "renewal":
            await self.renewals.failed(conn, order, held, reason, now)
            return await order_store.get(conn, order.order_id)
        if order.kind == "purchase" and held.sub.state is State.PENDING_PAYMENT:
            after = subs.fail_payment(held.sub, now)
            if not isinstance(after, Refusal):
                row = records.changed_row(held.row, after, now, end_cause="payment_failed")
                await sub_store.save(conn, dataclasses.replace(row, order_id=order.order_id))
        return await order_store.settle(conn, order.order_id, "failed", now, failure_reason=reason)

    # --- orders -----------------------------------------------------------------------------
    async def get_order(self, conn, order_id: uuid.UUID) -> Order | None:
        return await order_store.get(conn, order_id)

    async def list_orders(
        self, conn, where: OrderFilter, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
    ) -> list[Order]:
        return await order_store.page(conn, where, after=after, limit=limit)

    async def cancel_order(self, conn, principal: auth.Principal, order_id: uuid.UUID) -> Order:
        """The member left the cashier: a pending PURCHASE or PLAN_CHANGE order is CANCELLED
        (its charge withdrawn); a first order's subscription is CANCELLED with it, cause
        ORDER_ABANDONED. A renewal is stopped by cancelling the subscription instead."""
        now = self.deps.now()
        order = await order_store.get(conn, order_id, lock=True)
        if order is None or not principal.owns(order.member_id):
            raise errors.not_found("order", str(order_id))
        if order.state != PENDING:
            raise _precondition(
                "ORDER_NOT_PENDING", f"the order is {order.state}", state=order.state.upper()
            )
        if order.kind == "renewal":
            raise errors.failed_precondition(
                "ORDER_NOT_CANCELLABLE", "a renewal is stopped by cancelling the subscription"
            )
        held = await records.get(conn, order.subscription_id, lock=True)
        assert held is not None
        if held.sub.state is State.PENDING_PAYMENT and held.row.order_id == order.order_id:
            after = subs.abandon(held.sub, now)
            if not isinstance(after, Refusal):
                row = records.changed_row(
                    held.row, after, now, end_cause="order_abandoned", pending_order=order_id
                )
                await sub_store.save(conn, row)
        cancelled = await close_order(self.deps, conn, order.order_id, "cancelled", now)
        assert cancelled is not None
        return cancelled
