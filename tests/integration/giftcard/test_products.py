"""Card products and approval policies, through the back office: created, read, listed,
changed, audited; every bad input one precise error that changes nothing."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from tests.support import snapshots
from tests.support.grpc_errors import fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
TABLES = ("products", "approval_policies", "idempotency", "audit_log")


async def snapshot(pool) -> dict:
    return await snapshots.snapshot(pool, *TABLES)


def product(**overrides) -> res.Product:
    values = {
        "display_name": "Shopping card 500 CNY",
        "kind": res.PRODUCT_KIND_DENOMINATION,
        "currency_code": "CNY",
        "face_value_minor": 500_00,
        "channels": ["store", "online"],
        "enabled": True,
    }
    values.update(overrides)
    return res.Product(**values)


async def create(giftcard, manager, **overrides) -> res.Product:
    response = await giftcard.CreateProduct(
        pb.CreateProductRequest(request_id=uid(), product=product(**overrides)), metadata=manager
    )
    return response.product


@pytest.fixture
def manager(staff):
    return staff("mgr.wang", "manager")


async def test_a_product_is_created_read_listed_changed_and_audited(
    giftcard, giftcard_app, manager, mint
):
    fixed = await create(giftcard, manager, validity_months=0)
    custom = await create(
        giftcard,
        manager,
        display_name="Bulk order card",
        kind=res.PRODUCT_KIND_CUSTOM,
        face_value_minor=0,
        channels=[],
        validity_months=12,
        enabled=False,
    )
    assert fixed.validity_months == 36  # 0: the default, three years
    assert (fixed.face_value_minor, custom.face_value_minor) == (500_00, 0)
    assert (fixed.enabled, custom.enabled) == (True, False)

    member = mint("m-1", kind="member")
    read = await giftcard.GetProduct(
        pb.GetProductRequest(product_id=fixed.product_id), metadata=member
    )
    assert read.product == fixed

    listed = await giftcard.ListProducts(pb.ListProductsRequest(), metadata=member)
    assert [p.display_name for p in listed.products] == ["Bulk order card", "Shopping card 500 CNY"]
    enabled = await giftcard.ListProducts(
        pb.ListProductsRequest(enabled_only=True), metadata=member
    )
    assert [p.product_id for p in enabled.products] == [fixed.product_id]

    changed = await giftcard.UpdateProduct(
        pb.UpdateProductRequest(
            request_id=uid(),
            product=res.Product(
                product_id=custom.product_id, enabled=True, validity_months=24, channels=["mall"]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled", "validity_months", "channels"]),
        ),
        metadata=manager,
    )
    assert (changed.product.enabled, changed.product.validity_months) == (True, 24)
    assert list(changed.product.channels) == ["mall"]
    assert changed.product.display_name == "Bulk order card"  # not in the mask: kept

    audit = await giftcard_app.pool.fetch(
        "SELECT actor, action, subject, detail FROM audit_log ORDER BY id"
    )
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("operator:mgr.wang", "giftcard.product.create"),
        ("operator:mgr.wang", "giftcard.product.create"),
        ("operator:mgr.wang", "giftcard.product.update"),
    ]
    assert audit[2]["subject"] == custom.product_id
    assert audit[2]["detail"]["changed"]["enabled"] == {"from": False, "to": True}
    assert audit[2]["detail"]["role"] == "giftcard:manager"


async def test_products_page_by_display_name(giftcard, manager):
    names = [f"Card {i:02d}" for i in range(7)]
    for name in reversed(names):
        await create(giftcard, manager, display_name=name)
    seen, token = [], ""
    while True:
        page = await giftcard.ListProducts(
            pb.ListProductsRequest(page_size=3, page_token=token), metadata=manager
        )
        seen += [p.display_name for p in page.products]
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    await fails(
        giftcard.ListProducts(
            pb.ListProductsRequest(page_size=3, page_token=page.next_page_token or "x"),
            metadata=manager,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["page_token"],
    )


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"display_name": ""}, ["product.display_name"]),
        ({"display_name": "x" * 129}, ["product.display_name"]),
        ({"display_name": "bad\x00name"}, ["product.display_name"]),
        ({"kind": res.PRODUCT_KIND_UNSPECIFIED}, ["product.kind"]),
        ({"currency_code": "cny"}, ["product.currency_code"]),
        ({"face_value_minor": 0}, ["product.face_value_minor"]),
        ({"face_value_minor": -100}, ["product.face_value_minor"]),
        ({"face_value_minor": 10**8 + 1}, ["product.face_value_minor"]),
        (
            {"kind": res.PRODUCT_KIND_CUSTOM, "face_value_minor": 100},
            ["product.face_value_minor"],
        ),
        ({"validity_months": 121}, ["product.validity_months"]),
        ({"validity_months": -1}, ["product.validity_months"]),
        ({"channels": ["Store!"]}, ["product.channels"]),
        ({"channels": ["store", "store"]}, ["product.channels"]),
        (
            {"display_name": "", "currency_code": "", "validity_months": 200},
            ["product.display_name", "product.currency_code", "product.validity_months"],
        ),
    ],
)
async def test_a_bad_product_is_refused_and_changes_nothing(
    giftcard, giftcard_app, manager, overrides, fields
):
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.CreateProduct(
            pb.CreateProductRequest(request_id=uid(), product=product(**overrides)),
            metadata=manager,
        ),
        INVALID,
        None,
        fields,
    )
    assert await snapshot(giftcard_app.pool) == before


async def test_updates_refused_precisely(giftcard, giftcard_app, manager, staff):
    made = await create(giftcard, manager)
    before = await snapshot(giftcard_app.pool)

    def update(paths, **fields):
        return giftcard.UpdateProduct(
            pb.UpdateProductRequest(
                request_id=uid(),
                product=res.Product(**{"product_id": made.product_id, **fields}),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
            metadata=manager,
        )

    await fails(update(["face_value_minor"], face_value_minor=1), INVALID, None, ["update_mask"])
    await fails(update(["currency_code"], currency_code="USD"), INVALID, None, ["update_mask"])
    await fails(update([]), INVALID, None, ["update_mask"])
    await fails(
        update(["validity_months"], validity_months=0), INVALID, None, ["product.validity_months"]
    )
    await fails(update(["display_name"], display_name=" "), INVALID, None, ["product.display_name"])
    await fails(update(["channels"], channels=["A B"]), INVALID, None, ["product.channels"])
    await fails(update(["enabled"], product_id="not-a-uuid"), INVALID, None, ["product.product_id"])
    await fails(update(["enabled"], product_id=uid()), NOT_FOUND, "PRODUCT_NOT_FOUND")
    await fails(
        giftcard.UpdateProduct(
            pb.UpdateProductRequest(
                request_id=uid(),
                product=res.Product(product_id=made.product_id),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
            ),
            metadata=staff("req.li", "requester"),
        ),
        DENIED,
        "MISSING_SCOPE",
    )
    await fails(
        giftcard.GetProduct(pb.GetProductRequest(product_id=uid()), metadata=manager),
        NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )
    await fails(
        giftcard.GetProduct(pb.GetProductRequest(product_id="42"), metadata=manager),
        INVALID,
        None,
        ["product_id"],
    )
    assert await snapshot(giftcard_app.pool) == before


async def test_only_managers_create_products(giftcard, giftcard_app, staff, mint):
    before = await snapshot(giftcard_app.pool)
    for caller in (staff("req.li", "requester", "approver"), mint("m-1", kind="member")):
        await fails(
            giftcard.CreateProduct(
                pb.CreateProductRequest(request_id=uid(), product=product()), metadata=caller
            ),
            DENIED,
            "MISSING_SCOPE",
        )
    assert await snapshot(giftcard_app.pool) == before


# --- approval policies ----------------------------------------------------------------------
def band(max_amount_minor: int, *roles: str) -> res.ApprovalBand:
    return res.ApprovalBand(
        max_amount_minor=max_amount_minor, required_roles=[f"giftcard:{r}" for r in roles]
    )


async def test_approval_policies_are_versioned_data(giftcard, giftcard_app, manager, staff):
    requester = staff("req.li", "requester")
    default = await giftcard.GetApprovalPolicy(
        pb.GetApprovalPolicyRequest(subject=res.APPROVAL_SUBJECT_BATCH), metadata=requester
    )
    assert default.policy.version == 0
    assert default.policy.updated_by == ""
    assert [list(b.required_roles) for b in default.policy.bands] == [
        ["giftcard:approver"],
        ["giftcard:approver", "giftcard:manager"],
    ]

    stored = await giftcard.SetApprovalPolicy(
        pb.SetApprovalPolicyRequest(
            request_id=uid(),
            policy=res.ApprovalPolicy(
                subject=res.APPROVAL_SUBJECT_BATCH,
                currency_code="CNY",
                bands=[band(1_000_00, "approver"), band(0, "manager", "approver")],
            ),
        ),
        metadata=manager,
    )
    assert stored.policy.version == 1
    assert stored.policy.updated_by == "operator:mgr.wang"
    assert [b.max_amount_minor for b in stored.policy.bands] == [1_000_00, 0]

    now = await giftcard.GetApprovalPolicy(
        pb.GetApprovalPolicyRequest(subject=res.APPROVAL_SUBJECT_BATCH), metadata=manager
    )
    assert now.policy == stored.policy
    old = await giftcard.GetApprovalPolicy(
        pb.GetApprovalPolicyRequest(subject=res.APPROVAL_SUBJECT_BATCH, version=0),
        metadata=manager,
    )
    assert old.policy == default.policy
    await fails(
        giftcard.GetApprovalPolicy(
            pb.GetApprovalPolicyRequest(subject=res.APPROVAL_SUBJECT_BATCH, version=2),
            metadata=manager,
        ),
        NOT_FOUND,
        "POLICY_VERSION_NOT_FOUND",
    )
    await fails(
        giftcard.GetApprovalPolicy(pb.GetApprovalPolicyRequest(), metadata=manager),
        INVALID,
        None,
        ["subject"],
    )
    await fails(
        giftcard.GetApprovalPolicy(
            pb.GetApprovalPolicyRequest(subject=res.APPROVAL_SUBJECT_BATCH),
            metadata=staff("ld.zhao", "loader"),
        ),
        DENIED,
        "MISSING_SCOPE",
    )
    (entry,) = await giftcard_app.pool.fetch("SELECT actor, action, subject, detail FROM audit_log")
    assert (entry["action"], entry["subject"]) == ("giftcard.approval_policy.set", "batch")
    assert entry["detail"]["version"] == 1


@pytest.mark.parametrize(
    ("subject", "bands", "fields"),
    [
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(5_000, "approver"), band(1_000, "manager"), band(0, "manager")],
            ["policy.bands[1].max_amount_minor"],
        ),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(1_000, "approver"), band(5_000, "manager")],
            ["policy.bands[1].max_amount_minor"],
        ),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(0, "approver"), band(0, "manager")],
            ["policy.bands[0].max_amount_minor"],
        ),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(-5, "approver"), band(0, "manager")],
            ["policy.bands[0].max_amount_minor"],
        ),
        (res.APPROVAL_SUBJECT_BATCH, [band(0)], ["policy.bands[0].required_roles"]),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(0, "approver", "loader")],
            ["policy.bands[0].required_roles[1]"],
        ),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(0, "requester")],
            ["policy.bands[0].required_roles[0]"],
        ),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(0, "approver", "approver")],
            ["policy.bands[0].required_roles[1]"],
        ),
        (
            res.APPROVAL_SUBJECT_AFTER_SALE,
            [band(100, "manager"), band(0, "approver")],
            ["policy.bands[1].required_roles"],
        ),
        (res.APPROVAL_SUBJECT_UNSPECIFIED, [band(0, "approver")], ["policy.subject"]),
        (res.APPROVAL_SUBJECT_BATCH, [], ["policy.bands"]),
        (
            res.APPROVAL_SUBJECT_BATCH,
            [band(i + 1, "approver") for i in range(11)],
            ["policy.bands"],
        ),
    ],
)
async def test_a_bad_policy_is_refused_with_field_violations(
    giftcard, giftcard_app, manager, subject, bands, fields
):
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.SetApprovalPolicy(
            pb.SetApprovalPolicyRequest(
                request_id=uid(),
                policy=res.ApprovalPolicy(subject=subject, currency_code="CNY", bands=bands),
            ),
            metadata=manager,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        fields,
    )
    assert await snapshot(giftcard_app.pool) == before


async def test_policies_are_set_by_managers_only(giftcard, giftcard_app, staff):
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.SetApprovalPolicy(
            pb.SetApprovalPolicyRequest(
                request_id=uid(),
                policy=res.ApprovalPolicy(
                    subject=res.APPROVAL_SUBJECT_BATCH,
                    currency_code="CNY",
                    bands=[band(0, "approver")],
                ),
            ),
            metadata=staff("ap.chen", "approver", "requester"),
        ),
        DENIED,
        "MISSING_SCOPE",
    )
    assert await snapshot(giftcard_app.pool) == before
