"""Operators: redemption code batches (CreateCodeBatch, ExportCodeBatch, RecoverCodeBatchExport,
DisableCodeBatch, GetCodeBatch, ListCodeBatches), the codes exported once. Every change is
audited, never with a code."""

from __future__ import annotations

import re
import uuid

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as pb
from services.kit import errors, idempotency, paging, timestamps
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import codes
from ..usecases.codes import BatchState, BatchView, ExportPage
from . import access
from .base import Part

MAX_CHANNEL = 64
MAX_PLAN_ID = 64
MAX_TEXT = 512
DEFAULT_EXPORT_PAGE = 1_000
MAX_EXPORT_PAGE = 10_000
_CHANNEL = re.compile(r"[a-z0-9_:-]{1,64}")
_CSV_HEADER = "sequence,code,channel,plan_id,redeem_by\r\n"
# Where the domain's field names are in CreateCodeBatchRequest.
_FIELD_PATHS = {"count": "code_count", "expire_time": "redeem_by"}


def batch_state(state: str) -> res.CodeBatchState.ValueType:
    return res.CodeBatchState.Value(f"CODE_BATCH_STATE_{state.upper()}")


def _state_filter(v: Violations, value: int) -> BatchState | None:
    """The state a filter names (None for UNSPECIFIED); an unknown value is a violation."""
    try:
        name = res.CodeBatchState.Name(value)  # type: ignore[arg-type]
    except ValueError:
        v.add("state", "not a code batch state")
        return None
    name = name.removeprefix("CODE_BATCH_STATE_")
    return None if name == "UNSPECIFIED" else BatchState[name]


def batch_proto(view: BatchView) -> res.CodeBatch:
    b = view.batch
    return res.CodeBatch(
        code_batch_id=str(b.code_batch_id),
        channel=b.channel,
        plan_id=b.plan_id,
        plan_version=b.plan_version,
        code_count=b.code_count,
        redeem_by=to_proto(b.redeem_by),
        state=batch_state(b.state),
        exported_count=b.exported_count,
        export_page_count=b.export_pages,
        redeemed_count=view.redeemed,
        voided_count=b.voided_count,
        recoveries=[
            res.CodeExportRecovery(
                from_page=r.from_page,
                voided_count=r.voided_count,
                recovered_by=r.recovered_by,
                reason=r.reason,
                recover_time=to_proto(r.recover_time),
            )
            for r in view.recoveries
        ],
        note=b.note,
        created_by=b.created_by,
        create_time=to_proto(b.create_time),
        disabled_by=b.disabled_by,
        disable_reason=b.disable_reason,
        disable_time=to_proto(b.disable_time),
        update_time=to_proto(b.update_time),
    )


def export_proto(page: ExportPage) -> pb.ExportCodeBatchResponse:
    batch = page.view.batch
    stamp = to_proto(batch.redeem_by)
    assert stamp is not None
    # Channel and plan id are of letters, digits, "_", "-" and ":": no CSV quoting needed.
    tail = f",{batch.channel},{batch.plan_id},{stamp.ToJsonString()}\r\n"
    printed = [(sequence, codes.printed(code)) for sequence, code in page.rows]
    return pb.ExportCodeBatchResponse(
        batch=batch_proto(page.view),
        page=page.page,
        csv=_CSV_HEADER + "".join(f"{s},{code}{tail}" for s, code in printed),
        rows=[res.RedemptionCodeRow(sequence=s, code=code) for s, code in printed],
        remaining_count=page.remaining,
    )


def without_codes(response: pb.ExportCodeBatchResponse) -> pb.ExportCodeBatchResponse:
    """What a replay of an export returns (and so what is kept): the page without its codes."""
    kept = pb.ExportCodeBatchResponse()
    kept.CopyFrom(response)
    kept.ClearField("csv")
    for row in kept.rows:
        row.ClearField("code")
    return kept


def _batch_id(v: Violations, value: str) -> uuid.UUID:
    return v.uuid("code_batch_id", value, "a code batch id")


def _reason(v: Violations, value: str) -> None:
    """Raise what `v` holds: REASON_REQUIRED when the reason is blank."""
    v.text("reason", value, maximum=MAX_TEXT)
    v.raise_if_any("REASON_REQUIRED" if not value.strip() else "INVALID_ARGUMENT")


class CodeBatchesApi(Part):
    async def CreateCodeBatch(
        self, request: pb.CreateCodeBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateCodeBatchResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        v.check(
            bool(_CHANNEL.fullmatch(request.channel)),
            "channel",
            f"1 to {MAX_CHANNEL} characters of a-z, 0-9, '_', '-' and ':'",
        )
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID)
        v.text("note", request.note, maximum=MAX_TEXT, required=False)
        redeem_by = timestamps.field(v, request, "redeem_by")
        if redeem_by is None and not v.names("redeem_by"):
            v.add("redeem_by", "required")
        if redeem_by is not None:
            for problem in codes.batch_problems(request.code_count, redeem_by, self.deps.now()):
                v.add(_FIELD_PATHS.get(problem.field, problem.field), problem.description)
        else:
            v.check(
                1 <= request.code_count <= codes.MAX_BATCH,
                "code_count",
                f"must be 1 to {codes.MAX_BATCH}",
            )
        v.raise_if_any()
        assert redeem_by is not None

        async def work(conn: asyncpg.Connection) -> pb.CreateCodeBatchResponse:
            view = await self.uc.codes.create(
                conn,
                channel=request.channel,
                plan_id=request.plan_id,
                code_count=request.code_count,
                redeem_by=redeem_by,
                note=request.note,
                created_by=principal.label,
            )
            b = view.batch
            await access.record(
                conn,
                principal,
                "code_batch.create",
                b.code_batch_id,
                channel=b.channel,
                plan_id=b.plan_id,
                plan_version=b.plan_version,
                code_count=b.code_count,
                redeem_by=b.redeem_by.isoformat(),
                note=b.note,
            )
            return pb.CreateCodeBatchResponse(batch=batch_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def ExportCodeBatch(
        self, request: pb.ExportCodeBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportCodeBatchResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        batch_id = _batch_id(v, request.code_batch_id)
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        v.raise_if_any()
        size = min(request.page_size or DEFAULT_EXPORT_PAGE, MAX_EXPORT_PAGE)

        async def work(conn: asyncpg.Connection) -> pb.ExportCodeBatchResponse:
            page = await self.uc.codes.export(conn, batch_id, size)
            await access.record(  # who, which page, which sequences: never the codes
                conn,
                principal,
                "code_batch.export",
                batch_id,
                page=page.page,
                row_count=len(page.rows),
                first_sequence=page.rows[0][0],
                last_sequence=page.rows[-1][0],
                remaining_count=page.remaining,
            )
            return export_proto(page)

        return await idempotency.once(self.pool, request, work, stored=without_codes)

    async def RecoverCodeBatchExport(
        self, request: pb.RecoverCodeBatchExportRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecoverCodeBatchExportResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        batch_id = _batch_id(v, request.code_batch_id)
        v.check(request.from_page >= 1, "from_page", "an export page: 1 or more")
        _reason(v, request.reason)

        async def work(conn: asyncpg.Connection) -> pb.RecoverCodeBatchExportResponse:
            done = await self.uc.codes.recover(
                conn, batch_id, request.from_page, actor=principal.label, reason=request.reason
            )
            await access.record(
                conn,
                principal,
                "code_batch.recover_export",
                batch_id,
                reason=request.reason,
                from_page=request.from_page,
                voided_count=done.voided,
            )
            return pb.RecoverCodeBatchExportResponse(
                batch=batch_proto(done.view), voided_count=done.voided
            )

        return await idempotency.once(self.pool, request, work)

    async def DisableCodeBatch(
        self, request: pb.DisableCodeBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableCodeBatchResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        batch_id = _batch_id(v, request.code_batch_id)
        _reason(v, request.reason)

        async def work(conn: asyncpg.Connection) -> pb.DisableCodeBatchResponse:
            view = await self.uc.codes.disable(
                conn, batch_id, actor=principal.label, reason=request.reason
            )
            await access.record(
                conn, principal, "code_batch.disable", batch_id, reason=request.reason
            )
            return pb.DisableCodeBatchResponse(batch=batch_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def GetCodeBatch(
        self, request: pb.GetCodeBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCodeBatchResponse:
        access.require_any(access.ADMIN)
        batch_id = errors.parse_uuid(request.code_batch_id, "code_batch_id", "a code batch id")
        return pb.GetCodeBatchResponse(batch=batch_proto(await self.uc.codes.get(batch_id)))

    async def ListCodeBatches(
        self, request: pb.ListCodeBatchesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCodeBatchesResponse:
        access.require_any(access.ADMIN)
        v = Violations()
        state = _state_filter(v, request.state)
        v.text("channel", request.channel, maximum=MAX_CHANNEL, required=False)
        v.text("plan_id", request.plan_id, maximum=MAX_PLAN_ID, required=False)
        v.raise_if_any()
        query = {
            "channel": request.channel,
            "plan_id": request.plan_id,
            "state": state.value if state else "",
        }
        size = paging.size(request.page_size)
        views = await self.uc.codes.listed(
            before=paging.cursor(request.page_token, query, uuid.UUID),
            limit=size + 1,
            channel=request.channel or None,
            plan_id=request.plan_id or None,
            state=state,
        )
        views, token = paging.page(views, size, query, key=lambda b: b.batch.code_batch_id)
        return pb.ListCodeBatchesResponse(
            batches=[batch_proto(b) for b in views], next_page_token=token
        )
