"""CreateSale, GetSale, ListSales, CheckSale."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors, idempotency, paging
from services.kit.timestamps import to_proto

from ..domain.amounts import amount_problem
from ..domain.selling import MAX_REQUISITION_CARDS
from ..store.sales import CheckState, Sale
from . import access
from .base import Part
from .cards import MAX_TEXT, Checks

_CHECKS = {
    CheckState.PENDING: res.SALE_CHECK_STATE_PENDING,
    CheckState.CONFIRMED: res.SALE_CHECK_STATE_CONFIRMED,
    CheckState.DISPUTED: res.SALE_CHECK_STATE_DISPUTED,
}
_CHECK_OF = {v: k for k, v in _CHECKS.items()}


def sale_proto(s: Sale) -> res.Sale:
    return res.Sale(
        sale_id=str(s.sale_id),
        requisition_id=str(s.requisition_id),
        card_count=s.card_count,
        currency_code=s.currency_code,
        face_value_total_minor=s.face_value_total_minor,
        paid_amount_minor=s.paid_amount_minor,
        payment_method=s.payment_method,
        payment_reference=s.payment_reference,
        buyer_name=s.buyer_name,
        sold_by=s.sold_by,
        sale_time=to_proto(s.sale_time),
        check=res.SaleCheck(
            state=_CHECKS[s.check_state],
            checked_by=s.checked_by,
            note=s.check_note,
            check_time=to_proto(s.check_time),
        ),
    )


class SalesApi(Part):
    async def CreateSale(
        self, request: pb.CreateSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSaleResponse:
        principal = access.require_any(access.SALES)
        errors.at_most("card_numbers", request.card_numbers, MAX_REQUISITION_CARDS)
        v = Checks()
        requisition_id = v.uuid("requisition_id", request.requisition_id, "a requisition id")
        numbers = v.numbers("card_numbers", request.card_numbers)
        problem = amount_problem(request.paid_amount_minor, "paid_amount_minor")
        if problem:
            v.problem(problem)
        v.text("payment_method", request.payment_method, maximum=32)
        v.text("payment_reference", request.payment_reference, maximum=128, required=False)
        v.text("buyer_name", request.buyer_name, maximum=256, required=False)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.CreateSaleResponse:
            sold = await self.uc.sales.sell(
                conn,
                requisition_id,
                numbers,
                paid_amount_minor=request.paid_amount_minor,
                payment_method=request.payment_method,
                payment_reference=request.payment_reference,
                buyer_name=request.buyer_name,
                actor=principal.label,
            )
            sale = sold.sale
            await access.record(
                conn,
                principal,
                "sale.created",
                sale.sale_id,
                role=access.SALES,
                requisition_id=str(sale.requisition_id),
                card_count=sale.card_count,
                face_value_total_minor=sale.face_value_total_minor,
                paid_amount_minor=sale.paid_amount_minor,
            )
            return pb.CreateSaleResponse(sale=sale_proto(sale))

        return await idempotency.once(self.pool, request, work)

    async def GetSale(
        self, request: pb.GetSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSaleResponse:
        access.back_office()
        sale_id = errors.parse_uuid(request.sale_id, "sale_id", "a sale id")
        async with self.pool.acquire() as conn:
            sale = await self.uc.sales.get(conn, sale_id)
        return pb.GetSaleResponse(sale=sale_proto(sale))

    async def ListSales(
        self, request: pb.ListSalesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSalesResponse:
        access.back_office()
        v = Checks()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        check_state = None
        if request.check_state:
            check_state = _CHECK_OF.get(request.check_state)
            v.check(check_state is not None, "check_state", "not a check state")
        requisition_id = v.optional_uuid(
            "requisition_id", request.requisition_id, "a requisition id"
        )
        v.raise_if_any()
        query = {"check_state": int(request.check_state), "requisition_id": request.requisition_id}
        size = paging.size(request.page_size)
        before = paging.cursor(request.page_token, query, uuid.UUID)
        async with self.pool.acquire() as conn:
            found = await self.uc.sales.page(
                conn,
                check_state=check_state,
                requisition_id=requisition_id,
                before=before,
                limit=size + 1,
            )
        found, token = paging.page(found, size, query, key=lambda s: s.sale_id)
        return pb.ListSalesResponse(sales=[sale_proto(s) for s in found], next_page_token=token)

    async def CheckSale(
        self, request: pb.CheckSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckSaleResponse:
        principal = access.require_any(access.FINANCE)
        v = Checks()
        sale_id = v.uuid("sale_id", request.sale_id, "a sale id")
        outcome = _CHECK_OF.get(request.outcome)
        v.check(
            outcome in (CheckState.CONFIRMED, CheckState.DISPUTED),
            "outcome",
            "CONFIRMED or DISPUTED",
        )
        v.text("note", request.note, maximum=MAX_TEXT, required=outcome is CheckState.DISPUTED)
        v.raise_if_any()
        assert outcome is not None

        async def work(conn: asyncpg.Connection) -> pb.CheckSaleResponse:
            sale = await self.uc.sales.check(
                conn,
                sale_id,
                outcome=outcome,
                note=request.note,
                checker=principal.label,
                held=access.roles(principal),
            )
            await access.record(
                conn,
                principal,
                "sale.checked",
                sale_id,
                role=access.FINANCE,
                reason=request.note,
                outcome=outcome.value,
            )
            return pb.CheckSaleResponse(sale=sale_proto(sale))

        return await idempotency.once(self.pool, request, work)
