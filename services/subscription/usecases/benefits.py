"""Benefits: what a member's subscription gives at checkout now, the quotas per window, and
claims.

A claim holds under any concurrency: it locks the member's live subscription row (a member has
at most one, so the member's claims run one at a time, and a refund or change of that
subscription waits for them), counts the member's claims of the benefit in its window under
that lock, and for a partner perk takes one code with a conditional update that skips codes
other claims hold, and counts it on the pool's row as its last statement before its final
writes: that row, which every claimer of the pool changes, is held for the end of the claim
only, and under it the claim sees the exact count that tells whether operators are warned."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import grpc

from loyalty.subscription.v1 import events_pb2 as ev
from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.type.v1 import money_pb2
from services.kit import db, errors, ids
from services.kit.refusals import Refusal
from services.kit.timestamps import to_proto

from ..deps import SubscriptionDeps
from ..domain import benefits as rules
from ..domain.lifecycle import MemberStatus
from ..domain.plans import BenefitKind, QuotaWindow
from ..store import claims as store
from ..store import members
from ..store.claims import ClaimRow
from ..store.perks import TakenCode
from ..store.plans import BenefitRow, PlanRow
from . import records
from .perks import Perks
from .records import Held


@dataclass(frozen=True)
class AtCheckout:
    """What GetMemberBenefits answers: `held` and `plan` are None when the member price and
    multiplier do not apply (no live subscription, its benefits ended, the member frozen or
    closed)."""

    held: Held | None
    plan: PlanRow | None
    terms: rules.MemberTerms


@dataclass(frozen=True)
class QuotaView:
    benefit: BenefitRow
    quota: rules.Quota
    in_stock: bool  # for a partner perk: its pool has a code left


@dataclass(frozen=True)
class Quotas:
    held: Held | None
    items: list[QuotaView]
    as_of: dt.datetime


@dataclass(frozen=True)
class ClaimView:
    claim: ClaimRow
    partner_code: str  # "" unless a partner perk shown to whom may see it
    code_expire_time: dt.datetime | None


@dataclass(frozen=True)
class Granted:
    claimed: ClaimView
    quota: QuotaView
    writes: db.Batch  # the claim and its event, sent with the stored response


def _pool_id(benefit: BenefitRow | None) -> uuid.UUID | None:
    if benefit is None or benefit.kind != BenefitKind.PARTNER_PERK.value:
        return None
    try:
        return uuid.UUID(benefit.perk_pool_id)
    except ValueError:
        return None  # a pool that cannot exist: out of stock


def _refused(refusal: Refusal, resets: dt.datetime | None) -> errors.AppError:
    if refusal.reason == "BENEFIT_NOT_IN_PLAN":  # the proto names it NOT_FOUND
        return errors.AppError(
            grpc.StatusCode.NOT_FOUND,
            refusal.reason,
            refusal.message,
            metadata=dict(refusal.metadata),
        )
    error = errors.refused(refusal)
    if refusal.quota and resets is not None:
        error.metadata["reset_time"] = resets.isoformat().replace("+00:00", "Z")
    return error


class Benefits:
    def __init__(self, deps: SubscriptionDeps) -> None:
        self.deps = deps
        self.perks = Perks(deps)

    @property
    def _zone(self) -> str:
        return self.deps.settings.business_zone

    async def at_checkout(self, conn, member_id: uuid.UUID) -> AtCheckout:
        now = self.deps.now()
        status = MemberStatus(await members.status(conn, member_id))
        held = await records.live(conn, member_id)
        terms = rules.member_terms(held.sub if held else None, now, status)
        if held is None or status is not MemberStatus.ACTIVE or not held.sub.entitled(now):
            return AtCheckout(None, None, terms)
        return AtCheckout(held, held.plan(held.sub.plan_at(now)), terms)

    async def quotas(self, conn, member_id: uuid.UUID) -> Quotas:
        now = self.deps.now()
        held = await records.live(conn, member_id)
        if held is None or not held.sub.entitled(now):
            return Quotas(None, [], now)
        plan = held.plan(held.sub.plan_at(now))
        used = await store.used(conn, member_id, rules.window_keys(plan.rules, now, self._zone))
        pools = {b.benefit_id: _pool_id(b) for b in plan.benefits}
        stock = await self.perks.stock(conn, [p for p in pools.values() if p is not None])

        def in_stock(benefit: BenefitRow) -> bool:
            pool_id = pools[benefit.benefit_id]
            if benefit.kind != BenefitKind.PARTNER_PERK.value:
                return True
            return pool_id is not None and stock.get(pool_id, 0) > 0

        items = [
            QuotaView(benefit, quota, in_stock(benefit))
            for benefit, quota in zip(
                plan.benefits, rules.quotas(plan.rules, used, now, self._zone), strict=True
            )
        ]
        return Quotas(held, items, now)

    async def claim(self, conn, member_id: uuid.UUID, benefit_id: str) -> Granted:
        """One `benefit_id` for the member now, or the refusal (nothing changed)."""
        now, zone = self.deps.now(), self._zone
        status = MemberStatus(await members.status(conn, member_id))
        held = await records.live(conn, member_id, lock=True)
        sub = held.sub if held else None
        plan = held.plan(held.sub.plan_at(now)) if held else None
        benefit = (
            next((b for b in plan.benefits if b.benefit_id == benefit_id), None) if plan else None
        )
        window = QuotaWindow(benefit.quota_period) if benefit else QuotaWindow.MONTH
        key = rules.period_key(now, window, zone)
        used = (await store.used(conn, member_id, {benefit_id: key})).get(benefit_id, 0)
        pool_id = _pool_id(benefit)
        left = None
        if benefit is not None and benefit.kind == BenefitKind.PARTNER_PERK.value:
            left = (await self.perks.stock(conn, [pool_id]))[pool_id] if pool_id else 0
        resets = rules.window_end(now, window, zone)
        decided = rules.claim(sub, status, benefit_id, used, left, now, zone)
        if isinstance(decided, Refusal):
            raise _refused(decided, resets)
        assert held is not None and plan is not None and benefit is not None
        claim_id = ids.new_id()
        code: TakenCode | None = None
        if decided.takes_inventory:
            assert pool_id is not None  # else `left` was 0 and the domain refused
            code = await self.perks.take(conn, pool_id, claim_id)
            if code is None:  # the last codes went to claims made meanwhile
                gone = rules.claim(sub, status, benefit_id, used, 0, now, zone)
                assert isinstance(gone, Refusal)
                raise _refused(gone, resets)
        row = ClaimRow(
            claim_id=claim_id,
            member_id=member_id,
            subscription_id=held.subscription_id,
            benefit_id=benefit_id,
            kind=benefit.kind,
            period_key=decided.period_key,
            plan_id=plan.plan_id,
            plan_version=plan.version,
            value_minor=benefit.value_minor,
            currency_code=plan.currency_code,
            coupon_template_id=benefit.coupon_template_id,
            perk_pool_id=pool_id,
            service_code=benefit.service_code,
            claim_time=now,
        )
        writes = db.Batch()
        await store.insert(writes, row)
        await self.deps.outbox.add(writes, held.subscription_id, _claimed_event(row))
        view = ClaimView(
            row,
            self.perks.reveal(pool_id, code) if code and pool_id else "",
            code.expire_time if code else None,
        )
        in_stock = True
        if code is not None and pool_id is not None:  # last: the pool is held from here
            in_stock = (await self.perks.count_claim(conn, writes, pool_id)).available > 0
        quota = rules.Quota(
            benefit_id,
            decided.benefit.kind,
            benefit.quantity,
            used + 1,
            decided.period_key,
            resets,
        )
        return Granted(view, QuotaView(benefit, quota, in_stock), writes)

    async def claims(
        self,
        conn,
        member_id: uuid.UUID,
        *,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
        benefit_id: str,
        period_key: str,
        with_codes: bool,
    ) -> list[ClaimView]:
        """The member's claims, newest first; partner codes in clear when `with_codes`."""
        listed = await store.listing(
            conn,
            member_id,
            after=after,
            limit=limit,
            benefit_id=benefit_id,
            period_key=period_key,
        )
        out = []
        for item in listed:
            code = ""
            pool_id = item.claim.perk_pool_id
            if with_codes and pool_id and item.code_key_id and item.sealed_code:
                taken = TakenCode(item.code_key_id, item.sealed_code, item.code_expire_time)
                code = self.perks.reveal(pool_id, taken)
            out.append(ClaimView(item.claim, code, item.code_expire_time))
        return out

    async def partner_code(self, conn, claim_id: uuid.UUID, pool_id: uuid.UUID) -> str:
        """A claim's partner code again (a replayed ClaimBenefit: codes are not kept in the
        stored responses)."""
        code = await self.perks.code_of(conn, claim_id)
        return self.perks.reveal(pool_id, code) if code else ""


def _claimed_event(row: ClaimRow) -> ev.SubscriptionBenefitClaimed:
    return ev.SubscriptionBenefitClaimed(
        subscription_id=str(row.subscription_id),
        member_id=str(row.member_id),
        benefit_id=row.benefit_id,
        period_key=row.period_key,
        claimed_time=to_proto(row.claim_time),
        claim_id=str(row.claim_id),
        benefit_kind=res.BenefitKind.Value(f"BENEFIT_KIND_{row.kind.upper()}"),
        plan_id=row.plan_id,
        plan_version=row.plan_version,
        coupon_template_id=row.coupon_template_id,
        perk_pool_id=str(row.perk_pool_id) if row.perk_pool_id else "",
        service_code=row.service_code,
        value=money_pb2.Money(currency_code=row.currency_code, amount_minor=row.value_minor),
    )
