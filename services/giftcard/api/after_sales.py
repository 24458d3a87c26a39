"""RequestCardRefund, RequestCardExchange, ApproveAfterSale, RejectAfterSale, GetAfterSale,
ListAfterSales."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import auth, errors, idempotency, paging
from services.kit.timestamps import to_proto

from ..domain import cards as numbers
from ..domain.selling import MAX_EXCHANGE_CARDS, AfterSaleKind, AfterSaleStage
from ..usecases.after_sales import AfterSaleView
from . import access, convert
from .base import Part
from .cards import MAX_TEXT, Checks, acting_role, approval_proto, approved_role, role_scopes

_KINDS = {
    AfterSaleKind.REFUND: res.AFTER_SALE_KIND_REFUND,
    AfterSaleKind.EXCHANGE: res.AFTER_SALE_KIND_EXCHANGE,
}
_KIND_OF = {v: k for k, v in _KINDS.items()}
_STATES = {
    AfterSaleStage.PENDING: res.AFTER_SALE_STATE_PENDING_APPROVAL,
    AfterSaleStage.COMPLETED: res.AFTER_SALE_STATE_COMPLETED,
    AfterSaleStage.REJECTED: res.AFTER_SALE_STATE_REJECTED,
}
_STATE_OF = {v: k for k, v in _STATES.items()}


def after_sale_proto(view: AfterSaleView, viewer: auth.Principal) -> res.AfterSale:
    a, card = view.after_sale, view.card
    return res.AfterSale(
        after_sale_id=str(a.after_sale_id),
        kind=_KINDS[a.kind],
        card_id=str(a.card_id),
        card_number=card.card_number if access.sees_numbers(viewer) else "",
        masked_card_number=numbers.mask(card.card_number),
        currency_code=a.currency_code,
        amount_minor=a.amount_minor,
        exchange_card_ids=[str(i) for i in a.exchange_card_ids],
        state=_STATES[a.state],
        requested_by=a.requested_by,
        reason=a.reason,
        policy_version=a.policy_version,
        approvals=[approval_proto(g) for g in view.approvals],
        pending_roles=role_scopes(view.pending),
        rejected_by=a.rejected_by,
        reject_reason=a.reject_reason,
        create_time=to_proto(a.create_time),
        complete_time=to_proto(a.complete_time),
    )


class AfterSalesApi(Part):
    async def RequestCardRefund(
        self, request: pb.RequestCardRefundRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestCardRefundResponse:
        principal = access.require_any(access.SALES, access.OPERATOR)
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        v.reason_text(request.reason)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RequestCardRefundResponse:
            view = await self.uc.after_sales.request(
                conn, AfterSaleKind.REFUND, ref, reason=request.reason, actor=principal.label
            )
            await self._record(conn, principal, "after_sale.refund_requested", view, request.reason)
            return pb.RequestCardRefundResponse(after_sale=after_sale_proto(view, principal))

        return await idempotency.once(self.pool, request, work)

    async def RequestCardExchange(
        self, request: pb.RequestCardExchangeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestCardExchangeResponse:
        principal = access.require_any(access.SALES, access.OPERATOR)
        errors.at_most(
            "exchange_card_numbers", request.exchange_card_numbers, MAX_EXCHANGE_CARDS, minimum=1
        )
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        given = v.numbers("exchange_card_numbers", request.exchange_card_numbers)
        v.reason_text(request.reason)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RequestCardExchangeResponse:
            view = await self.uc.after_sales.request(
                conn,
                AfterSaleKind.EXCHANGE,
                ref,
                reason=request.reason,
                actor=principal.label,
                exchange_numbers=given,
            )
            await self._record(
                conn, principal, "after_sale.exchange_requested", view, request.reason
            )
            return pb.RequestCardExchangeResponse(after_sale=after_sale_proto(view, principal))

        return await idempotency.once(self.pool, request, work)

    @staticmethod
    async def _record(conn, principal, action: str, view: AfterSaleView, reason: str) -> None:
        a = view.after_sale
        await access.record(
            conn,
            principal,
            action,
            a.after_sale_id,
            role=acting_role(principal, access.OPERATOR, access.SALES),
            reason=reason,
            card_id=str(a.card_id),
            amount_minor=a.amount_minor,
            exchange_card_ids=[str(i) for i in a.exchange_card_ids],
        )

    async def ApproveAfterSale(
        self, request: pb.ApproveAfterSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveAfterSaleResponse:
        principal = access.back_office()
        v = Checks()
        after_sale_id = v.uuid("after_sale_id", request.after_sale_id, "an after-sale id")
        role = v.role(request.role)
        v.text("note", request.note, maximum=MAX_TEXT, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ApproveAfterSaleResponse:
            view = await self.uc.after_sales.approve(
                conn,
                after_sale_id,
                approver=principal.label,
                held=access.roles(principal),
                role=role,
                note=request.note,
            )
            a = view.after_sale
            await access.record(
                conn,
                principal,
                "after_sale.approved",
                after_sale_id,
                role=approved_role(view.approvals, principal.label),
                reason=request.note,
                card_id=str(a.card_id),
                state=a.state.value,
            )
            return pb.ApproveAfterSaleResponse(
                after_sale=after_sale_proto(view, principal),
                card=convert.card_proto(view.card, principal),
            )

        return await idempotency.once(self.pool, request, work)

    async def RejectAfterSale(
        self, request: pb.RejectAfterSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.RejectAfterSaleResponse:
        principal = access.back_office()
        v = Checks()
        after_sale_id = v.uuid("after_sale_id", request.after_sale_id, "an after-sale id")
        v.text("reason", request.reason, maximum=MAX_TEXT)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RejectAfterSaleResponse:
            held = access.roles(principal)
            view = await self.uc.after_sales.reject(
                conn, after_sale_id, caller=principal.label, held=held, reason=request.reason
            )
            await access.record(
                conn,
                principal,
                "after_sale.rejected",
                after_sale_id,
                role=",".join(f"giftcard:{r.value}" for r in sorted(held)),
                reason=request.reason,
                card_id=str(view.after_sale.card_id),
            )
            return pb.RejectAfterSaleResponse(after_sale=after_sale_proto(view, principal))

        return await idempotency.once(self.pool, request, work)

    async def GetAfterSale(
        self, request: pb.GetAfterSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAfterSaleResponse:
        principal = access.back_office()
        after_sale_id = errors.parse_uuid(
            request.after_sale_id, "after_sale_id", "an after-sale id"
        )
        async with self.pool.acquire() as conn:
            found = await self.uc.after_sales.get(conn, after_sale_id)
            view = await self.uc.after_sales.view(conn, found)
        return pb.GetAfterSaleResponse(after_sale=after_sale_proto(view, principal))

    async def ListAfterSales(
        self, request: pb.ListAfterSalesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAfterSalesResponse:
        principal = access.back_office()
        v = Checks()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        state = kind = None
        if request.state:
            state = _STATE_OF.get(request.state)
            v.check(state is not None, "state", "not an after-sale state")
        if request.kind:
            kind = _KIND_OF.get(request.kind)
            v.check(kind is not None, "kind", "not an after-sale kind")
        card_id = v.optional_uuid("card_id", request.card_id, "a card id")
        v.raise_if_any()
        query = {"state": int(request.state), "kind": int(request.kind), "card_id": request.card_id}
        size = paging.size(request.page_size)
        before = paging.cursor(request.page_token, query, uuid.UUID)
        async with self.pool.acquire() as conn:
            found = await self.uc.after_sales.page(
                conn, state=state, kind=kind, card_id=card_id, before=before, limit=size + 1
            )
            found, token = paging.page(found, size, query, key=lambda a: a.after_sale_id)
            views = await self.uc.after_sales.views(conn, found)
        return pb.ListAfterSalesResponse(
            after_sales=[after_sale_proto(view, principal) for view in views],
            next_page_token=token,
        )
