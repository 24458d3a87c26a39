"""Redemption code steps for subscription tests: a plan, a batch of codes issued (created and
exported), a code redeemed, and what the database holds of codes and failed attempts."""

from __future__ import annotations

import datetime as dt

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin_pb
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from loyalty.type.v1 import money_pb2
from services.kit.timestamps import to_proto
from services.subscription.domain import codes
from tests.support.ids import uid
from tests.support.snapshots import snapshot

START = dt.datetime(2026, 3, 10, 4, 30, tzinfo=dt.UTC)  # 12:30 in Asia/Shanghai
REDEEM_BY = START + dt.timedelta(days=90)


def yearly(plan_id: str = "plus_yearly", **fields) -> res.Plan:
    values: dict = dict(
        plan_id=plan_id,
        display_name="PLUS yearly",
        kind=res.PLAN_KIND_YEARLY,
        price=money_pb2.Money(currency_code="CNY", amount_minor=148_00),
        member_discount_bps=500,
        on_sale=True,
    )
    values.update(fields)
    return res.Plan(**values)


async def plan(admin, operator, **fields) -> res.Plan:
    made = await admin.CreatePlan(
        admin_pb.CreatePlanRequest(request_id=uid(), plan=yearly(**fields)), metadata=operator
    )
    return made.plan


def batch_request(
    count: int = 3,
    redeem_by: dt.datetime | None = REDEEM_BY,
    channel: str = "airline:ca",
    plan_id: str = "plus_yearly",
    **fields,
) -> admin_pb.CreateCodeBatchRequest:
    return admin_pb.CreateCodeBatchRequest(
        request_id=uid(),
        channel=channel,
        plan_id=plan_id,
        code_count=count,
        redeem_by=to_proto(redeem_by),
        **fields,
    )


async def new_batch(admin, operator, count: int = 3, **fields) -> res.CodeBatch:
    made = await admin.CreateCodeBatch(batch_request(count, **fields), metadata=operator)
    return made.batch


async def export(
    admin, operator, batch_id: str, page_size: int = 0, request_id: str | None = None
) -> admin_pb.ExportCodeBatchResponse:
    return await admin.ExportCodeBatch(
        admin_pb.ExportCodeBatchRequest(
            request_id=request_id or uid(), code_batch_id=batch_id, page_size=page_size
        ),
        metadata=operator,
    )


async def issued(admin, operator, count: int = 3, **fields) -> tuple[res.CodeBatch, list[str]]:
    """A batch created and exported in one page: the batch and its codes, as printed."""
    batch = await new_batch(admin, operator, count, **fields)
    page = await export(admin, operator, batch.code_batch_id)
    return page.batch, [row.code for row in page.rows]


async def redeem(
    subscription, caller, member: str, code: str, request_id: str | None = None
) -> pb.RedeemCodeResponse:
    return await subscription.RedeemCode(
        pb.RedeemCodeRequest(request_id=request_id or uid(), member_id=member, code=code),
        metadata=caller,
    )


async def code_rows(pool) -> list[dict]:
    rows = await pool.fetch("SELECT * FROM redemption_codes ORDER BY code_batch_id, sequence")
    return [dict(r) for r in rows]


async def failures(pool, key: str) -> int:
    """Failed attempts on record for a member id or a caller key (any code limit)."""
    return await pool.fetchval(
        "SELECT coalesce(sum(cardinality(stamps)), 0) FROM rate_limits"
        " WHERE name LIKE 'subscription.code_failures.%' AND key = $1",
        key,
    )


def unknown() -> str:
    """A well-formed code nobody issued."""
    return codes.printed(codes.new_code())


def typo(code: str) -> str:
    """`code` with its first character mistyped (the check character catches it)."""
    first = codes.ALPHABET[(codes.ALPHABET.index(code[0]) + 1) % len(codes.ALPHABET)]
    return first + code[1:]


async def unchanged(pool) -> dict:
    return await snapshot(
        pool,
        "subscriptions",
        "terms",
        "redemption_codes",
        "code_batches",
        outbox="SELECT id FROM outbox",
    )


def error_metadata(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The ErrorInfo metadata of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    raise AssertionError("no ErrorInfo")


async def found_anywhere(pool, code: str) -> list[str]:
    """The tables holding `code` (printed or canonical) in any column, bytes included."""
    forms = {code, code.replace("-", "")}
    tables = [
        "redemption_codes",
        "code_batches",
        "code_export_recoveries",
        "audit_log",
        "idempotency",
        "outbox",
    ]
    hits = []
    for table in tables:
        for row in await pool.fetch(f"SELECT * FROM {table}"):
            for value in row.values():
                text = value if isinstance(value, bytes) else str(value).encode()
                if any(form.encode() in text for form in forms):
                    hits.append(table)
    return hits
