"""Sales (销售): a requisition's cards activated (ACTIVE, valid from the sale for the product's
validity, one card.activated each), the requisition closed once nothing is left drawn, and
finance's re-check (财务复核) by someone other than the seller; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.giftcard.domain import cards as numbers
from services.giftcard.domain import products
from services.giftcard.store import journal
from tests.support import bus, snapshots
from tests.support.giftcard import fulfilled_requisition, stock
from tests.support.grpc_errors import fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
ACTIVATED = "loyalty.giftcard.card.activated.v1"
HUNDRED = 100_00
TABLES = (
    "requisitions",
    "sales",
    "cards",
    "journal_transactions",
    "journal_postings",
    "idempotency",
    "audit_log",
)


async def snapshot(pool) -> dict:
    return await snapshots.snapshot(pool, *TABLES, outbox="SELECT id FROM outbox")


def sale(requisition_id: str, *card_numbers: str, paid: int, **fields) -> pb.CreateSaleRequest:
    values = {"payment_method": "pos", "payment_reference": "slip 0042"}
    values.update(fields)
    return pb.CreateSaleRequest(
        request_id=uid(),
        requisition_id=requisition_id,
        card_numbers=list(card_numbers),
        paid_amount_minor=paid,
        **values,
    )


async def drawn(giftcard, operator, requisition_id: str) -> list[res.Card]:
    listed = await giftcard.ListCards(
        pb.ListCardsRequest(requisition_id=requisition_id), metadata=operator
    )
    return list(listed.cards)


async def test_a_sale_activates_its_cards_from_the_sale_for_the_products_validity(
    giftcard, giftcard_app, cards, staff, clock, tap
):
    sold_at = dt.datetime(2024, 6, 30, 18, 30, tzinfo=dt.UTC)  # 02:30 on 1 July in Shanghai
    clock.set(sold_at)
    seller, operator = staff("sara", "sales"), staff("carol", "operator")
    product_id = await cards.product(HUNDRED)
    await giftcard_app.pool.execute(
        "UPDATE products SET validity_months = 12 WHERE product_id = $1", product_id
    )
    await stock(cards, 3, product_id)
    requisition = await fulfilled_requisition(giftcard, staff, product_id, 3)
    rid = requisition.requisition_id
    first, second, third = await drawn(giftcard, operator, rid)

    made = (
        await giftcard.CreateSale(
            sale(rid, first.card_number, second.card_number, paid=190_00, buyer_name="Ms Li"),
            metadata=seller,
        )
    ).sale
    assert made.card_count == 2 and made.face_value_total_minor == 2 * HUNDRED
    assert made.paid_amount_minor == 190_00  # a discount is allowed, never more than the value
    assert made.sold_by == "operator:sara" and made.buyer_name == "Ms Li"
    assert made.check.state == res.SALE_CHECK_STATE_PENDING
    assert made.sale_time.ToDatetime(dt.UTC) == sold_at

    valid_until = products.valid_until(sold_at, 12, "Asia/Shanghai")
    assert valid_until == dt.datetime(2025, 7, 1, 16, tzinfo=dt.UTC)  # end of 1 July 2025
    listed = await giftcard.ListCards(pb.ListCardsRequest(sale_id=made.sale_id), metadata=seller)
    assert {c.card_id for c in listed.cards} == {first.card_id, second.card_id}
    for card in listed.cards:
        assert card.state == res.CARD_STATE_ACTIVE
        assert card.expire_time.ToDatetime(dt.UTC) == valid_until
        assert card.activate_time.ToDatetime(dt.UTC) == sold_at
        assert card.balance_minor == HUNDRED
        assert card.card_number == ""  # sales sees masked numbers only
        (event,) = await tap.wait_for(ACTIVATED, card.card_id)
        data = bus.data(event)
        assert data["cause"] == "ACTIVATION_CAUSE_SALE" and data["saleId"] == made.sale_id
        assert data["balanceMinor"] == str(HUNDRED)
        assert data["maskedCardNumber"] == card.masked_card_number

    after = (
        await giftcard.GetRequisition(pb.GetRequisitionRequest(requisition_id=rid), metadata=seller)
    ).requisition
    assert after.sold_count == 2 and after.state == res.REQUISITION_STATE_FULFILLED

    # An empty list sells what is still drawn (a bulk sale), and that closes the requisition.
    rest = (await giftcard.CreateSale(sale(rid, paid=HUNDRED), metadata=seller)).sale
    assert rest.card_count == 1
    await tap.wait_for(ACTIVATED, third.card_id)
    after = (
        await giftcard.GetRequisition(pb.GetRequisitionRequest(requisition_id=rid), metadata=seller)
    ).requisition
    assert after.sold_count == 3 and after.state == res.REQUISITION_STATE_CLOSED
    await fails(
        giftcard.CreateSale(sale(rid, paid=HUNDRED), metadata=seller),
        PRECONDITION,
        "REQUISITION_CLOSED",
    )
    entries = await giftcard_app.pool.fetch(
        "SELECT actor, subject, detail FROM audit_log WHERE action = 'giftcard.sale.created'"
        " ORDER BY id"
    )
    assert [(e["actor"], e["subject"]) for e in entries] == [
        ("operator:sara", made.sale_id),
        ("operator:sara", rest.sale_id),
    ]
    assert entries[0]["detail"]["paid_amount_minor"] == 190_00
    # Activation moves no value: the books still balance and hold what was loaded.
    assert await journal.problems(giftcard_app.pool) == {}


async def test_a_bulk_purchase_sale_takes_the_buyer_of_the_requisition(giftcard, cards, staff):
    product_id = await cards.product(HUNDRED)
    await stock(cards, 2, product_id)
    requisition = await fulfilled_requisition(
        giftcard,
        staff,
        product_id,
        2,
        kind=res.REQUISITION_KIND_BULK_PURCHASE,
        buyer_name="Acme Trading Co.",
    )
    made = (
        await giftcard.CreateSale(
            sale(requisition.requisition_id, paid=180_00, payment_method="bank_transfer"),
            metadata=staff("sara", "sales"),
        )
    ).sale
    assert made.buyer_name == "Acme Trading Co." and made.card_count == 2


async def test_finance_rechecks_every_sale_once_and_never_the_seller(
    giftcard, giftcard_app, cards, staff
):
    product_id = await cards.product(HUNDRED)
    await stock(cards, 2, product_id)
    rid = (await fulfilled_requisition(giftcard, staff, product_id, 2)).requisition_id
    # The seller holds the finance scope too: still not the checker of its own sale.
    seller = staff("sara", "sales", "finance")
    sale_id = (await giftcard.CreateSale(sale(rid, paid=200_00), metadata=seller)).sale.sale_id

    def check(outcome, note: str = "") -> pb.CheckSaleRequest:
        return pb.CheckSaleRequest(request_id=uid(), sale_id=sale_id, outcome=outcome, note=note)

    confirmed = res.SALE_CHECK_STATE_CONFIRMED
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.CheckSale(check(confirmed), metadata=seller), PRECONDITION, "MAKER_IS_CHECKER"
    )
    await fails(
        giftcard.CheckSale(check(confirmed), metadata=staff("sam", "sales")),
        DENIED,
        "MISSING_SCOPE",
    )
    finance = staff("fay", "finance")
    await fails(
        giftcard.CheckSale(check(res.SALE_CHECK_STATE_DISPUTED), metadata=finance),
        INVALID,
        "INVALID_ARGUMENT",
        ["note"],
    )
    await fails(
        giftcard.CheckSale(check(res.SALE_CHECK_STATE_PENDING), metadata=finance),
        INVALID,
        "INVALID_ARGUMENT",
        ["outcome"],
    )
    await fails(
        giftcard.CheckSale(
            pb.CheckSaleRequest(request_id=uid(), sale_id=uid(), outcome=confirmed),
            metadata=finance,
        ),
        NOT_FOUND,
        "SALE_NOT_FOUND",
    )
    assert await snapshot(giftcard_app.pool) == before

    checked = (await giftcard.CheckSale(check(confirmed, "slip matches"), metadata=finance)).sale
    assert checked.check.state == confirmed
    assert (checked.check.checked_by, checked.check.note) == ("operator:fay", "slip matches")
    await fails(
        giftcard.CheckSale(
            check(res.SALE_CHECK_STATE_DISPUTED, "again"), metadata=staff("gus", "finance")
        ),
        PRECONDITION,
        "SALE_ALREADY_CHECKED",
    )
    (entry,) = await giftcard_app.pool.fetch(
        "SELECT actor, detail FROM audit_log WHERE action = 'giftcard.sale.checked'"
    )
    assert entry["actor"] == "operator:fay" and entry["detail"]["outcome"] == "confirmed"
    listed = await giftcard.ListSales(
        pb.ListSalesRequest(check_state=confirmed, requisition_id=rid), metadata=finance
    )
    assert [s.sale_id for s in listed.sales] == [sale_id]
    pending = await giftcard.ListSales(
        pb.ListSalesRequest(check_state=res.SALE_CHECK_STATE_PENDING), metadata=finance
    )
    assert list(pending.sales) == []


async def test_a_disputed_sale_keeps_its_note_and_its_cards_active(giftcard, cards, staff):
    product_id = await cards.product(HUNDRED)
    await stock(cards, 1, product_id)
    rid = (await fulfilled_requisition(giftcard, staff, product_id, 1)).requisition_id
    sale_id = (
        await giftcard.CreateSale(sale(rid, paid=HUNDRED), metadata=staff("sara", "sales"))
    ).sale.sale_id
    disputed = (
        await giftcard.CheckSale(
            pb.CheckSaleRequest(
                request_id=uid(),
                sale_id=sale_id,
                outcome=res.SALE_CHECK_STATE_DISPUTED,
                note="POS slip shows 90.00",
            ),
            metadata=staff("fay", "finance"),
        )
    ).sale
    assert disputed.check.state == res.SALE_CHECK_STATE_DISPUTED
    assert disputed.check.note == "POS slip shows 90.00"
    got = await giftcard.GetSale(pb.GetSaleRequest(sale_id=sale_id), metadata=staff("x", "finance"))
    assert got.sale == disputed
    listed = await giftcard.ListCards(
        pb.ListCardsRequest(sale_id=sale_id), metadata=staff("x", "finance")
    )
    assert [c.state for c in listed.cards] == [res.CARD_STATE_ACTIVE]


async def test_bad_sales_are_refused_precisely_and_change_nothing(
    giftcard, giftcard_app, cards, staff
):
    seller = staff("sara", "sales")
    product_id = await cards.product(HUNDRED)
    await stock(cards, 3, product_id)
    rid = (await fulfilled_requisition(giftcard, staff, product_id, 2)).requisition_id
    mine = [c.card_number for c in await drawn(giftcard, staff("o", "operator"), rid)]
    loose = await giftcard_app.pool.fetchval(
        "SELECT card_number FROM cards WHERE state = 'ready' AND product_id = $1", product_id
    )
    approved = await giftcard.CreateRequisition(
        pb.CreateRequisitionRequest(
            request_id=uid(),
            kind=res.REQUISITION_KIND_SALES_DESK,
            sales_desk="d9",
            lines=[res.RequisitionLine(product_id=str(product_id), card_count=1)],
        ),
        metadata=staff("alice", "requester"),
    )
    unfulfilled = approved.requisition.requisition_id
    before = await snapshot(giftcard_app.pool)

    async def refused(request, code, reason, fields=None):
        await fails(giftcard.CreateSale(request, metadata=seller), code, reason, fields)

    await refused(
        sale(rid, *mine, paid=200_01),
        INVALID,
        "SALE_AMOUNT_EXCEEDS_FACE_VALUE",
        ["paid_amount_minor"],
    )
    await refused(sale(rid, paid=0), INVALID, "AMOUNT_NOT_POSITIVE", ["paid_amount_minor"])
    await refused(sale(rid, paid=-1), INVALID, "AMOUNT_NOT_POSITIVE", ["paid_amount_minor"])
    await refused(
        sale(rid, paid=HUNDRED, payment_method=""), INVALID, "INVALID_ARGUMENT", ["payment_method"]
    )
    await refused(
        sale(rid, mine[0], loose, mine[0], paid=HUNDRED),
        INVALID,
        "CARD_NOT_IN_REQUISITION",
        ["card_numbers[1]", "card_numbers[2]"],
    )
    await refused(sale(rid, numbers.new_number("9", 19), paid=HUNDRED), NOT_FOUND, "CARD_NOT_FOUND")
    await refused(
        sale(rid, "1234 5678", paid=HUNDRED), INVALID, "CARD_NUMBER_LENGTH", ["card_numbers[0]"]
    )
    await refused(sale(unfulfilled, paid=HUNDRED), PRECONDITION, "REQUISITION_NOT_FULFILLED")
    await refused(sale(str(uuid.uuid4()), paid=HUNDRED), NOT_FOUND, "REQUISITION_NOT_FOUND")
    await refused(sale("not-an-id", paid=HUNDRED), INVALID, "INVALID_ARGUMENT", ["requisition_id"])
    await fails(
        giftcard.CreateSale(sale(rid, paid=HUNDRED), metadata=staff("o", "operator")),
        DENIED,
        "MISSING_SCOPE",
    )
    assert await snapshot(giftcard_app.pool) == before
