"""CreateRequisition, GetRequisition, ListRequisitions, ApproveRequisition, RejectRequisition,
CancelRequisition, FulfilRequisition, ReturnRequisitionCards."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.timestamps import to_proto

from ..domain.amounts import amount_problem
from ..domain.selling import MAX_LINES, MAX_REQUISITION_CARDS, Line, RequisitionStage
from ..usecases.requisitions import RequisitionView
from . import access
from .base import Part
from .cards import MAX_TEXT, Checks, approval_proto, approved_role, role_scopes

_KINDS = {
    res.REQUISITION_KIND_SALES_DESK: "sales_desk",
    res.REQUISITION_KIND_BULK_PURCHASE: "bulk_purchase",
}
_KIND_PROTO = {v: k for k, v in _KINDS.items()}
_STATES = {
    RequisitionStage.REQUESTED: res.REQUISITION_STATE_PENDING_APPROVAL,
    RequisitionStage.APPROVED: res.REQUISITION_STATE_APPROVED,
    RequisitionStage.REJECTED: res.REQUISITION_STATE_REJECTED,
    RequisitionStage.FULFILLED: res.REQUISITION_STATE_FULFILLED,
    RequisitionStage.CLOSED: res.REQUISITION_STATE_CLOSED,
    RequisitionStage.CANCELLED: res.REQUISITION_STATE_CANCELLED,
}
_STATE_OF = {v: k for k, v in _STATES.items()}


def requisition_proto(view: RequisitionView) -> res.Requisition:
    r = view.requisition
    return res.Requisition(
        requisition_id=str(r.requisition_id),
        kind=_KIND_PROTO[r.kind],
        sales_desk=r.sales_desk,
        buyer_name=r.buyer_name,
        buyer_reference=r.buyer_reference,
        lines=[
            res.RequisitionLine(
                product_id=str(line.product_id),
                face_value_minor=line.face_value_minor,
                card_count=line.card_count,
            )
            for line in r.lines
        ],
        currency_code=r.currency_code,
        total_minor=r.total_minor,
        card_count=r.card_count,
        state=_STATES[r.state],
        requested_by=r.requested_by,
        note=r.note,
        policy_version=r.policy_version,
        approvals=[approval_proto(g) for g in view.approvals],
        pending_roles=role_scopes(view.pending),
        rejected_by=r.rejected_by,
        reject_reason=r.reject_reason,
        fulfilled_by=r.fulfilled_by,
        sold_count=r.sold_count,
        returned_count=r.returned_count,
        create_time=to_proto(r.create_time),
        fulfil_time=to_proto(r.fulfil_time),
        update_time=to_proto(r.update_time),
    )


class RequisitionsApi(Part):
    async def CreateRequisition(
        self, request: pb.CreateRequisitionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateRequisitionResponse:
        principal = access.require_any(access.REQUESTER)
        errors.at_most("lines", request.lines, MAX_LINES, minimum=1)
        v = Checks()
        kind = _KINDS.get(request.kind)
        v.check(kind is not None, "kind", "SALES_DESK or BULK_PURCHASE")
        v.text("sales_desk", request.sales_desk, maximum=128)
        if kind == "bulk_purchase":
            v.text("buyer_name", request.buyer_name, maximum=256)
            v.text("buyer_reference", request.buyer_reference, maximum=128, required=False)
        else:
            v.check(not request.buyer_name, "buyer_name", "only for a bulk purchase")
            v.check(not request.buyer_reference, "buyer_reference", "only for a bulk purchase")
        lines = []
        for i, line in enumerate(request.lines):
            product_id = v.uuid(f"lines[{i}].product_id", line.product_id, "a product id")
            if line.face_value_minor:
                problem = amount_problem(line.face_value_minor, f"lines[{i}].face_value_minor")
                if problem:
                    v.problem(problem)
            v.check(
                1 <= line.card_count <= MAX_REQUISITION_CARDS,
                f"lines[{i}].card_count",
                f"1 to {MAX_REQUISITION_CARDS}",
            )
            lines.append(Line(product_id, line.face_value_minor, line.card_count))
        if not v.items:
            v.check(
                sum(line.card_count for line in lines) <= MAX_REQUISITION_CARDS,
                "lines",
                f"at most {MAX_REQUISITION_CARDS} cards in all",
            )
        v.text("note", request.note, maximum=MAX_TEXT, required=False)
        v.raise_if_any()
        assert kind is not None

        async def work(conn: asyncpg.Connection) -> pb.CreateRequisitionResponse:
            view = await self.uc.requisitions.create(
                conn,
                kind=kind,
                sales_desk=request.sales_desk,
                buyer_name=request.buyer_name,
                buyer_reference=request.buyer_reference,
                lines=lines,
                note=request.note,
                actor=principal.label,
            )
            r = view.requisition
            await access.record(
                conn,
                principal,
                "requisition.created",
                r.requisition_id,
                role=access.REQUESTER,
                reason=request.note,
                total_minor=r.total_minor,
                card_count=r.card_count,
            )
            return pb.CreateRequisitionResponse(requisition=requisition_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def GetRequisition(
        self, request: pb.GetRequisitionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetRequisitionResponse:
        access.back_office()
        requisition_id = errors.parse_uuid(
            request.requisition_id, "requisition_id", "a requisition id"
        )
        async with self.pool.acquire() as conn:
            found = await self.uc.requisitions.get(conn, requisition_id)
            view = await self.uc.requisitions.view(conn, found)
        return pb.GetRequisitionResponse(requisition=requisition_proto(view))

    async def ListRequisitions(
        self, request: pb.ListRequisitionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRequisitionsResponse:
        access.back_office()
        v = Checks()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        state = None
        if request.state:
            state = _STATE_OF.get(request.state)
            v.check(state is not None, "state", "not a requisition state")
        v.text("sales_desk", request.sales_desk, maximum=128, required=False)
        v.raise_if_any()
        query = {"state": int(request.state), "sales_desk": request.sales_desk}
        size = paging.size(request.page_size)
        before = paging.cursor(request.page_token, query, uuid.UUID)
        async with self.pool.acquire() as conn:
            found = await self.uc.requisitions.page(
                conn, state=state, sales_desk=request.sales_desk, before=before, limit=size + 1
            )
            found, token = paging.page(found, size, query, key=lambda r: r.requisition_id)
            views = await self.uc.requisitions.views(conn, found)
        return pb.ListRequisitionsResponse(
            requisitions=[requisition_proto(view) for view in views], next_page_token=token
        )

    async def ApproveRequisition(
        self, request: pb.ApproveRequisitionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveRequisitionResponse:
        principal = access.back_office()
        v = Checks()
        requisition_id = v.uuid("requisition_id", request.requisition_id, "a requisition id")
        role = v.role(request.role)
        v.text("note", request.note, maximum=MAX_TEXT, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ApproveRequisitionResponse:
            view = await self.uc.requisitions.approve(
                conn,
                requisition_id,
                approver=principal.label,
                held=access.roles(principal),
                role=role,
                note=request.note,
            )
            await access.record(
                conn,
                principal,
                "requisition.approved",
                requisition_id,
                role=approved_role(view.approvals, principal.label),
                reason=request.note,
                state=view.requisition.state.value,
            )
            return pb.ApproveRequisitionResponse(requisition=requisition_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def RejectRequisition(
        self, request: pb.RejectRequisitionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectRequisitionResponse:
        principal = access.back_office()
        v = Checks()
        requisition_id = v.uuid("requisition_id", request.requisition_id, "a requisition id")
        v.text("reason", request.reason, maximum=MAX_TEXT)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RejectRequisitionResponse:
            held = access.roles(principal)
            view = await self.uc.requisitions.reject(
                conn, requisition_id, caller=principal.label, held=held, reason=request.reason
            )
            await access.record(
                conn,
                principal,
                "requisition.rejected",
                requisition_id,
                role=",".join(f"giftcard:{r.value}" for r in sorted(held)),
                reason=request.reason,
            )
            return pb.RejectRequisitionResponse(requisition=requisition_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def CancelRequisition(
        self, request: pb.CancelRequisitionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelRequisitionResponse:
        principal = access.require_any(access.REQUESTER)
        v = Checks()
        requisition_id = v.uuid("requisition_id", request.requisition_id, "a requisition id")
        v.text("reason", request.reason, maximum=MAX_TEXT)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.CancelRequisitionResponse:
            view = await self.uc.requisitions.cancel(
                conn, requisition_id, caller=principal.label, reason=request.reason
            )
            await access.record(
                conn,
                principal,
                "requisition.cancelled",
                requisition_id,
                role=access.REQUESTER,
                reason=request.reason,
            )
            return pb.CancelRequisitionResponse(requisition=requisition_proto(view))

        return await idempotency.once(self.pool, request, work)

    async def FulfilRequisition(
        self, request: pb.FulfilRequisitionRequest, context: grpc.aio.ServicerContext
    ) -> pb.FulfilRequisitionResponse:
        principal = access.require_any(access.OPERATOR)
        errors.at_most("card_numbers", request.card_numbers, MAX_REQUISITION_CARDS)
        v = Checks()
        requisition_id = v.uuid("requisition_id", request.requisition_id, "a requisition id")
        numbers = v.numbers("card_numbers", request.card_numbers)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.FulfilRequisitionResponse:
            done = await self.uc.requisitions.fulfil(conn, requisition_id, numbers, principal.label)
            await access.record(
                conn,
                principal,
                "requisition.fulfilled",
                requisition_id,
                role=access.OPERATOR,
                card_count=len(done.card_ids),
                picked=not numbers,
            )
            return pb.FulfilRequisitionResponse(requisition=requisition_proto(done.view))

        return await idempotency.once(self.pool, request, work)

    async def ReturnRequisitionCards(
        self, request: pb.ReturnRequisitionCardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReturnRequisitionCardsResponse:
        principal = access.require_any(access.OPERATOR)
        errors.at_most("card_numbers", request.card_numbers, MAX_REQUISITION_CARDS, minimum=1)
        v = Checks()
        requisition_id = v.uuid("requisition_id", request.requisition_id, "a requisition id")
        numbers = v.numbers("card_numbers", request.card_numbers)
        v.text("reason", request.reason, maximum=MAX_TEXT)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ReturnRequisitionCardsResponse:
            view, returned = await self.uc.requisitions.return_cards(
                conn, requisition_id, numbers, request.reason
            )
            await access.record(
                conn,
                principal,
                "requisition.cards_returned",
                requisition_id,
                role=access.OPERATOR,
                reason=request.reason,
                card_count=len(returned),
            )
            return pb.ReturnRequisitionCardsResponse(requisition=requisition_proto(view))

        return await idempotency.once(self.pool, request, work)
