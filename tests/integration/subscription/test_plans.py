"""Plans: created and versioned by operators (audited), read by any valid token; invalid plans
are refused naming every bad field, and change nothing."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import field_mask_pb2

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot


def yearly(plan_id: str = "plus_yearly", price: int = 148_00, **fields) -> res.Plan:
    values: dict[str, Any] = dict(
        plan_id=plan_id,
        display_name="PLUS yearly",
        kind=res.PLAN_KIND_YEARLY,
        price=money_pb2.Money(currency_code="CNY", amount_minor=price),
        member_discount_bps=500,
        on_sale=True,
        benefits=[
            res.Benefit(
                benefit_id="free_shipping",
                kind=res.BENEFIT_KIND_COUPON_PACK,
                display_name="Free shipping",
                quantity=4,
                value=money_pb2.Money(currency_code="CNY", amount_minor=6_00),
                coupon_template_id="tpl-shipping",
            )
        ],
    )
    values.update(fields)
    return res.Plan(**values)


async def create(admin, operator, plan: res.Plan) -> res.Plan:
    made = await admin.CreatePlan(
        admin_pb.CreatePlanRequest(request_id=uid(), plan=plan), metadata=operator
    )
    return made.plan


async def test_a_plan_is_created_versioned_and_read_by_anyone(
    subscription, admin, operator, mint, subscription_app
):
    created = await create(admin, operator, yearly())
    assert (created.version, created.points_multiplier, created.created_by) == (
        1,
        10,
        "operator:ops-alice",
    )
    updated = await admin.UpdatePlan(
        admin_pb.UpdatePlanRequest(
            request_id=uid(),
            plan=res.Plan(
                plan_id="plus_yearly",
                version=2,
                price=money_pb2.Money(currency_code="CNY", amount_minor=198_00),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["price"]),
        ),
        metadata=operator,
    )
    assert (updated.plan.version, updated.plan.price.amount_minor) == (2, 198_00)
    assert updated.plan.benefits[0].benefit_id == "free_shipping"  # kept from version 1
    member = mint("0197a000-0000-7000-8000-000000000001")
    latest = await subscription.GetPlan(pb.GetPlanRequest(plan_id="plus_yearly"), metadata=member)
    assert latest.plan.version == 2
    first = await subscription.GetPlan(
        pb.GetPlanRequest(plan_id="plus_yearly", version=1), metadata=member
    )
    assert first.plan.price.amount_minor == 148_00
    await fails(
        subscription.GetPlan(pb.GetPlanRequest(plan_id="plus_yearly", version=7), metadata=member),
        grpc.StatusCode.NOT_FOUND,
        "PLAN_VERSION_NOT_FOUND",
    )
    await create(admin, operator, yearly("plus_monthly", 15_00, kind=res.PLAN_KIND_MONTHLY))
    listed = await subscription.ListPlans(pb.ListPlansRequest(page_size=1), metadata=member)
    assert [p.plan_id for p in listed.plans] == ["plus_monthly"]
    rest = await subscription.ListPlans(
        pb.ListPlansRequest(page_size=1, page_token=listed.next_page_token), metadata=member
    )
    assert [(p.plan_id, p.version) for p in rest.plans] == [("plus_yearly", 2)]
    assert rest.next_page_token == ""
    audit = await subscription_app.pool.fetch("SELECT action, actor FROM audit_log ORDER BY id")
    assert [(r["action"], r["actor"]) for r in audit] == [
        ("subscription.plan.create", "operator:ops-alice"),
        ("subscription.plan.update", "operator:ops-alice"),
        ("subscription.plan.create", "operator:ops-alice"),
    ]


async def test_invalid_plans_are_refused_naming_every_field_and_change_nothing(
    subscription, admin, operator, subscription_app
):
    await create(admin, operator, yearly())
    before = await snapshot(subscription_app.pool, "plans", "audit_log")
    bad = yearly(
        "Bad Id",
        price=0,
        points_multiplier=101,
        member_discount_bps=10_000,
        benefits=[
            res.Benefit(
                benefit_id="x",
                kind=res.BENEFIT_KIND_COUPON_PACK,
                display_name="X",
                quantity=0,
                coupon_template_id="t",
            )
        ],
    )
    await fails(
        admin.CreatePlan(admin_pb.CreatePlanRequest(request_id=uid(), plan=bad), metadata=operator),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        [
            "plan.plan_id",
            "plan.price.amount_minor",
            "plan.points_multiplier",
            "plan.member_discount_bps",
            "plan.benefits[0].benefit_id",
            "plan.benefits[0].quantity",
        ],
    )
    trial = yearly("plus_trial", price=1, kind=res.PLAN_KIND_TRIAL, trial_days=7)
    await fails(
        admin.CreatePlan(
            admin_pb.CreatePlanRequest(request_id=uid(), plan=trial), metadata=operator
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "TRIAL_NOT_FREE",
        ["plan.price.amount_minor"],
    )
    await fails(
        admin.CreatePlan(
            admin_pb.CreatePlanRequest(request_id=uid(), plan=yearly()), metadata=operator
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "PLAN_ALREADY_EXISTS",
    )
    stale = admin_pb.UpdatePlanRequest(
        request_id=uid(),
        plan=res.Plan(plan_id="plus_yearly", version=1, display_name="PLUS"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )
    await fails(
        admin.UpdatePlan(stale, metadata=operator),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PLAN_VERSION_CONFLICT",
        ["plan.version"],
    )
    currency = admin_pb.UpdatePlanRequest(
        request_id=uid(),
        plan=res.Plan(
            plan_id="plus_yearly",
            version=2,
            price=money_pb2.Money(currency_code="USD", amount_minor=20_00),
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["price"]),
    )
    await fails(
        admin.UpdatePlan(currency, metadata=operator),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PLAN_CURRENCY_CHANGED",
        ["plan.price"],
    )
    kind = admin_pb.UpdatePlanRequest(
        request_id=uid(),
        plan=res.Plan(plan_id="plus_yearly", version=2, kind=res.PLAN_KIND_MONTHLY),
        update_mask=field_mask_pb2.FieldMask(paths=["kind"]),
    )
    await fails(
        admin.UpdatePlan(kind, metadata=operator),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["update_mask"],
    )
    assert await snapshot(subscription_app.pool, "plans", "audit_log") == before


async def test_only_operators_write_plans(subscription, admin, mint, checkout):
    for caller in (mint("0197a000-0000-7000-8000-000000000002"), checkout):
        await fails(
            admin.CreatePlan(
                admin_pb.CreatePlanRequest(request_id=uid(), plan=yearly()), metadata=caller
            ),
            grpc.StatusCode.PERMISSION_DENIED,
            "MISSING_SCOPE",
        )
