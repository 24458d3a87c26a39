"""The member's choices beside buying: a free trial (once per member, ever), cancel (auto-renew
off: the subscription runs to its end), resume (on again, before the end); and an operator's
gift of a period of a paid plan. Trials and gifts are free terms (free_terms.py starts or
stacks them); cancel and resume ask the domain and announce what they did. And what operators
read beside them: subscriptions and parked payments, newest first."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.subscription.v1 import events_pb2 as ev
from loyalty.subscription.v1 import resources_pb2 as res
from services.kit import auth, errors
from services.kit.refusals import Refusal
from services.kit.timestamps import to_proto

from ..deps import SubscriptionDeps
from ..domain import subscriptions as subs
from ..domain.lifecycle import MemberAction, MemberStatus, member_refusal
from ..domain.terms import Channel
from ..store import listing, members
from ..store import parked as parked_store
from ..store import plans as plan_store
from ..store import refunds as refund_store
from ..store import subscriptions as sub_store
from ..store.parked import ParkedPayment
from ..store.plans import PlanRow
from ..store.refunds import Cancellation
from . import free_terms, records
from .records import Held

# Who turned auto-renew off, as cancellations.cause and the event's CancelCause.
CANCEL_CAUSES = {
    "member": res.CANCEL_CAUSE_MEMBER,
    "operator": res.CANCEL_CAUSE_OPERATOR,
}


class Choices:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    async def _plan(self, conn, plan_id: str) -> PlanRow:
        plan = await plan_store.get(conn, plan_id)
        if plan is None:
            raise errors.not_found("plan", plan_id)
        return plan

    # --- free terms -----------------------------------------------------------------------------
    async def start_trial(self, conn, member_id: uuid.UUID, plan_id: str) -> Held:
        """The free trial of a TRIAL plan's version on sale: a new subscription, ACTIVE."""
        plan = await self._plan(conn, plan_id)
        if not plan.rules.is_trial:
            raise errors.failed_precondition("PLAN_NOT_TRIAL", f"plan {plan_id} is no trial")
        if not plan.on_sale:
            raise errors.failed_precondition("PLAN_NOT_ON_SALE", f"plan {plan_id} is not sold")
        live = await sub_store.live(conn, member_id)
        try:
            return await free_terms.start(self.deps, conn, member_id, plan, Channel.TRIAL)
        except errors.AppError as error:
            # The contract names the subscription in the way (when it was there to be read:
            # one started by a concurrent call aborted this transaction).
            if error.reason == "SUBSCRIPTION_ALREADY_ACTIVE" and live is not None:
                error.metadata["subscription_id"] = str(live.subscription_id)
            raise

    async def grant(self, conn, member_id: uuid.UUID, plan_id: str) -> Held:
        """A period of a paid plan's latest version (on sale or not), given: a new subscription
        or a term stacked on the live one, worth nothing for refunds."""
        plan = await self._plan(conn, plan_id)
        if plan.rules.is_trial:
            raise errors.failed_precondition("PLAN_IS_TRIAL", "a trial is not given")
        return await free_terms.start(self.deps, conn, member_id, plan, Channel.GIFT)

    # --- auto-renew -----------------------------------------------------------------------------
    async def _own(self, conn, subscription_id: uuid.UUID, caller: auth.Principal) -> Held:
        """The subscription, locked; another member's is NOT_FOUND as if it did not exist."""
        held = await records.get(conn, subscription_id, lock=True)
        if held is None or not caller.owns(held.row.member_id):
            raise errors.not_found("subscription", str(subscription_id))
        return held

    async def cancel(
        self,
        conn,
        subscription_id: uuid.UUID,
        caller: auth.Principal,
        cause: str,
        reason: str,
    ) -> Held:
        """Auto-renew off: the subscription runs to its end (grace_until in grace). Nothing is
        refunded and no member status stops it."""
        now = self.deps.now()
        held = await self._own(conn, subscription_id, caller)
        after = subs.cancel(held.sub, now)
        if isinstance(after, Refusal):
            raise errors.refused(after)
        row = records.changed_row(held.row, after, now, pending_order=held.row.order_id)
        await sub_store.save(conn, row)
        await refund_store.cancelled(
            conn, Cancellation(held.subscription_id, cause, caller.label, reason, now)
        )
        await self.deps.outbox.add(
            conn,
            held.subscription_id,
            ev.SubscriptionCancelled(
                subscription_id=str(held.subscription_id),
                member_id=str(held.row.member_id),
                effective_end=to_proto(held.sub.benefits_end),
                cause=CANCEL_CAUSES[cause],
                cancelled_time=to_proto(now),
            ),
        )
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        return fresh

    async def resume(self, conn, subscription_id: uuid.UUID, caller: auth.Principal) -> Held:
        """Auto-renew on again before the end, renewing into the plan it would have."""
        now = self.deps.now()
        held = await self._own(conn, subscription_id, caller)
        status = MemberStatus(await members.status(conn, held.row.member_id))
        after = member_refusal(status, MemberAction.RESUME) or subs.resume(held.sub, now)
        if isinstance(after, Refusal):
            raise errors.refused(after)
        row = records.changed_row(held.row, after, now, pending_order=held.row.order_id)
        await sub_store.save(conn, row)
        await refund_store.resumed(conn, held.subscription_id)
        renewal = held.plan(after.renewal_plan) if after.renewal_plan else None
        await self.deps.outbox.add(
            conn,
            held.subscription_id,
            ev.SubscriptionResumed(
                subscription_id=str(held.subscription_id),
                member_id=str(held.row.member_id),
                period_end=to_proto(after.period_end),
                renewal_plan_id=renewal.plan_id if renewal else "",
                renewal_plan_version=renewal.version if renewal else 0,
                resumed_time=to_proto(now),
            ),
        )
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        return fresh

    # --- operators' reads -----------------------------------------------------------------------
    async def listed(
        self,
        conn,
        *,
        member_id: uuid.UUID | None,
        state: str | None,
        plan_id: str | None,
        period_end_before: dt.datetime | None,
        before: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Held]:
        rows = await listing.subscriptions(
            conn,
            now=self.deps.now(),
            member_id=member_id,
            state=state,
            plan_id=plan_id,
            period_end_before=period_end_before,
            before=before,
            limit=limit,
        )
        plans = await records.plans_of(conn, rows)  # one query for the page
        return [records.Held(row, records.subscription(row, plans), plans) for row in rows]

    async def parked(
        self,
        conn,
        *,
        reason: str | None,
        order_id: str | None,
        before: tuple[dt.datetime, str] | None,
        limit: int,
    ) -> list[ParkedPayment]:
        return await parked_store.listed(
            conn, reason=reason, order_id=order_id, before=before, limit=limit
        )
