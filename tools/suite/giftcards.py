"""Gift cards through the whole back-office procedure, each step by the person of its role: a
product (manager), a batch requested (requester) and approved (approver), its cards generated
and their secrets exported once (manager), value loaded (loader) and reviewed (reviewer), the
cards drawn by a sales desk (requested, approved, handed over) and sold (sales desk)."""

from __future__ import annotations

from loyalty.giftcard.v1 import giftcard_service_pb2 as gpb
from loyalty.giftcard.v1 import resources_pb2 as gres

from .callers import APPROVER, LOADER, MANAGER, REQUESTER, REVIEWER, SALES, Callers, uid


async def sold_cards(
    call: Callers, count: int, face_minor: int, display_name: str
) -> list[tuple[str, str]]:
    """`count` cards of `face_minor` (CNY), of a new product named `display_name`, sold at a
    store's desk for cash: their numbers and PINs, ACTIVE."""
    gc, invoke, as_ = call.giftcard, call.invoke, call.as_
    product = gres.Product(
        display_name=display_name,
        kind=gres.PRODUCT_KIND_DENOMINATION,
        currency_code="CNY",
        face_value_minor=face_minor,
        validity_months=36,
        channels=["online"],
        enabled=True,
    )
    created = await invoke(
        gc.CreateProduct, gpb.CreateProductRequest(request_id=uid(), product=product), as_(MANAGER)
    )
    product_id = created.product.product_id
    batch = await invoke(
        gc.CreateBatch,
        gpb.CreateBatchRequest(
            request_id=uid(), product_id=product_id, card_count=count, face_value_minor=face_minor
        ),
        as_(REQUESTER),
    )
    batch_id = batch.batch.batch_id
    approve = gpb.ApproveBatchRequest(request_id=uid(), batch_id=batch_id)
    await invoke(gc.ApproveBatch, approve, as_(APPROVER))
    generate = gpb.GenerateBatchCardsRequest(request_id=uid(), batch_id=batch_id)
    await invoke(gc.GenerateBatchCards, generate, as_(MANAGER))
    export = gpb.ExportBatchSecretsRequest(request_id=uid(), batch_id=batch_id)
    exported = await invoke(gc.ExportBatchSecrets, export, as_(MANAGER))
    cards = [(row.card_number, row.pin) for row in exported.rows]
    entries = [gpb.LoadEntryInput(card_number=n, amount_minor=face_minor) for n, _ in cards]
    load = await invoke(
        gc.LoadCards,
        gpb.LoadCardsRequest(request_id=uid(), batch_id=batch_id, entries=entries),
        as_(LOADER),
    )
    review = gpb.ApproveLoadRequest(
        request_id=uid(),
        load_id=load.load.load_id,
        card_count=count,
        total_minor=face_minor * count,
    )
    await invoke(gc.ApproveLoad, review, as_(REVIEWER))
    line = gres.RequisitionLine(
        product_id=product_id, face_value_minor=face_minor, card_count=count
    )
    requisition = await invoke(
        gc.CreateRequisition,
        gpb.CreateRequisitionRequest(
            request_id=uid(),
            kind=gres.REQUISITION_KIND_SALES_DESK,
            sales_desk="store-1",
            lines=[line],
        ),
        as_(REQUESTER),
    )
    requisition_id = requisition.requisition.requisition_id
    approve_draw = gpb.ApproveRequisitionRequest(request_id=uid(), requisition_id=requisition_id)
    await invoke(gc.ApproveRequisition, approve_draw, as_(APPROVER))
    fulfil = gpb.FulfilRequisitionRequest(request_id=uid(), requisition_id=requisition_id)
    await invoke(gc.FulfilRequisition, fulfil, as_(MANAGER))
    sale = gpb.CreateSaleRequest(
        request_id=uid(),
        requisition_id=requisition_id,
        card_numbers=[n for n, _ in cards],
        paid_amount_minor=face_minor * count,
        payment_method="cash",
    )
    await invoke(gc.CreateSale, sale, as_(SALES))
    return cards
