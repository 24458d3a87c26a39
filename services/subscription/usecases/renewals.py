"""The renewal job's charges, their answers, and what the clock alone does (grace, expiry,
lapsed orders).

- The renewal job (`request_due`) takes the subscriptions a charge is due for in batches, each
  in one transaction, locked with SKIP LOCKED: a first charge creates the period end's RENEWAL
  order, a retry charges that order again. The charge is counted on the subscription by a
  conditional update on its attempts before the request is written (the outbox, same
  transaction), so two replicas running the job at once charge each subscription once.
- A charge's answer (`paid`, `failed`) names its order, and the order the period end it
  renews: a late or duplicate answer for another period changes nothing.
- The clock job (`on_clock`) moves what time alone moves (domain.renewal.on_clock): a first
  order never paid abandons its subscription, a period ended unpaid starts grace, a period or
  grace over expires it; then orders past their window lapse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import asyncpg

from services.kit import db, ids, logging
from services.kit.refusals import Refusal

from ..deps import SubscriptionDeps
from ..domain import renewal
from ..domain.lifecycle import MemberStatus, State
from ..store import orders as order_store
from ..store import renewals as store
from ..store import subscriptions as sub_store
from ..store.orders import PENDING, Order
from ..store.plans import PlanRow
from ..store.subscriptions import SubscriptionRow
from . import announce, records, term_starts
from .records import Held

log = logging.get("subscription.renewals")
SYSTEM = "system"
NOT_PAID_IN_TIME = "not_paid_in_time"
MEMBER_FROZEN = "member_frozen"


async def close_order(
    deps: SubscriptionDeps, conn, order_id: uuid.UUID, state: str, at: dt.datetime
) -> Order | None:
    """Settle a pending order without its payment (CANCELLED, EXPIRED or FAILED, at `at`) and
    withdraw its charge (subscription.charge.cancelled); None when it was not pending. The
    caller holds the order's lock or its subscription's."""
    (order,) = await order_store.settle_many(conn, [order_id], state, at) or (None,)
    if order is not None:
        await announce.charge_cancelled(deps, conn, order, at)
    return order


class Renewals:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps

    @property
    def policy(self) -> renewal.RenewalPolicy:
        s = self.deps.settings
        return renewal.RenewalPolicy(
            lead=dt.timedelta(seconds=s.renewal_lead_seconds),
            grace=dt.timedelta(days=s.grace_days),
            retry_every=dt.timedelta(seconds=s.renewal_retry_seconds),
            max_attempts=s.renewal_max_attempts,
        )

    @property
    def _zone(self) -> str:
        return self.deps.settings.business_zone

    @property
    def _window(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.deps.settings.payment_window_seconds)

    # --- the renewal job ------------------------------------------------------------------------
    async def request_due(self, pool: asyncpg.Pool, now: dt.datetime | None = None) -> int:
        """Request every renewal charge due at `now`, a batch per transaction; returns how many
        were requested."""
        now = now or self.deps.now()
        policy = self.policy
        passed: list[uuid.UUID] = []  # due by the query, refused by the domain: not again
        requested = 0
        while True:
            async with pool.acquire() as conn, conn.transaction():
                due = await store.lock_charges_due(
                    conn,
                    first_before=now + policy.lead,
                    retry_before=now - policy.retry_every,
                    now=now,
                    max_attempts=policy.max_attempts,
                    skip=passed,
                    limit=self.deps.settings.job_batch,
                )
                if not due:
                    break
                charged = await self._request(conn, due, now, policy)
            requested += len(charged)
            passed += [s for s in due if s not in charged]
        if requested:
            log.info("renewal_charges_requested", count=requested)
        return requested

    async def _request(
        self, conn, due: list[uuid.UUID], now: dt.datetime, policy: renewal.RenewalPolicy
    ) -> set[uuid.UUID]:
        loaded = await store.load(conn, due)
        plans = await records.plans_of(conn, (item.row for item in loaded))
        pending = await order_store.lock_free(
            conn, [i.row.order_id for i in loaded if i.row.order_id is not None]
        )
        new: dict[uuid.UUID, Order] = {}
        again: dict[uuid.UUID, uuid.UUID] = {}  # order → the charge's id
        attempts: list[store.Attempt] = []
        for item in loaded:
            row = item.row
            sub = records.subscription(row, plans)
            status = MemberStatus(item.member_status)
            charge = renewal.charge(sub, status, now, self._zone, policy)
            if isinstance(charge, Refusal):
                continue
            if row.order_id is not None and row.order_id not in pending:
                continue  # its order is being paid right now: the next run sees the outcome
            current = pending.get(row.order_id) if row.order_id else None
            if current is not None and current.kind == "renewal" and current.state == PENDING:
                if current.renews_end == charge.renews_end:  # a retry: the same order again
                    again[current.order_id] = ids.new_id()
                    attempts.append(
                        store.Attempt(row.subscription_id, row.attempts, current.order_id)
                    )
                    continue
                # Time was added without withdrawing the charge for the old end: withdrawn now.
                await close_order(self.deps, conn, current.order_id, "cancelled", now)
            order = self._renewal_order(row, charge, plans, now, policy)
            new[row.subscription_id] = order
            attempts.append(store.Attempt(row.subscription_id, row.attempts, order.order_id))
        counted = await store.record_attempts(conn, attempts, now)
        made = [o for s, o in new.items() if s in counted]
        await order_store.insert_many(conn, made)
        retried = await order_store.charged_again(
            conn,
            [(o, c) for o, c in again.items() if pending[o].subscription_id in counted],
        )
        # The requests go as one statement (a round trip per batch, not per charge).
        requests = db.Batch()
        for order in (*made, *retried):
            plan = plans[(order.plan_id, order.plan_version)]
            await announce.charge_requested(self.deps, requests, order, plan.display_name, now)
        await requests.run(conn)
        return counted

    def _renewal_order(
        self,
        row: SubscriptionRow,
        charge: renewal.Charge,
        plans: dict[tuple[str, int], PlanRow],
        now: dt.datetime,
        policy: renewal.RenewalPolicy,
    ) -> Order:
        """A period end's RENEWAL order: payable until the grace after that end is over (a
        failure later than the end moves that out: `failed`)."""
        plan = plans[(charge.plan.code, charge.plan.version)]
        return Order(
            order_id=ids.new_id(),
            member_id=row.member_id,
            subscription_id=row.subscription_id,
            kind="renewal",
            plan_id=plan.plan_id,
            plan_version=plan.version,
            state="pending_payment",
            collection="provider",
            currency_code=charge.currency,
            list_price_minor=plan.price_minor,
            credit_minor=0,
            amount_minor=charge.amount_minor,
            charge_attempts=1,
            last_failure_reason="",
            payment_id=None,
            created_by=SYSTEM,
            create_time=now,
            expire_time=charge.renews_end + policy.grace,
            settle_time=None,
            renews_end=charge.renews_end,
            last_charge_id=ids.new_id(),
        )

    # --- a charge's answer ----------------------------------------------------------------------
    async def paid(
        self, conn, order: Order, held: Held, plan: PlanRow, payment_id: str, now: dt.datetime
    ) -> Held | Refusal:
        """The renewal order (of `plan`) is paid: a term of that plan from the period end it
        renews (in grace too: the grace days belong to the new term); the caller holds the
        order's and the subscription's locks."""
        assert order.renews_end is not None
        sub, charged = held.sub, plan.rules
        # The term is of the plan the order charged, even if a change was scheduled after the
        # charge was requested; the schedule then stands for the next renewal.
        after = renewal.renew(
            dataclasses.replace(sub, renewal_plan=charged), order.renews_end, now, self._zone
        )
        if isinstance(after, Refusal):
            return after
        after = dataclasses.replace(after, renewal_plan=sub.renewal_plan)
        row = records.changed_row(
            held.row, after, now, order_id=order.order_id, payment_id=payment_id
        )
        await sub_store.save(conn, row)
        await order_store.settle(conn, order.order_id, "paid", now, payment_id=payment_id)
        fresh = await records.get(conn, held.subscription_id)
        assert fresh is not None
        await announce.term_started(self.deps, conn, fresh, first=False, order_id=order.order_id)
        await term_starts.announce_if_begun(self.deps, conn, fresh, sub.terms[-1].plan, now)
        return fresh

    async def failed(self, conn, order: Order, held: Held, reason: str, now: dt.datetime) -> None:
        """A renewal charge failed: the order stays pending (retried while auto-renew is on);
        the first failure of the period starts grace (subscription.renewal_failed, once)."""
        assert order.renews_end is not None
        after = renewal.fail_renewal(held.sub, order.renews_end, now, self.policy.grace)
        if isinstance(after, Refusal) or after.state is held.sub.state:
            await order_store.charge_failed(conn, order.order_id, reason, order.expire_time)
            return
        assert after.grace_until is not None
        # Payable until grace ends: later than the period end's grace for a late failure.
        await order_store.charge_failed(conn, order.order_id, reason, after.grace_until)
        row = records.changed_row(held.row, after, now, pending_order=held.row.order_id)
        await sub_store.save(conn, row)
        await announce.renewal_failed(self.deps, conn, row, after.grace_until, reason, now)

    async def withdraw(self, conn, held: Held, now: dt.datetime) -> bool:
        """The period end a pending renewal order renews has moved (a purchase, code or gift
        stacked on it, or a plan change now): the order is CANCELLED and its charge withdrawn.
        Returns whether there was one. Call it with the subscription's lock held, before
        saving the subscription with no pending order."""
        if held.row.order_id is None:
            return False
        order = await order_store.get(conn, held.row.order_id, lock=True)
        if order is None or order.kind != "renewal":
            return False
        return await close_order(self.deps, conn, order.order_id, "cancelled", now) is not None

    # --- the clock job --------------------------------------------------------------------------
    async def on_clock(self, pool: asyncpg.Pool, now: dt.datetime | None = None) -> int:
        """Move every subscription time alone moves at `now`, then lapse the orders past their
        window; returns how many subscriptions and orders changed."""
        now = now or self.deps.now()
        left: list[uuid.UUID] = []  # due by the query but unchanged: not again this run
        moved = 0
        while True:
            async with pool.acquire() as conn, conn.transaction():
                due = await store.lock_clock_due(
                    conn,
                    now=now,
                    ordered_before=now - self._window,
                    skip=left,
                    limit=self.deps.settings.job_batch,
                )
                if not due:
                    break
                changed = await self._clock(conn, due, now)
            moved += len(changed)
            left += [s for s in due if s not in changed]
        lapsed = await self._lapse(pool, now)
        if moved or lapsed:
            log.info("clock_applied", subscriptions=moved, orders_lapsed=lapsed)
        return moved + lapsed

    async def _clock(self, conn, due: list[uuid.UUID], now: dt.datetime) -> set[uuid.UUID]:
        loaded = await store.load(conn, due)
        plans = await records.plans_of(conn, (item.row for item in loaded))
        orders = await order_store.lock_free(
            conn, [i.row.order_id for i in loaded if i.row.order_id is not None]
        )
        grace = self.policy.grace
        rows: list[SubscriptionRow] = []
        for item in loaded:
            row = item.row
            if row.order_id is not None and row.order_id not in orders:
                continue  # its order is being paid right now: the next run sees the outcome
            sub = records.subscription(row, plans)
            after = renewal.on_clock(sub, now, grace, self._window)
            if after is None:
                continue
            order = orders.get(row.order_id) if row.order_id else None
            if after.state is State.GRACE:
                assert after.grace_until is not None and sub.period_end is not None
                frozen = item.member_status == MemberStatus.FROZEN.value and order is None
                rows.append(records.changed_row(row, after, now, pending_order=row.order_id))
                await announce.renewal_failed(
                    self.deps,
                    conn,
                    row,
                    after.grace_until,
                    MEMBER_FROZEN if frozen else NOT_PAID_IN_TIME,
                    sub.period_end,
                )
                continue
            assert after.ended_at is not None
            if after.state is State.CANCELLED:  # a first order never paid
                cause, settled_as = "order_abandoned", "expired"
            else:
                graced = sub.state is State.GRACE or after.ended_at != sub.period_end
                cause, settled_as = ("grace_ended" if graced else "period_ended"), "failed"
            if order is not None:
                await close_order(self.deps, conn, order.order_id, settled_as, after.ended_at)
            # A first order never paid stays named by its subscription, as a failed one does.
            first = row.order_id if after.state is State.CANCELLED else None
            rows.append(records.changed_row(row, after, now, end_cause=cause, pending_order=first))
            if after.state is State.EXPIRED:
                await announce.expired(self.deps, conn, row, after.ended_at, cause)
        await store.save_states(conn, rows)
        return {r.subscription_id for r in rows}

    async def _lapse(self, pool: asyncpg.Pool, now: dt.datetime) -> int:
        """Orders unpaid past their window: EXPIRED (a renewal FAILED), charges withdrawn. A
        first order's subscription is abandoned by the clock (same instant); a plan change
        waiting for the order is dropped with it."""
        lapsed = 0
        while True:
            async with pool.acquire() as conn, conn.transaction():
                orders = await order_store.lapse_due(conn, now, self.deps.settings.job_batch)
                for order in orders:
                    await announce.charge_cancelled(self.deps, conn, order, order.expire_time)
            lapsed += len(orders)
            if not orders:
                return lapsed
