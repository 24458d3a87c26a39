"""Changing plan: now (a pro-rata credit, paid as a plan-change order) or at the next renewal.

At the next renewal the change is the renewal plan differing from the last paid term's: nothing
is paid now, the renewal charges the new plan (domain.changes.schedule_change). Now, the open
terms' unused value is credited against the new plan's price and a PLAN_CHANGE order charges the
rest; when it is paid the open terms are cut at the payment (the credit worked out again then)
and a term of the new plan starts (domain.changes.change_now). A credit covering the price is
applied at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from loyalty.subscription.v1 import resources_pb2 as res
from services.kit import auth, errors, ids
from services.kit.refusals import Refusal

from ..deps import SubscriptionDeps
from ..domain import changes
from ..domain.lifecycle import MemberAction, MemberStatus, member_refusal
from ..domain.terms import PAID_CHANNELS
from ..store import members
from ..store import orders as order_store
from ..store import plans as plan_store
from ..store import renewals as renewal_store
from ..store import subscriptions as sub_store
from ..store.orders import Order
from ..store.plans import PlanRow
from . import announce, records
from .records import Held
from .renewals import Renewals

NOW, AT_RENEWAL = "now", "at_renewal"


@dataclass(frozen=True)
class PendingChange:
    """A change not in effect yet: NOW waiting for its order's payment, or AT_RENEWAL."""

    plan_id: str
    plan_version: int
    timing: str  # now | at_renewal
    order_id: uuid.UUID | None
    request_time: dt.datetime | None


def _last_paid(held: Held) -> PlanRow | None:
    """The plan of the last term the member paid for: what renewals charge unless changed."""
    paid = [t for t in held.sub.terms if t.channel in PAID_CHANNELS]
    return held.plan(paid[-1].plan) if paid else None


class PlanChanges:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
        self.renewals = Renewals(deps)

    @property
    def _zone(self) -> str:
        return self.deps.settings.business_zone

    async def _target(
        self, conn, principal: auth.Principal, subscription_id: uuid.UUID, plan_id: str
    ) -> tuple[Held, PlanRow, MemberStatus]:
        """The subscription (locked; another member's is not found), the plan version asked
        for (the one on sale), and its member's status (a frozen member may not change)."""
        held = await records.get(conn, subscription_id, lock=True)
        if held is None or not principal.owns(held.row.member_id):
            raise errors.not_found("subscription", str(subscription_id))
        plan = await plan_store.get(conn, plan_id)
        if plan is None:
            raise errors.not_found("plan", plan_id)
        status = MemberStatus(await members.status(conn, held.row.member_id))
        problem = member_refusal(status, MemberAction.BUY)
        if problem:
            raise errors.refused(problem)
        return held, plan, status

    # --- at the next renewal --------------------------------------------------------------------
    async def schedule(
        self, conn, principal: auth.Principal, subscription_id: uuid.UUID, plan_id: str
    ) -> Held:
        """Renewals charge `plan_id` from the next one on. Naming the last paid term's plan
        drops a scheduled change (back to the version the member holds)."""
        now = self.deps.now()
        held, plan, _ = await self._target(conn, principal, subscription_id, plan_id)
        current = _last_paid(held)
        if current is not None and current.plan_id == plan.plan_id:
            plan = current
        elif not plan.on_sale:
            raise errors.failed_precondition("PLAN_NOT_ON_SALE", f"plan {plan_id} is not sold")
        after = changes.schedule_change(held.sub, plan.rules, now)
        if isinstance(after, Refusal):
            raise errors.refused(after)
        row = records.changed_row(held.row, after, now, pending_order=held.row.order_id)
        await sub_store.save(conn, row)
        scheduled = current is None or not plan.rules.same_version(current.rules)
        await renewal_store.set_plan_change_time(
            conn, held.subscription_id, now if scheduled else None
        )
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        return fresh

    # --- now ------------------------------------------------------------------------------------
    async def order_now(
        self,
        conn,
        principal: auth.Principal,
        subscription_id: uuid.UUID,
        plan_id: str,
        collection: str,
    ) -> tuple[Order, Held]:
        """A PLAN_CHANGE order for the new plan's price less the credit; applied at once when
        the credit covers the price."""
        now = self.deps.now()
        held, plan, status = await self._target(conn, principal, subscription_id, plan_id)
        if not plan.on_sale:
            raise errors.failed_precondition("PLAN_NOT_ON_SALE", f"plan {plan_id} is not sold")
        waiting = await order_store.pending_plan_change(conn, held.subscription_id)
        if waiting is not None:
            error = errors.failed_precondition(
                "PLAN_CHANGE_PENDING", "a plan change is waiting for its payment"
            )
            error.metadata = {"order_id": str(waiting.order_id)}
            raise error
        quote = changes.quote_change(held.sub, plan.rules, status, now, self._zone)
        if isinstance(quote, Refusal):
            raise errors.refused(quote)
        charged = collection == "provider" and quote.charge_minor > 0
        order = await order_store.insert(
            conn,
            Order(
                order_id=ids.new_id(),
                member_id=held.row.member_id,
                subscription_id=held.subscription_id,
                kind="plan_change",
                plan_id=plan.plan_id,
                plan_version=plan.version,
                state="pending_payment",
                collection=collection,
                currency_code=plan.currency_code,
                list_price_minor=plan.price_minor,
                credit_minor=quote.credit_minor,
                amount_minor=quote.charge_minor,
                charge_attempts=1 if charged else 0,
                last_failure_reason="",
                payment_id=None,
                created_by=principal.label,
                create_time=now,
                expire_time=now + dt.timedelta(seconds=self.deps.settings.payment_window_seconds),
                settle_time=None,
                last_charge_id=ids.new_id() if charged else None,
            ),
        )
        if quote.charge_minor == 0:
            changed = await self.paid(conn, order, held, plan, 0, None, now)
            if isinstance(changed, Refusal):  # quoted a moment ago under the same lock
                raise errors.refused(changed)
            settled = await order_store.get(conn, order.order_id)
            assert settled is not None
            return settled, changed
        if charged:
            await announce.charge_requested(self.deps, conn, order, plan.display_name, now)
        return order, held

    async def paid(
        self,
        conn,
        order: Order,
        held: Held,
        plan: PlanRow,
        amount_minor: int,
        payment_id: str | None,
        now: dt.datetime,
    ) -> Held | Refusal:
        """The PLAN_CHANGE order is paid: the open terms cut now, a term of `plan` from now
        (subscription.plan_changed, cause UPGRADE); the caller holds both locks."""
        after = changes.change_now(held.sub, plan.rules, amount_minor, now, self._zone)
        if isinstance(after, Refusal):
            return after
        # The period end moved: a renewal charge requested for the old one is withdrawn (the
        # domain starts the count of attempts again).
        await self.renewals.withdraw(conn, held, now)
        kept = tuple(
            dataclasses.replace(held.row.terms[i], end_time=t.end, paid_minor=t.paid_minor)
            for i, t in enumerate(after.terms[:-1])
        )
        await renewal_store.cut_terms(conn, held.subscription_id, kept)
        before = dataclasses.replace(held.row, terms=kept)
        row = records.changed_row(
            before, after, now, order_id=order.order_id, payment_id=payment_id
        )
        await sub_store.save(conn, row)
        await renewal_store.set_plan_change_time(conn, held.subscription_id, None)
        await order_store.settle(conn, order.order_id, "paid", now, payment_id=payment_id)
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        await announce.plan_changed(
            self.deps, conn, fresh, held.sub.plan_at(now), res.PLAN_CHANGE_CAUSE_UPGRADE, now
        )
        return fresh

    async def pending(self, conn, found: Sequence[Held]) -> dict[uuid.UUID, PendingChange]:
        """The change waiting for each subscription that has one: a PLAN_CHANGE order unpaid,
        else a renewal plan other than the last paid term's (three queries however many)."""
        ids = [h.subscription_id for h in found]
        orders = await order_store.pending_plan_changes(conn, ids)
        asked = await renewal_store.plan_change_times(conn, ids)
        waiting: dict[uuid.UUID, PendingChange] = {}
        for held in found:
            order = orders.get(held.subscription_id)
            current, renewal = _last_paid(held), held.sub.renewal_plan
            if order is not None:
                waiting[held.subscription_id] = PendingChange(
                    order.plan_id, order.plan_version, NOW, order.order_id, order.create_time
                )
            elif current and renewal and not renewal.same_version(current.rules):
                waiting[held.subscription_id] = PendingChange(
                    renewal.code, renewal.version, AT_RENEWAL, None, asked.get(held.subscription_id)
                )
        return waiting
