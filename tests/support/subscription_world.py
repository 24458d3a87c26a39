"""The world of subscription's model-agreement test
(tests/integration/subscription/test_model_agreement.py): the real service on clean tables and
the in-memory reference model (services.subscription.domain.model) set up alike, the ids of
one mapped to the other's, and how a step runs on both. What is compared after every step is
in subscription_world_check.py; the steps in subscription_world_payments.py (orders, payments,
renewals) and subscription_steps.py (the rest).

Set up per example, through the public API: the plans of tests/unit/subscription/samples.py
(monthly, quarterly and yearly with their benefits, the yearly one's partner perk drawing from
a pool of two uploaded codes, the trial, a USD monthly), three redemption code batches
exported (their codes issued to the model as they came), three members.

A step the service carries out is applied to the model, which must accept it (`accepted`); a
step the service refuses must be refused by the model too, on a copy, for a reason `alike`
says is the same (`refused_alike`), and must leave every row as it was (`unchanged`).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.type.v1 import money_pb2
from services.subscription import jobs
from services.subscription.domain import codes
from services.subscription.domain.model import Model, Refused
from services.subscription.domain.plans import BenefitKind, Plan, PlanKind, QuotaWindow
from tests.support import harness
from tests.support.grpc_errors import failure_of
from tests.unit.subscription.samples import MONTHLY, MONTHLY_USD, QUARTERLY, TRIAL, YEARLY, at

T0 = at(2025, 6, 1, 9)  # 9:00 in Shanghai
PLANS = [MONTHLY, QUARTERLY, YEARLY, TRIAL, MONTHLY_USD]
PLAN_CODES = [p.code for p in PLANS]
PERK = "video_vip"  # the yearly plan's partner perk
PERK_CODES = ["VIDEO-VIP-0001", "VIDEO-VIP-0002"]
# (plan, days the codes stay redeemable, codes): the model's unit test's three kinds of code.
CODE_BATCHES = [("plus_quarterly", 365, 2), ("plus_yearly", 365, 2), ("plus_monthly", 2, 2)]
MEMBERS = 3

SUCCEEDED = "commerce.payment.succeeded.v1"
FAILED = "commerce.payment.failed.v1"
FROZEN = "loyalty.identity.member.frozen.v1"
UNFROZEN = "loyalty.identity.member.unfrozen.v1"
CLOSED = "loyalty.identity.member.closed.v1"

ANY = 5  # the `mode` that picks among every order, charge or member, not only those that fit
Alike = Callable[[str, str | None, Model], bool]  # (service's reason, model's or None, model)

_KINDS = {
    PlanKind.MONTHLY: res.PLAN_KIND_MONTHLY,
    PlanKind.QUARTERLY: res.PLAN_KIND_QUARTERLY,
    PlanKind.YEARLY: res.PLAN_KIND_YEARLY,
    PlanKind.TRIAL: res.PLAN_KIND_TRIAL,
}
# What a refused step may not change, a query each: every row of the tables it could write, the
# outbox by its rows' ids (the relay marks them sent), members by their status (a status event
# for a closed member, which stays closed, touches its row's update_time only; a member heard
# nothing of is as active as one with an 'active' row).
_ROWS = {
    **{
        table: f"SELECT * FROM {table}"
        for table in (
            "subscriptions",
            "terms",
            "orders",
            "refunds",
            "cancellations",
            "benefit_claims",
            "perk_codes",
            "perk_pools",
            "redemption_codes",
            "code_batches",
        )
    },
    "members": "SELECT member_id, status FROM members WHERE status <> 'active'",
    "outbox": "SELECT id FROM outbox",
}


class Disagreement(AssertionError):
    pass


def money(amount: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount)


def uid() -> str:
    return str(uuid.uuid4())


def plan_proto(plan: Plan, pool_id: str) -> res.Plan:
    """A sample plan as CreatePlan takes it."""

    def benefit(b) -> res.Benefit:
        fields: dict[str, Any] = {
            BenefitKind.COUPON_PACK: {"coupon_template_id": f"tpl-{b.benefit_id}"},
            BenefitKind.PARTNER_PERK: {"perk_pool_id": pool_id},
            BenefitKind.SERVICE_PERK: {"service_code": b.benefit_id},
        }[b.kind]
        return res.Benefit(
            benefit_id=b.benefit_id,
            kind=res.BenefitKind.Value(f"BENEFIT_KIND_{b.kind.name}"),
            display_name=b.benefit_id.replace("_", " "),
            quantity=b.quantity,
            quota_period=(
                res.QUOTA_PERIOD_YEAR if b.window is QuotaWindow.YEAR else res.QUOTA_PERIOD_MONTH
            ),
            value=money(b.value_minor, plan.currency),
            **fields,
        )

    return res.Plan(
        plan_id=plan.code,
        display_name=plan.code.replace("_", " ").upper(),
        kind=_KINDS[plan.kind],
        price=money(plan.price_minor, plan.currency),
        trial_days=plan.period.count if plan.is_trial else 0,
        points_multiplier=plan.points_multiplier,
        member_discount_bps=plan.member_discount_bp,
        benefits=[benefit(b) for b in plan.benefits],
        on_sale=True,
    )


class WorldBase:
    """One example: the service on clean tables, the model, the ids that map them."""

    def __init__(self, app, subscription, admin, tokens, publish, consumed, published) -> None:
        # The MODEL GAPs left as the model has them (a reproduction leaves its own open).
        self.unfilled: set[str] = set()
        self.app = app
        self.subscription = subscription
        self.admin = admin
        self.operator = tokens["operator"]
        self.checkout = tokens["checkout"]
        self.publish = publish
        self.consumed = consumed
        self.published = published
        self.trace: list[str] = []

    # --- the start of an example --------------------------------------------------------------
    async def start(self) -> None:
        await harness.reset(self.app)
        self.published.clear()  # the inbox was emptied: count only this example's events
        self.trace = []
        self.app.deps.clock.set(T0)
        s = self.app.deps.settings
        self.model = Model(
            T0,
            PLANS,
            zone=s.business_zone,
            renewal=self.app.usecases.renewals.policy,
            cooling_off=dt.timedelta(days=s.cooling_off_days),
            payment_window=dt.timedelta(seconds=s.payment_window_seconds),
        )
        self.stacking_limit = dt.timedelta(days=s.stacking_limit_days)
        self.members = [uid() for _ in range(MEMBERS)]
        for member in self.members:
            self.model.add_member(member)
        self.subs: dict[str, str] = {}  # the model's subscription id → the service's
        self.charge_orders: dict[str, str] = {}  # the model's charge id → its RENEWAL order
        self.codes: list[str] = []  # as exported, "XXXX-XXXX-XXXX-XXXX"

        pool = await self.admin.CreatePerkPool(
            admin_pb.CreatePerkPoolRequest(
                request_id=uid(), display_name="Video VIP 12 months", partner="tencent_video"
            ),
            metadata=self.operator,
        )
        self.pool_id = pool.pool.perk_pool_id
        for plan in PLANS:
            await self.admin.CreatePlan(
                admin_pb.CreatePlanRequest(request_id=uid(), plan=plan_proto(plan, self.pool_id)),
                metadata=self.operator,
            )
        await self.admin.UploadPerkCodes(
            admin_pb.UploadPerkCodesRequest(
                request_id=uid(), perk_pool_id=self.pool_id, codes=PERK_CODES
            ),
            metadata=self.operator,
        )
        self.model.upload_perk_codes(PERK, PERK_CODES)
        for plan_id, days, count in CODE_BATCHES:
            await self._code_batch(plan_id, T0 + dt.timedelta(days=days), count)

    async def _code_batch(self, plan_id: str, redeem_by: dt.datetime, count: int) -> None:
        request = admin_pb.CreateCodeBatchRequest(
            request_id=uid(), channel="airline:ca", plan_id=plan_id, code_count=count
        )
        request.redeem_by.FromDatetime(redeem_by)
        made = await self.admin.CreateCodeBatch(request, metadata=self.operator)
        while True:
            page = await self.admin.ExportCodeBatch(
                admin_pb.ExportCodeBatchRequest(
                    request_id=uid(), code_batch_id=made.batch.code_batch_id
                ),
                metadata=self.operator,
            )
            for row in page.rows:
                code = codes.parse(row.code)
                assert isinstance(code, str), row.code
                self.model.issue_code(code, plan_id, redeem_by)
                self.codes.append(row.code)
            if page.remaining_count == 0:
                return

    # --- ids, picks and the trace ---------------------------------------------------------------
    def member(self, pick: int) -> str:
        return self.members[pick % len(self.members)]

    def link(self, model_sub: str | None, service_sub: str) -> None:
        """The model's subscription `model_sub` is the service's `service_sub`."""
        if model_sub is None:
            return
        known = self.subs.setdefault(model_sub, service_sub)
        if known != service_sub:
            self.disagree(f"{model_sub} is {known} in the service, now {service_sub}")

    def sub_id(self, member: str) -> str:
        """The service's id of the member's latest subscription (the model's), or an id of
        none (the service then answers SUBSCRIPTION_NOT_FOUND, as the model does)."""
        latest = self.model.latest(member)
        return self.subs[latest.sub_id] if latest else uid()

    def fills(self, gap: str) -> bool:
        """Whether the step accepts the service's answer where the model lacks `gap`."""
        return gap not in self.unfilled

    def note(self, text: str) -> None:
        self.trace.append(f"{self.model.now:%Y-%m-%d %H:%M:%S} {text}")

    def disagree(self, message: str) -> NoReturn:
        names = {m: f"member{i}" for i, m in enumerate(self.members)}
        trace = "\n  ".join(self.trace)
        for member, name in names.items():
            message, trace = message.replace(member, name), trace.replace(member, name)
        raise Disagreement(f"{message}\nsteps so far:\n  {trace}")

    def same(self, what: str, expected: Any, actual: Any) -> None:
        if expected == actual:
            return
        if isinstance(expected, dict) and isinstance(actual, dict):
            keys = sorted(set(expected) | set(actual), key=str)
            shown = {
                k: (expected.get(k), actual.get(k))
                for k in keys
                if expected.get(k) != actual.get(k)
            }
            self.disagree(f"{what}: (model, service) differ at {shown}")
        self.disagree(f"{what}: model {expected!r}, service {actual!r}")

    # --- running a step on both -----------------------------------------------------------------
    async def call(self, rpc) -> tuple[Any, str | None]:
        """The response, or the refusal's reason (its status code when it names none)."""
        try:
            response, reason = await rpc, None
        except grpc.aio.AioRpcError as error:
            failure = failure_of(error)
            response, reason = None, failure.reason or failure.code.name
        if self.trace:
            self.trace[-1] += f" → {reason or 'done'}"
        return response, reason

    def refused_alike(
        self,
        what: str,
        reason: str,
        model_step: Callable[[Model], object],
        alike: Alike = lambda s, m, model: s == m,
    ) -> None:
        """The service refused: the model, on a copy, must refuse too, for a reason `alike`
        says is the same (with None for a model that accepted: only a MODEL GAP explains it)."""
        trial = copy.deepcopy(self.model)
        try:
            model_step(trial)
        except Refused as refused:
            if not alike(reason, refused.reason, self.model):
                self.disagree(f"{what}: the service refused {reason}, the model {refused.reason}")
            return
        if not alike(reason, None, trial):
            self.disagree(f"{what}: the service refused {reason}, the model accepted")

    def accepted(self, what: str, model_step: Callable[[Model], Any]) -> Any:
        """The service carried the step out: the model must accept it."""
        try:
            return model_step(self.model)
        except Refused as refused:
            self.disagree(f"{what}: the service accepted, the model refused {refused.reason}")

    async def either(self, what: str, model_step: Callable[[Model], Any], before: dict) -> None:
        """A step the service has no refusal for (an event it ignores): the model takes it, or
        refuses it and the service must have changed nothing."""
        trial = copy.deepcopy(self.model)
        try:
            model_step(trial)
        except Refused as refused:
            self.trace[-1] += f" (model: {refused.reason})"
            await self.unchanged(before, what)
            return
        self.model = trial

    async def snapshot(self) -> dict[str, str]:
        """A digest of every row a step may change (one round trip)."""
        parts = [
            f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM ({q}) t)"
            for q in _ROWS.values()
        ]
        row = await self.app.pool.fetchrow(f"SELECT {', '.join(parts)}")
        return dict(zip(_ROWS, row.values(), strict=True))

    async def unchanged(self, before: dict[str, str], what: str) -> None:
        after = await self.snapshot()
        changed = [t for t in before if before[t] != after[t]]
        if changed:
            self.disagree(f"{what}: refused, yet it changed {changed}")

    async def wait(self, type_: str) -> None:
        await self.consumed(type_, len(self.published.get(type_, ())))

    async def parked(self, order_id: str) -> list[str]:
        got = await self.admin.ListParkedPayments(
            admin_pb.ListParkedPaymentsRequest(order_id=order_id, page_size=500),
            metadata=self.operator,
        )
        return [p.reason for p in got.payments]

    # --- time -----------------------------------------------------------------------------------
    async def advance(self, delta: dt.timedelta) -> None:
        """Time passes: the model's clock and expiry job, the service's clock and clock job."""
        self.model.advance(delta)
        self.app.deps.clock.set(self.model.now)
        await jobs.apply_clock(self.app.usecases, self.app.pool, self.model.now)
