"""Redemption code batches: created by operators (bounds, plans), their codes drawn when
exported and delivered once, a lost page recovered by voiding it, codes stored only as keyed
hashes, every change audited without a code; listed newest first."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.type.v1 import money_pb2
from services.kit.timestamps import to_proto
from services.subscription.domain import codes
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot
from tests.support.subscription_codes import (
    START,
    batch_request,
    code_rows,
    export,
    found_anywhere,
    new_batch,
    plan,
    redeem,
)

DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
_PRINTED = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


async def test_codes_are_exported_once_and_a_lost_page_is_recovered(
    subscription, admin, operator, mint, clock, subscription_app
):
    pool = subscription_app.pool
    clock.set(START)
    await plan(admin, operator)
    batch = await new_batch(admin, operator, 5, note="CA miles, agreement 2026-07")
    assert batch.state == res.CODE_BATCH_STATE_CREATED
    assert (batch.plan_version, batch.code_count, batch.created_by) == (
        1,
        5,
        "operator:ops-alice",
    )
    assert await code_rows(pool) == []  # nothing secret exists before the export
    batch_id = batch.code_batch_id
    first_request = uid()
    first = await export(admin, operator, batch_id, page_size=3, request_id=first_request)
    assert (first.page, first.remaining_count) == (1, 2)
    assert first.batch.state == res.CODE_BATCH_STATE_EXPORTING
    assert (first.batch.exported_count, first.batch.export_page_count) == (3, 1)
    assert [r.sequence for r in first.rows] == [1, 2, 3]
    assert all(_PRINTED.fullmatch(r.code) for r in first.rows)
    lines = first.csv.split("\r\n")
    assert lines[0] == "sequence,code,channel,plan_id,redeem_by"
    assert lines[1] == f"1,{first.rows[0].code},airline:ca,plus_yearly,2026-06-08T04:30:00Z"
    assert len(lines) == 5 and lines[-1] == ""
    # A replay answers as the first call did, without a code.
    replay = await export(admin, operator, batch_id, page_size=3, request_id=first_request)
    assert (replay.page, replay.csv) == (1, "")
    assert [(r.sequence, r.code) for r in replay.rows] == [(1, ""), (2, ""), (3, "")]
    second = await export(admin, operator, batch_id)
    assert (second.page, second.remaining_count) == (2, 0)
    assert [r.sequence for r in second.rows] == [4, 5]
    assert second.batch.state == res.CODE_BATCH_STATE_EXPORTED
    await fails(export(admin, operator, batch_id), PRECONDITION, "CODES_ALREADY_EXPORTED")
    stored = await code_rows(pool)
    assert [(r["sequence"], r["page"], r["key_id"]) for r in stored] == [
        (1, 1, "t1"),
        (2, 1, "t1"),
        (3, 1, "t1"),
        (4, 2, "t1"),
        (5, 2, "t1"),
    ]
    assert all(len(r["digest"]) == 32 for r in stored)
    # Page 2 was lost after one of its codes reached a member: the other is voided.
    kept, lost = second.rows[0].code, second.rows[1].code
    member = str(uuid.uuid4())
    await redeem(subscription, mint(member), member, kept)
    recovered = await admin.RecoverCodeBatchExport(
        admin_pb.RecoverCodeBatchExportRequest(
            request_id=uid(), code_batch_id=batch_id, from_page=2, reason="page 2 e-mail lost"
        ),
        metadata=operator,
    )
    assert recovered.voided_count == 1
    assert recovered.batch.state == res.CODE_BATCH_STATE_EXPORTING
    (recovery,) = recovered.batch.recoveries
    assert (recovery.from_page, recovery.voided_count, recovery.recovered_by, recovery.reason) == (
        2,
        1,
        "operator:ops-alice",
        "page 2 e-mail lost",
    )
    third = await export(admin, operator, batch_id)
    assert (third.page, [r.sequence for r in third.rows], third.remaining_count) == (3, [6], 0)
    other = str(uuid.uuid4())
    await fails(redeem(subscription, mint(other), other, lost), DENIED, "CODE_INVALID")
    await redeem(subscription, mint(other), other, third.rows[0].code)
    got = await admin.GetCodeBatch(
        admin_pb.GetCodeBatchRequest(code_batch_id=batch_id), metadata=operator
    )
    b = got.batch
    assert (b.state, b.code_count, b.exported_count, b.voided_count, b.redeemed_count) == (
        res.CODE_BATCH_STATE_EXPORTED,
        5,
        6,
        1,
        2,
    )
    # Who exported which page is audited; no code is kept anywhere, hashed codes aside.
    audited = await pool.fetch(
        "SELECT action, detail FROM audit_log WHERE subject = $1 ORDER BY id", batch_id
    )
    assert [(a["action"], a["detail"].get("page")) for a in audited] == [
        ("subscription.code_batch.create", None),
        ("subscription.code_batch.export", 1),
        ("subscription.code_batch.export", 2),
        ("subscription.code_batch.recover_export", None),
        ("subscription.code_batch.export", 3),
    ]
    for row in [*first.rows, *second.rows, *third.rows]:
        assert await found_anywhere(pool, row.code) == []


async def test_batch_bounds_and_plans_are_checked(
    subscription, admin, operator, clock, subscription_app
):
    pool = subscription_app.pool
    clock.set(START)
    await plan(admin, operator)
    await plan(admin, operator, plan_id="plus_retired", on_sale=False)
    await plan(
        admin,
        operator,
        plan_id="plus_trial",
        kind=res.PLAN_KIND_TRIAL,
        trial_days=7,
        price=money_pb2.Money(currency_code="CNY", amount_minor=0),
    )
    longest = START + codes.MAX_VALIDITY
    before = await snapshot(pool, "code_batches", "audit_log")

    async def refused(request, *expected):
        return await fails(admin.CreateCodeBatch(request, metadata=operator), *expected)

    both = ["code_count", "redeem_by"]
    await refused(batch_request(0, START), INVALID, "INVALID_ARGUMENT", both)
    await refused(batch_request(-1, START - dt.timedelta(days=1)), INVALID, None, both)
    await refused(
        batch_request(codes.MAX_BATCH + 1, longest + dt.timedelta(seconds=1)), INVALID, None, both
    )
    await refused(batch_request(3, None), INVALID, None, ["redeem_by"])
    huge = batch_request(3)
    huge.redeem_by.seconds = 253402300800  # past the year 9999
    await refused(huge, INVALID, None, ["redeem_by"])
    for channel in ("", "Airline:CA", "airline ca", "a" * 65):
        await refused(batch_request(3, channel=channel), INVALID, None, ["channel"])
    await refused(batch_request(3, note="n" * 513), INVALID, None, ["note"])
    await refused(batch_request(3, plan_id=""), INVALID, None, ["plan_id"])
    await refused(batch_request(3, plan_id="nope"), grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND")
    await refused(batch_request(3, plan_id="plus_trial"), PRECONDITION, "PLAN_IS_TRIAL")
    await refused(batch_request(3, plan_id="plus_retired"), PRECONDITION, "PLAN_NOT_ON_SALE")
    assert await snapshot(pool, "code_batches", "audit_log") == before
    largest = await new_batch(admin, operator, codes.MAX_BATCH, redeem_by=longest)
    assert largest.code_count == codes.MAX_BATCH
    assert largest.redeem_by == to_proto(longest)


async def test_only_operators_manage_batches_and_their_input_is_checked(
    subscription, admin, operator, mint, checkout, clock, subscription_app
):
    clock.set(START)
    await plan(admin, operator)
    batch = await new_batch(admin, operator, 2)
    batch_id = batch.code_batch_id
    member = mint(str(uuid.uuid4()))
    for caller in (member, checkout):
        await fails(
            admin.CreateCodeBatch(batch_request(), metadata=caller), DENIED, "MISSING_SCOPE"
        )
        await fails(
            admin.GetCodeBatch(
                admin_pb.GetCodeBatchRequest(code_batch_id=batch_id), metadata=caller
            ),
            DENIED,
            "MISSING_SCOPE",
        )
    await fails(export(admin, operator, batch_id, page_size=-1), INVALID, None, ["page_size"])
    await fails(export(admin, operator, "batch-1"), INVALID, None, ["code_batch_id"])
    await fails(
        export(admin, operator, str(uuid.uuid4())),
        grpc.StatusCode.NOT_FOUND,
        "CODE_BATCH_NOT_FOUND",
    )

    def recover(from_page: int, reason: str = "lost"):
        return admin.RecoverCodeBatchExport(
            admin_pb.RecoverCodeBatchExportRequest(
                request_id=uid(), code_batch_id=batch_id, from_page=from_page, reason=reason
            ),
            metadata=operator,
        )

    def disable(reason: str):
        return admin.DisableCodeBatch(
            admin_pb.DisableCodeBatchRequest(
                request_id=uid(), code_batch_id=batch_id, reason=reason
            ),
            metadata=operator,
        )

    await fails(recover(1), PRECONDITION, "NOTHING_EXPORTED")
    await export(admin, operator, batch_id, page_size=1)
    before = await snapshot(subscription_app.pool, "code_batches", "redemption_codes")
    await fails(recover(0), INVALID, "INVALID_ARGUMENT", ["from_page"])
    await fails(recover(2), INVALID, "INVALID_ARGUMENT", ["from_page"])
    await fails(recover(1, reason="  "), INVALID, "REASON_REQUIRED", ["reason"])
    await fails(disable(""), INVALID, "REASON_REQUIRED", ["reason"])
    await fails(disable("x" * 513), INVALID, "INVALID_ARGUMENT", ["reason"])
    assert await snapshot(subscription_app.pool, "code_batches", "redemption_codes") == before
    await disable("agreement ended")
    await fails(disable("again"), PRECONDITION, "CODE_BATCH_DISABLED")
    await fails(export(admin, operator, batch_id), PRECONDITION, "CODE_BATCH_DISABLED")
    await fails(recover(1), PRECONDITION, "CODE_BATCH_DISABLED")
    audited = await subscription_app.pool.fetch(
        "SELECT actor, action, detail FROM audit_log WHERE subject = $1 ORDER BY id", batch_id
    )
    assert (audited[-1]["actor"], audited[-1]["action"], audited[-1]["detail"]["reason"]) == (
        "operator:ops-alice",
        "subscription.code_batch.disable",
        "agreement ended",
    )


async def test_batches_are_listed_newest_first_and_filtered(subscription, admin, operator, clock):
    clock.set(START)
    await plan(admin, operator)
    oldest = await new_batch(admin, operator, 1)
    middle = await new_batch(admin, operator, 1, channel="bank:cmb")
    newest = await new_batch(admin, operator, 1)
    await export(admin, operator, middle.code_batch_id)

    async def listed(**fields) -> admin_pb.ListCodeBatchesResponse:
        return await admin.ListCodeBatches(
            admin_pb.ListCodeBatchesRequest(**fields), metadata=operator
        )

    first = await listed(page_size=2)
    assert [b.code_batch_id for b in first.batches] == [
        newest.code_batch_id,
        middle.code_batch_id,
    ]
    rest = await listed(page_size=2, page_token=first.next_page_token)
    assert [b.code_batch_id for b in rest.batches] == [oldest.code_batch_id]
    assert rest.next_page_token == ""
    airline = await listed(channel="airline:ca")
    assert [b.code_batch_id for b in airline.batches] == [
        newest.code_batch_id,
        oldest.code_batch_id,
    ]
    done = await listed(state=res.CODE_BATCH_STATE_EXPORTED, plan_id="plus_yearly")
    assert [b.code_batch_id for b in done.batches] == [middle.code_batch_id]
    assert (await listed(plan_id="other")).batches == []
    await fails(listed(state=99), INVALID, None, ["state"])
    await fails(
        listed(page_size=2, page_token=first.next_page_token, channel="bank:cmb"),
        INVALID,
        None,
        ["page_token"],
    )
