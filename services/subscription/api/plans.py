"""GetPlan, ListPlans (any valid token); CreatePlan, UpdatePlan (operators, audited)."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging
from services.kit.errors import Violations

from ..domain import plans as rules
from ..store.plans import KIND_ORDER, BenefitRow, PlanRow
from ..usecases.plans import MUTABLE, raise_problems
from . import access
from .base import Part
from .convert import BENEFIT_KINDS, PLAN_KINDS, QUOTA_PERIODS, plan_proto

MAX_PLAN_ID = 64
MAX_NAME = 128
MAX_DESCRIPTION = 1024
MAX_TEMPLATE = 128
MAX_SERVICE_CODE = 64


def _benefit(v: Violations, at: str, b: res.Benefit, currency: str | None) -> BenefitRow:
    kind = BENEFIT_KINDS.get(b.kind)
    v.check(kind is not None, f"{at}.kind", "COUPON_PACK, PARTNER_PERK or SERVICE_PERK")
    v.text(f"{at}.display_name", b.display_name, maximum=MAX_NAME)
    v.text(f"{at}.description", b.description, maximum=MAX_DESCRIPTION, required=False)
    period = QUOTA_PERIODS.get(b.quota_period)
    v.check(period is not None, f"{at}.quota_period", "MONTH or YEAR")
    if b.value.currency_code and currency is not None:
        v.check(
            b.value.currency_code == currency, f"{at}.value.currency_code", "the plan's currency"
        )
    fields = {
        "coupon_pack": ("coupon_template_id", b.coupon_template_id, MAX_TEMPLATE),
        "partner_perk": ("perk_pool_id", b.perk_pool_id, MAX_PLAN_ID),
        "service_perk": ("service_code", b.service_code, MAX_SERVICE_CODE),
    }
    for name, (field, value, maximum) in fields.items():
        if name == kind:
            v.text(f"{at}.{field}", value, maximum=maximum)
        else:
            v.check(not value, f"{at}.{field}", f"only for a {name.upper()} benefit")
    return BenefitRow(
        benefit_id=b.benefit_id[: MAX_PLAN_ID + 1],
        kind=kind or "coupon_pack",
        display_name=b.display_name,
        description=b.description,
        quantity=b.quantity,
        quota_period=period or "month",
        value_minor=b.value.amount_minor,
        coupon_template_id=b.coupon_template_id,
        perk_pool_id=b.perk_pool_id,
        service_code=b.service_code,
    )


def _benefits(v: Violations, given: res.Plan, currency: str | None) -> tuple[BenefitRow, ...]:
    return tuple(
        _benefit(v, f"plan.benefits[{i}]", b, currency) for i, b in enumerate(given.benefits)
    )


def _trial_days(v: Violations, kind: str | None, days: int) -> None:
    if kind is not None and kind != "trial":
        v.check(days == 0, "plan.trial_days", "0 for a paid plan")


class PlansApi(Part):
    """The reading side, on SubscriptionService."""

    async def GetPlan(
        self, request: pb.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPlanResponse:
        auth.require()
        v = Violations()
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID)
        v.raise_if_any()
        version = request.version if request.HasField("version") else None
        async with self.pool.acquire() as conn:
            row = await self.uc.plans.get(conn, request.plan_id, version)
        return pb.GetPlanResponse(plan=plan_proto(row))

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPlansResponse:
        auth.require()
        kind = PLAN_KINDS.get(request.kind)
        if request.kind != res.PLAN_KIND_UNSPECIFIED and kind is None:
            raise errors.invalid([("kind", "a plan kind, or UNSPECIFIED for any")])
        query = {"on_sale_only": request.on_sale_only, "kind": kind or ""}
        size = paging.size(request.page_size)
        after = _cursor(paging.cursor(request.page_token, query))
        async with self.pool.acquire() as conn:
            rows = await self.uc.plans.latest(
                conn, after=after, limit=size + 1, on_sale_only=request.on_sale_only, kind=kind
            )
        rows, token = paging.page(
            rows, size, query, key=lambda p: f"{KIND_ORDER[p.kind]}\n{p.plan_id}"
        )
        return pb.ListPlansResponse(plans=[plan_proto(p) for p in rows], next_page_token=token)


def _cursor(raw: str | None) -> tuple[int, str] | None:
    """(kind's rank, plan id) of the last plan of the previous page."""
    if raw is None:
        return None
    rank, _, plan_id = raw.partition("\n")
    if not rank.isdigit() or len(rank) > 1:
        raise errors.invalid([("page_token", "malformed page token")])
    return int(rank), plan_id


class PlanAdminApi(Part):
    """The writing side, on SubscriptionAdminService."""

    async def _perk_pools(self, v: Violations, given: res.Plan) -> None:
        """PERK_POOL_NOT_FOUND for each partner perk naming no perk pool."""
        named = {
            f"plan.benefits[{i}].perk_pool_id": b.perk_pool_id
            for i, b in enumerate(given.benefits)
            if BENEFIT_KINDS.get(b.kind) == "partner_perk"
            and not v.names(f"plan.benefits[{i}].perk_pool_id")
        }
        if not named:
            return
        async with self.pool.acquire() as conn:
            missing = await self.uc.perks.missing(conn, list(named.values()))
        for path, pool_id in named.items():
            if pool_id in missing:
                v.add(path, "PERK_POOL_NOT_FOUND: no such perk pool")

    async def CreatePlan(
        self, request: admin.CreatePlanRequest, context: grpc.aio.ServicerContext
    ) -> admin.CreatePlanResponse:
        principal = access.require_any(access.ADMIN)
        given = request.plan
        errors.at_most("plan.benefits", given.benefits, rules.MAX_BENEFITS)
        v = Violations()
        v.text("plan.display_name", given.display_name, maximum=MAX_NAME)
        v.text("plan.description", given.description, maximum=MAX_DESCRIPTION, required=False)
        kind = PLAN_KINDS.get(given.kind)
        v.check(kind is not None, "plan.kind", "MONTHLY, QUARTERLY, YEARLY or TRIAL")
        _trial_days(v, kind, given.trial_days)
        benefits = _benefits(v, given, given.price.currency_code)
        await self._perk_pools(v, given)
        row: PlanRow | None = None
        if kind is not None:
            row = PlanRow(
                plan_id=given.plan_id[: MAX_PLAN_ID + 1],
                version=1,
                display_name=given.display_name,
                description=given.description,
                kind=kind,
                price_minor=given.price.amount_minor,
                currency_code=given.price.currency_code[:8],
                trial_days=given.trial_days,
                points_multiplier=given.points_multiplier or rules.DEFAULT_MULTIPLIER,
                member_discount_bps=given.member_discount_bps,
                benefits=benefits,
                on_sale=given.on_sale,
                created_by=principal.label,
                create_time=self.deps.now(),
            )
            problems = rules.plan_problems(row.rules)
            if v.items or problems:
                raise_problems(problems, kind == "trial", extra=v.items)
        v.raise_if_any()
        assert row is not None
        new = row

        async def work(conn: asyncpg.Connection) -> admin.CreatePlanResponse:
            created = await self.uc.plans.create(conn, new)
            await access.record(
                conn, principal, "plan.create", created.plan_id, plan=_detail(created)
            )
            return admin.CreatePlanResponse(plan=plan_proto(created))

        return await idempotency.once(self.pool, request, work)

    async def UpdatePlan(
        self, request: admin.UpdatePlanRequest, context: grpc.aio.ServicerContext
    ) -> admin.UpdatePlanResponse:
        principal = access.require_any(access.ADMIN)
        given = request.plan
        errors.at_most("plan.benefits", given.benefits, rules.MAX_BENEFITS)
        errors.at_most("update_mask.paths", request.update_mask.paths, len(MUTABLE) * 2)
        v = Violations()
        v.text("plan.plan_id", given.plan_id, maximum=MAX_PLAN_ID)
        paths = list(request.update_mask.paths)
        v.check(bool(paths), "update_mask", f"name the fields to update: {', '.join(MUTABLE)}")
        changes: dict[str, object] = {}
        currency = given.price.currency_code if "price" in paths else None
        for path in paths:
            if path not in MUTABLE:
                v.add("update_mask", f"{path[:64]!r} cannot change; only {', '.join(MUTABLE)}")
            elif path in changes or (path == "price" and "price_minor" in changes):
                v.add("update_mask", f"{path} is named twice")
            elif path == "display_name":
                v.text("plan.display_name", given.display_name, maximum=MAX_NAME)
                changes[path] = given.display_name
            elif path == "description":
                v.text(
                    "plan.description", given.description, maximum=MAX_DESCRIPTION, required=False
                )
                changes[path] = given.description
            elif path == "price":
                changes["price_minor"] = given.price.amount_minor
                changes["currency_code"] = given.price.currency_code[:8]
            elif path == "benefits":
                changes[path] = _benefits(v, given, currency)
            elif path == "points_multiplier":
                changes[path] = given.points_multiplier or rules.DEFAULT_MULTIPLIER
            else:
                changes[path] = getattr(given, path)
        if "benefits" in changes:
            await self._perk_pools(v, given)
        v.raise_if_any()
        benefit_currencies = frozenset(
            b.value.currency_code[:8] for b in given.benefits if b.value.currency_code
        )
        if "benefits" not in changes:
            benefit_currencies = frozenset()

        async def work(conn: asyncpg.Connection) -> admin.UpdatePlanResponse:
            before, after = await self.uc.plans.update(
                conn, given.plan_id, given.version, changes, benefit_currencies
            )
            await access.record(
                conn,
                principal,
                "plan.update",
                after.plan_id,
                version=after.version,
                changed=sorted(paths),
                plan=_detail(after),
                previous_version=before.version,
            )
            return admin.UpdatePlanResponse(plan=plan_proto(after))

        return await idempotency.once(self.pool, request, work)


def _detail(row: PlanRow) -> dict:
    return {
        "version": row.version,
        "display_name": row.display_name,
        "kind": row.kind,
        "price_minor": row.price_minor,
        "currency_code": row.currency_code,
        "trial_days": row.trial_days,
        "points_multiplier": row.points_multiplier,
        "member_discount_bps": row.member_discount_bps,
        "benefits": [b.benefit_id for b in row.benefits],
        "on_sale": row.on_sale,
    }
