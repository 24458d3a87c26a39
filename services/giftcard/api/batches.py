"""CreateBatch, GetBatch, ListBatches, ApproveBatch, RejectBatch, GenerateBatchCards, ExportBatchSecrets, RecoverBatchExport."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.refusals import FieldProblem
from services.kit.timestamps import to_proto

from ..domain.amounts import amount_problem
from ..domain.approvals import Role
from ..domain.states import CardState
from ..domain.stock import MAX_CARDS_PER_BATCH, MAX_EXPORT_PAGE, MAX_FACE_VALUE_MINOR, BatchState
from ..usecases.batches import BatchView, ExportPage
from . import access, convert
from .base import Part
from .policies import scope

MAX_NOTE = 512
_ROLES = {scope(r): r for r in Role}
_CSV_HEADER = "sequence,card_number,pin,currency_code,face_value_minor\r\n"


class Checks(Violations):
    """Violations that remember the reason of the first domain problem (the error's reason:
    AMOUNT_NOT_POSITIVE, CARD_NUMBER_CHECK_DIGIT, …; INVALID_ARGUMENT when none named one)."""

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""

    def problem(self, problem: FieldProblem | None) -> None:
        if problem is not None:
            self.add(problem.field, problem.description)
            if not self.reason and problem.reason != "INVALID_ARGUMENT":
                self.reason = problem.reason

    def raise_if_any(self, reason: str = "INVALID_ARGUMENT") -> None:
        super().raise_if_any(self.reason or reason)


def batch_state(state: BatchState) -> res.BatchState.ValueType:
    return res.BatchState.Value(f"BATCH_STATE_{state.name}")


def batch_state_of(v: Violations, value: int) -> BatchState | None:
    """The state a filter names (None for UNSPECIFIED); an unknown value is a violation."""
    try:
        name = res.BatchState.Name(value)  # type: ignore[arg-type]
    except ValueError:
        v.add("state", "not a batch state")
        return None
    name = name.removeprefix("BATCH_STATE_")
    return None if name == "UNSPECIFIED" else BatchState[name]


def batch_proto(view: BatchView) -> res.Batch:
    b = view.batch
    order = list(CardState)
    counts = sorted(view.counts.by_state.items(), key=lambda item: order.index(CardState(item[0])))
    return res.Batch(
        batch_id=str(b.batch_id),
        product_id=str(b.product_id),
        currency_code=b.currency_code,
        face_value_minor=b.face_value_minor,
        card_count=b.card_count,
        total_minor=b.total_minor,
        state=batch_state(b.state),
        requested_by=b.requested_by,
        note=b.note,
        policy_version=b.policy_version,
        approvals=[
            res.Approval(
                approver=g.approval.approver,
                role=scope(g.approval.role),
                note=g.note,
                approve_time=to_proto(g.approve_time),
            )
            for g in view.approvals
        ],
        pending_roles=[scope(r) for r in view.pending],
        rejected_by=b.rejected_by,
        reject_reason=b.reject_reason,
        exported_count=view.counts.delivered,
        export_page_count=b.exported_pages,
        voided_count=view.counts.by_state.get(CardState.VOIDED.value, 0),
        recoveries=[
            res.ExportRecovery(
                from_page=r.from_page,
                voided_count=r.voided_count,
                generated_count=r.generated_count,
                recovered_by=r.recovered_by,
                reason=r.reason,
                recover_time=to_proto(r.recover_time),
            )
            for r in view.recoveries
        ],
        card_counts=[
            res.CardStateCount(state=convert.card_state(CardState(s)), count=n) for s, n in counts
        ],
        create_time=to_proto(b.create_time),
        approve_time=to_proto(b.approve_time),
        generate_time=to_proto(b.generate_time),
        export_finish_time=to_proto(b.export_finish_time),
        update_time=to_proto(b.update_time),
    )


def export_proto(page: ExportPage) -> pb.ExportBatchSecretsResponse:
    batch = page.view.batch
    tail = f",{batch.currency_code},{batch.face_value_minor}\r\n"
    csv = _CSV_HEADER + "".join(f"{r.sequence},{r.card_number},{r.pin}{tail}" for r in page.rows)
    return pb.ExportBatchSecretsResponse(
        batch=batch_proto(page.view),
        page=page.page,
        csv=csv,
        rows=[
            res.SecretRow(
                sequence=r.sequence, card_id=str(r.card_id), card_number=r.card_number, pin=r.pin
            )
            for r in page.rows
        ],
        remaining_count=page.remaining,
    )


def without_secrets(response: pb.ExportBatchSecretsResponse) -> pb.ExportBatchSecretsResponse:
    """What a replay of an export returns (and so what is kept): the page without its PINs."""
    kept = pb.ExportBatchSecretsResponse()
    kept.CopyFrom(response)
    kept.ClearField("csv")
    for row in kept.rows:
        row.ClearField("pin")
    return kept


def _batch_id(v: Violations, value: str) -> uuid.UUID:
    return v.uuid("batch_id", value, "a batch id")


class BatchesApi(Part):
    async def CreateBatch(
        self, request: pb.CreateBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateBatchResponse:
        principal = access.require_any(access.REQUESTER)
        v = Checks()
        product_id = v.uuid("product_id", request.product_id, "a product id")
        v.check(
            1 <= request.card_count <= MAX_CARDS_PER_BATCH,
            "card_count",
            f"1 to {MAX_CARDS_PER_BATCH}",
        )
        face = request.face_value_minor
        if face != 0:
            v.problem(amount_problem(face, "face_value_minor"))
            if face > MAX_FACE_VALUE_MINOR and not v.names("face_value_minor"):
                v.problem(
                    FieldProblem(
                        "face_value_minor", f"at most {MAX_FACE_VALUE_MINOR}", "AMOUNT_TOO_LARGE"
                    )
                )
        v.text("note", request.note, maximum=MAX_NOTE, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.CreateBatchResponse:
            view = await self.uc.batches.create(
                conn,
                product_id=product_id,
                card_count=request.card_count,
                face_value_minor=face or None,
                note=request.note,
                requester=principal.label,
            )
            b = view.batch
            await access.record(
                conn,
                principal,
                "batch.request",
                b.batch_id,
                role=access.REQUESTER,
                product_id=str(b.product_id),
                card_count=b.card_count,
                face_value_minor=b.face_value_minor,
                total_minor=b.total_minor,
                policy_version=b.policy_version,
            )
            return pb.CreateBatchResponse(batch=batch_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def GetBatch(
        self, request: pb.GetBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBatchResponse:
        access.back_office()
        batch_id = errors.parse_uuid(request.batch_id, "batch_id", "a batch id")
        return pb.GetBatchResponse(batch=batch_proto(await self.uc.batches.get(batch_id)))

    async def ListBatches(
        self, request: pb.ListBatchesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBatchesResponse:
        access.back_office()
        v = Violations()
        state = batch_state_of(v, request.state)
        product_id = (
            v.uuid("product_id", request.product_id, "a product id") if request.product_id else None
        )
        v.raise_if_any()
        query = {"state": state, "product_id": product_id}
        size = paging.size(request.page_size)
        views = await self.uc.batches.listed(
            before=paging.cursor(request.page_token, query, uuid.UUID),
            limit=size + 1,
            state=state,
            product_id=product_id,
        )
        views, token = paging.page(views, size, query, key=lambda b: b.batch.batch_id)
        return pb.ListBatchesResponse(
            batches=[batch_proto(b) for b in views], next_page_token=token
        )

    async def ApproveBatch(
        self, request: pb.ApproveBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveBatchResponse:
        principal = access.require_any(access.APPROVER, access.MANAGER)
        v = Violations()
        batch_id = _batch_id(v, request.batch_id)
        role = _ROLES.get(request.role) if request.role else None
        v.check(
            not request.role or role is not None,
            "role",
            f"a role scope: one of {', '.join(_ROLES)}",
        )
        v.text("note", request.note, maximum=MAX_NOTE, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ApproveBatchResponse:
            view, last = await self.uc.batches.approve(
                conn,
                batch_id,
                approver=principal.label,
                held=access.roles(principal),
                role=role.value if role else "",
                note=request.note,
            )
            given = next(g for g in view.approvals if g.approval.approver == principal.label)
            await access.record(
                conn,
                principal,
                "batch.approve",
                batch_id,
                role=scope(given.approval.role),
                reason=request.note,
                approved=last,
                policy_version=view.batch.policy_version,
            )
            return pb.ApproveBatchResponse(batch=batch_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def RejectBatch(
        self, request: pb.RejectBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectBatchResponse:
        principal = access.require_any(access.APPROVER, access.MANAGER)
        v = Violations()
        batch_id = _batch_id(v, request.batch_id)
        v.text("reason", request.reason, maximum=MAX_NOTE)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RejectBatchResponse:
            view = await self.uc.batches.reject(
                conn,
                batch_id,
                rejecter=principal.label,
                held=access.roles(principal),
                reason=request.reason,
            )
            await access.record(
                conn,
                principal,
                "batch.reject",
                batch_id,
                role=_held(principal, access.APPROVER, access.MANAGER),
                reason=request.reason,
            )
            return pb.RejectBatchResponse(batch=batch_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def GenerateBatchCards(
        self, request: pb.GenerateBatchCardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateBatchCardsResponse:
        principal = access.require_any(access.OPERATOR)
        batch_id = errors.parse_uuid(request.batch_id, "batch_id", "a batch id")

        async def work(conn: asyncpg.Connection) -> pb.GenerateBatchCardsResponse:
            view = await self.uc.batches.generate(conn, batch_id)
            await access.record(
                conn,
                principal,
                "batch.generate",
                batch_id,
                role=access.OPERATOR,
                card_count=view.batch.card_count,
            )
            return pb.GenerateBatchCardsResponse(batch=batch_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def ExportBatchSecrets(
        self, request: pb.ExportBatchSecretsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExportBatchSecretsResponse:
        principal = access.require_any(access.OPERATOR)
        v = Violations()
        batch_id = _batch_id(v, request.batch_id)
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        v.raise_if_any()
        size = min(request.page_size or self.deps.settings.export_page_size, MAX_EXPORT_PAGE)

        async def work(conn: asyncpg.Connection) -> pb.ExportBatchSecretsResponse:
            page = await self.uc.batches.export(conn, batch_id, size, principal.label)
            await access.record(  # who, which page, which cards: never the secrets
                conn,
                principal,
                "batch.export_secrets",
                batch_id,
                role=access.OPERATOR,
                page=page.page,
                row_count=len(page.rows),
                first_sequence=page.rows[0].sequence,
                last_sequence=page.rows[-1].sequence,
                remaining_count=page.remaining,
            )
            return export_proto(page)

        return await idempotency.once(self.pool, request, work, stored=without_secrets)

    async def RecoverBatchExport(
        self, request: pb.RecoverBatchExportRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecoverBatchExportResponse:
        principal = access.require_any(access.MANAGER)
        v = Violations()
        batch_id = _batch_id(v, request.batch_id)
        v.check(request.from_page >= 1, "from_page", "an export page: 1 or more")
        v.text("reason", request.reason, maximum=MAX_NOTE)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RecoverBatchExportResponse:
            done = await self.uc.batches.recover(
                conn, batch_id, request.from_page, actor=principal.label, reason=request.reason
            )
            await access.record(
                conn,
                principal,
                "batch.recover_export",
                batch_id,
                role=access.MANAGER,
                reason=request.reason,
                from_page=request.from_page,
                voided_count=done.voided,
                generated_count=done.generated,
            )
            return pb.RecoverBatchExportResponse(
                batch=batch_proto(done.view),
                voided_count=done.voided,
                generated_count=done.generated,
            )

        return await idempotency.once(self.pool, request, work)


def _held(principal, *scopes: str) -> str:
    """The first of `scopes` the caller holds (the role it acted in)."""
    return next((s for s in scopes if s in principal.scopes), "")
