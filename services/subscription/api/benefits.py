"""GetMemberBenefits, ListBenefitQuotas, ClaimBenefit, ListBenefitClaims: the member's own token
or a storefront's checkout (quotas and claims also operators). Partner codes go to the member
and to checkout only, never to operators, and are not kept in stored responses (a replayed
claim reads its code again)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..usecases.benefits import ClaimView, QuotaView
from . import access
from .base import Part
from .convert import benefit_proto, money

MAX_BENEFIT_ID = 64
_PERIOD_KEY = re.compile(r"[0-9]{4}(-[0-9]{2})?")


def _kind(value: str) -> res.BenefitKind.ValueType:
    return res.BenefitKind.Value(f"BENEFIT_KIND_{value.upper()}")


def quota_proto(item: QuotaView) -> res.BenefitQuota:
    q = item.quota
    return res.BenefitQuota(
        benefit_id=q.benefit_id,
        kind=_kind(q.kind.value),
        display_name=item.benefit.display_name,
        period_key=q.period_key,
        quantity=q.limit,
        claimed=q.used,
        remaining=q.remaining,
        reset_time=to_proto(q.resets_at),
        in_stock=item.in_stock,
    )


def claim_proto(view: ClaimView) -> res.BenefitClaim:
    c = view.claim
    return res.BenefitClaim(
        claim_id=str(c.claim_id),
        member_id=str(c.member_id),
        subscription_id=str(c.subscription_id),
        benefit_id=c.benefit_id,
        kind=_kind(c.kind),
        period_key=c.period_key,
        plan_id=c.plan_id,
        plan_version=c.plan_version,
        value=money(c.value_minor, c.currency_code),
        coupon_template_id=c.coupon_template_id,
        perk_pool_id=str(c.perk_pool_id) if c.perk_pool_id else "",
        partner_code=view.partner_code,
        partner_code_expire_time=to_proto(view.code_expire_time),
        service_code=c.service_code,
        claim_time=to_proto(c.claim_time),
    )


def _without_code(response: pb.ClaimBenefitResponse) -> pb.ClaimBenefitResponse:
    """What the idempotency record keeps: the response without the partner code."""
    kept = pb.ClaimBenefitResponse()
    kept.CopyFrom(response)
    kept.claim.partner_code = ""
    return kept


def _sees_codes(principal: auth.Principal) -> bool:
    """The member, or a storefront's checkout; never an operator."""
    if principal.kind == "member":
        return True
    return principal.kind != "operator" and principal.has_scope(access.CHECKOUT)


def _cursor(raw: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """(claim_time, claim_id) of the last claim of the previous page."""
    if raw is None:
        return None
    when, _, claim_id = raw.partition("\n")
    try:
        at = dt.datetime.fromisoformat(when)
        parsed = uuid.UUID(claim_id)
    except ValueError:
        raise errors.invalid([("page_token", "malformed page token")]) from None
    if at.tzinfo is None:
        raise errors.invalid([("page_token", "malformed page token")])
    return at, parsed


class BenefitsApi(Part):
    async def GetMemberBenefits(
        self, request: pb.GetMemberBenefitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemberBenefitsResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT)
        async with self.pool.acquire() as conn:
            got = await self.uc.benefits.at_checkout(conn, member_id)
        if got.held is None or got.plan is None:
            return pb.GetMemberBenefitsResponse(
                benefits=res.MemberBenefits(member_id=str(member_id), subscribed=False)
            )
        sub, plan = got.held.sub, got.plan
        return pb.GetMemberBenefitsResponse(
            benefits=res.MemberBenefits(
                member_id=str(member_id),
                subscribed=True,
                subscription_id=str(got.held.subscription_id),
                state=res.SubscriptionState.Value(f"SUBSCRIPTION_STATE_{sub.state.value.upper()}"),
                plan_id=plan.plan_id,
                plan_version=plan.version,
                member_discount_bps=got.terms.member_discount_bp,
                points_multiplier=got.terms.points_multiplier,
                valid_until=to_proto(sub.benefits_end),
                benefits=[benefit_proto(b, plan.currency_code) for b in plan.benefits],
            )
        )

    async def ListBenefitQuotas(
        self, request: pb.ListBenefitQuotasRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBenefitQuotasResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT, access.ADMIN)
        async with self.pool.acquire() as conn:
            got = await self.uc.benefits.quotas(conn, member_id)
        return pb.ListBenefitQuotasResponse(
            subscription_id=str(got.held.subscription_id) if got.held else "",
            quotas=[quota_proto(q) for q in got.items],
            as_of_time=to_proto(got.as_of),
        )

    async def ClaimBenefit(
        self, request: pb.ClaimBenefitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClaimBenefitResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT)
        v = Violations()
        v.text("benefit_id", request.benefit_id, maximum=MAX_BENEFIT_ID)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> idempotency.Pending:
            granted = await self.uc.benefits.claim(conn, member_id, request.benefit_id)
            response = pb.ClaimBenefitResponse(
                claim=claim_proto(granted.claimed), quota=quota_proto(granted.quota)
            )
            return idempotency.Pending(response, granted.writes)

        response = await idempotency.once(
            self.pool, request, work, stored=_without_code, subject=member_id
        )
        claim = response.claim
        if claim.perk_pool_id and not claim.partner_code:  # a replay
            async with self.pool.acquire() as conn:
                claim.partner_code = await self.uc.benefits.partner_code(
                    conn, uuid.UUID(claim.claim_id), uuid.UUID(claim.perk_pool_id)
                )
        return response

    async def ListBenefitClaims(
        self, request: pb.ListBenefitClaimsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBenefitClaimsResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT, access.ADMIN)
        principal = auth.require()
        v = Violations()
        v.text("benefit_id", request.benefit_id, maximum=MAX_BENEFIT_ID, required=False)
        v.check(
            not request.period_key or bool(_PERIOD_KEY.fullmatch(request.period_key)),
            "period_key",
            'a quota period such as "2025-06" or "2025"',
        )
        v.raise_if_any()
        size = paging.size(request.page_size)
        query = {
            "member_id": str(member_id),
            "benefit_id": request.benefit_id,
            "period_key": request.period_key,
        }
        after = _cursor(paging.cursor(request.page_token, query))
        async with self.pool.acquire() as conn:
            views = await self.uc.benefits.claims(
                conn,
                member_id,
                after=after,
                limit=size + 1,
                benefit_id=request.benefit_id,
                period_key=request.period_key,
                with_codes=_sees_codes(principal),
            )
        views, token = paging.page(
            views,
            size,
            query,
            key=lambda c: f"{c.claim.claim_time.isoformat()}\n{c.claim.claim_id}",
        )
        return pb.ListBenefitClaimsResponse(
            claims=[claim_proto(c) for c in views], next_page_token=token
        )
