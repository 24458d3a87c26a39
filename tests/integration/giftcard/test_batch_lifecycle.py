"""The full life of one batch of 1,000 cards of a 100 CNY product, through the public
interfaces only (the back office and the wallet over gRPC, each step by an operator of the
role it needs and maker and checker different people; the storefront's order events on the
bus; the jobs run with the test's clock):

    定制 request → approvals (above the threshold: approver + manager) → generation → export of
    every page → 开户 load (a loader; one load rejected and redone) → 复核 review (a reviewer) →
    READY; 领用 for a sales desk and for a bulk buyer (团购) → fulfilled → 销售 sold, ACTIVE,
    valid from the sale; finance's re-check; unsold cards back to stock; then, on a sample of
    cards: partial redemptions by number + PIN captured by order.paid, an order paid with three
    cards and refunded in parts (the last card first, never more than each gave), a hold
    released by order.cancelled and one expiring by time, 冻结/解冻, 挂失 → 补卡 onto a blank
    (the balance moves, the new card spends), a damaged card replaced, a loss report cancelled,
    a defective stock card 注销 (written off), 退卡 after a manager's approval and 退卡 refused
    after any consumption, 调换 for a stock card, validity extended on one card; a year later
    the expiry job expires everything else (breakage).

At the end every card's state and balance is what the story says, the stock by state adds up
to the 1,000 cards (+ the blanks batch), every business day's reconciliation is balanced with
each line and the liability by part equal to what the test computed from the story itself
(tests/support/giftcard_flow.py `Book`), and the journal has no problem.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from services.giftcard import jobs
from services.giftcard.store import journal
from tests.integration.giftcard.test_batches import Stock, state_counts
from tests.support import bus
from tests.support.giftcard_flow import Book, at, by_binding, by_secret, end_of, every_page
from tests.support.grpc_errors import fails
from tests.support.ids import uid

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
PAID = "commerce.order.paid.v1"
CANCELLED = "commerce.order.cancelled.v1"
REFUNDED = "commerce.order.refunded.v1"
FACE = 100_00
CARDS = 1000
BLANKS = 4  # a small batch of blank cards for replacements (补卡), one export page recovered
VALIDITY_MONTHS = 12
D1 = dt.date(2025, 3, 3)  # production: request, approvals, generation, export, load, review
D2 = dt.date(2025, 3, 4)  # 领用 and 销售
D3 = dt.date(2025, 3, 5)  # checkout and after-sale
D4 = dt.date(2026, 3, 6)  # a year on: the validity of every card sold on D2 or D3 is over
DAYS = (D1, D2, D3, D4)
SOLD_ON_D2_UNTIL = end_of(dt.date(2026, 3, 4))  # through the same date a year after the sale
EXTENDED_UNTIL = end_of(dt.date(2026, 6, 30))


def stamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


@dataclass
class Story:
    giftcard: Any
    wallet: Any
    clock: Any
    staff: Any
    checkout: Any
    publish: Any
    consumed: Any
    book: Book = field(default_factory=Book)
    pins: dict[str, str] = field(default_factory=dict)  # card number → PIN (the printed cards)
    number: dict[str, str] = field(default_factory=dict)  # card_id → card number
    sent: Counter = field(default_factory=Counter)  # order events published, by type

    def __post_init__(self) -> None:
        self.stock = Stock(self.giftcard, self.staff)  # mgr.wang, req.li, ap.chen, op.sun, …
        self.seller = self.staff("sa.zhou", "sales")
        self.finance = self.staff("fi.zheng", "finance")

    @property
    def operator(self):
        return self.stock.operator

    @property
    def manager(self):
        return self.stock.manager

    async def card(self, card_id: str) -> res.Card:
        got = await self.giftcard.GetCard(
            pb.GetCardRequest(card_id=card_id), metadata=self.operator
        )
        return got.card

    async def cards(self, **filters) -> list[res.Card]:
        return await every_page(
            lambda token: self.giftcard.ListCards(
                pb.ListCardsRequest(page_size=500, page_token=token, **filters),
                metadata=self.operator,
            ),
            "cards",
        )

    # --- checkout: holds by the storefront, settled by the order's events ------------------
    async def hold(self, order_id: str, *sources: wpb.HoldSource, member_id: str = ""):
        placed = await self.wallet.PlaceHolds(
            wpb.PlaceHoldsRequest(
                request_id=uid(),
                order_id=order_id,
                member_id=member_id,
                currency_code="CNY",
                order_amount_minor=sum(s.amount_minor for s in sources),
                channel="online",
                sources=list(sources),
            ),
            metadata=self.checkout,
        )
        return list(placed.holds)

    def secret(self, card_id: str, amount: int) -> wpb.HoldSource:
        number = self.number[card_id]
        return by_secret(number, self.pins[number], amount)

    async def event(self, type_: str, order_id: str, payload) -> None:
        await self.publish(type_, order_id, payload)
        self.sent[type_] += 1
        await self.consumed(type_, self.sent[type_])

    async def paid(self, order_id: str, holds) -> None:
        amount = sum(h.amount_minor for h in holds)
        await self.event(
            PAID,
            order_id,
            commerce.OrderPaid(
                order_id=order_id,
                member_id=str(uuid.uuid4()),
                currency_code="CNY",
                paid_amount_minor=amount,
                gift_card_hold_ids=[h.hold_id for h in holds],
                gift_card_amount_minor=amount,
            ),
        )

    async def refunded(self, order_id: str, refund_id: str, amount: int) -> None:
        await self.event(
            REFUNDED,
            order_id,
            commerce.OrderRefunded(
                order_id=order_id,
                member_id=str(uuid.uuid4()),
                refund_id=refund_id,
                currency_code="CNY",
                refunded_amount_minor=amount,
                gift_card_amount_minor=amount,
            ),
        )

    async def order(self, order_id: str) -> res.Order:
        got = await self.wallet.GetOrder(
            wpb.GetOrderRequest(order_id=order_id), metadata=self.checkout
        )
        return got.order

    async def redeem(self, card_id: str, amount: int, source=None, member_id: str = "") -> str:
        """A checkout paid with the card (by number and PIN unless told), captured by
        order.paid."""
        order_id = f"order-{uid()}"
        holds = await self.hold(
            order_id, source or self.secret(card_id, amount), member_id=member_id
        )
        await self.paid(order_id, holds)
        self.book.redeemed(D3, card_id, amount)
        got = await self.order(order_id)
        assert (got.payment.captured_minor, got.payment.problem) == (amount, "")
        assert [h.state for h in got.holds] == [res.HOLD_STATE_CAPTURED]
        return order_id

    async def balance(self, card_id: str) -> tuple[int, int]:
        card = await self.card(card_id)
        return card.balance_minor, card.held_minor


# --- 定制 → 开户/充值 → 复核 ------------------------------------------------------------------
async def produce(s: Story, tap) -> tuple[res.Batch, res.Batch, str, list[str]]:
    """The batch walked to READY step by step; the blanks batch exported with a recovery.
    Returns the batch, the blanks batch, the product and the blanks' card ids."""
    giftcard, stock, book = s.giftcard, s.stock, s.book
    s.clock.set(at(D1, 9))
    product_id = await stock.product(
        FACE, validity_months=VALIDITY_MONTHS, channels=["online", "store"]
    )
    # 1,000 × 100 CNY = 100,000 CNY: above the 50,000 CNY threshold, an approver AND a manager.
    batch = await stock.request(CARDS, product_id=product_id, note="Spring festival cards")
    assert (batch.state, batch.total_minor) == (res.BATCH_STATE_PENDING_APPROVAL, CARDS * FACE)
    assert list(batch.pending_roles) == ["giftcard:approver", "giftcard:manager"]
    await fails(
        stock.approve(batch.batch_id, s.staff("req.li", "requester", "manager")),
        PRECONDITION,
        "SELF_APPROVAL",
    )
    s.clock.set(at(D1, 9, 10))
    halfway = await stock.approve(batch.batch_id, stock.approver)
    assert halfway.state == res.BATCH_STATE_PENDING_APPROVAL
    assert list(halfway.pending_roles) == ["giftcard:manager"]
    await fails(
        stock.approve(batch.batch_id, s.staff("ap.chen", "approver", "manager")),
        PRECONDITION,
        "ALREADY_APPROVED",
    )
    approved = await stock.approve(batch.batch_id, stock.manager)
    assert approved.state == res.BATCH_STATE_APPROVED
    assert [(a.approver, a.role) for a in approved.approvals] == [
        ("operator:ap.chen", "giftcard:approver"),
        ("operator:mgr.wang", "giftcard:manager"),
    ]
    (event,) = await tap.wait_for("loyalty.giftcard.batch.approved.v1", batch.batch_id)
    assert bus.data(event)["cardCount"] == CARDS

    s.clock.set(at(D1, 9, 30))
    generated = await stock.generate(batch.batch_id)
    assert state_counts(generated) == {"CARD_STATE_ISSUED": CARDS}
    # Every page of the secrets, once: 4 pages of 250 for the printer.
    rows: list = []
    pages = []
    while True:
        page = await stock.export(batch.batch_id, page_size=250)
        pages.append(page.page)
        rows += page.rows
        if page.remaining_count == 0:
            break
    assert pages == [1, 2, 3, 4] and page.batch.state == res.BATCH_STATE_EXPORTED
    assert len({r.card_number for r in rows}) == CARDS and all(len(r.pin) == 20 for r in rows)
    s.pins.update({r.card_number: r.pin for r in rows})
    s.number.update({r.card_id: r.card_number for r in rows})
    book.issued(r.card_id for r in rows)

    # The blanks (补卡 stock): a page lost on its way to the printer is voided and re-made.
    blanks_batch = await stock.request(BLANKS, product_id=product_id, note="replacement blanks")
    assert list(blanks_batch.pending_roles) == ["giftcard:approver"]  # 400 CNY: one approver
    await stock.approve(blanks_batch.batch_id, stock.approver)
    await stock.generate(blanks_batch.batch_id)
    first = await stock.export(blanks_batch.batch_id, page_size=2)
    lost_page = await stock.export(blanks_batch.batch_id, page_size=2)
    book.issued(r.card_id for r in (*first.rows, *lost_page.rows))
    recovered = await giftcard.RecoverBatchExport(
        pb.RecoverBatchExportRequest(
            request_id=uid(),
            batch_id=blanks_batch.batch_id,
            from_page=2,
            reason="page 2 jammed in the printer",
        ),
        metadata=stock.manager,
    )
    assert (recovered.voided_count, recovered.generated_count) == (2, 2)
    book.voided(r.card_id for r in lost_page.rows)
    last = await stock.export(blanks_batch.batch_id, page_size=2)
    assert (last.page, last.remaining_count) == (3, 0)
    blank_rows = [*first.rows, *last.rows]
    s.pins.update({r.card_number: r.pin for r in blank_rows})
    s.number.update({r.card_id: r.card_number for r in blank_rows})
    book.issued(r.card_id for r in last.rows)

    # 开户: a first load of 10 cards is rejected by the reviewer and redone in the next loads.
    s.clock.set(at(D1, 14))

    async def load(part) -> res.Load:
        made = await giftcard.LoadCards(
            pb.LoadCardsRequest(
                request_id=uid(),
                batch_id=batch.batch_id,
                entries=[
                    pb.LoadEntryInput(card_number=r.card_number, amount_minor=FACE) for r in part
                ],
            ),
            metadata=stock.loader,
        )
        assert made.load.state == res.LOAD_STATE_PENDING_REVIEW
        book.loaded(D1, (r.card_id for r in part), FACE)
        return made.load

    rejected = await load(rows[:10])
    got = await giftcard.GetBatch(
        pb.GetBatchRequest(batch_id=batch.batch_id), metadata=stock.reviewer
    )
    assert state_counts(got.batch) == {"CARD_STATE_ISSUED": CARDS - 10, "CARD_STATE_LOADED": 10}
    await fails(  # the loader never reviews its own load
        giftcard.ApproveLoad(
            pb.ApproveLoadRequest(
                request_id=uid(), load_id=rejected.load_id, card_count=10, total_minor=10 * FACE
            ),
            metadata=s.staff("ld.zhao", "loader", "reviewer"),
        ),
        PRECONDITION,
        "MAKER_IS_CHECKER",
    )
    await giftcard.RejectLoad(
        pb.RejectLoadRequest(
            request_id=uid(), load_id=rejected.load_id, reason="two labels misprinted"
        ),
        metadata=stock.reviewer,
    )
    book.load_rejected(D1, (r.card_id for r in rows[:10]))

    s.clock.set(at(D1, 15))
    for part in (rows[:500], rows[500:]):
        made = await load(part)
        await fails(  # the reviewer counts for itself: a wrong total is refused
            giftcard.ApproveLoad(
                pb.ApproveLoadRequest(
                    request_id=uid(), load_id=made.load_id, card_count=500, total_minor=499 * FACE
                ),
                metadata=stock.reviewer,
            ),
            PRECONDITION,
            "LOAD_TOTAL_MISMATCH",
        )
        reviewed = await giftcard.ApproveLoad(
            pb.ApproveLoadRequest(
                request_id=uid(), load_id=made.load_id, card_count=500, total_minor=500 * FACE
            ),
            metadata=stock.reviewer,
        )
        assert reviewed.load.state == res.LOAD_STATE_APPROVED
        assert (reviewed.load.loaded_by, reviewed.load.reviewed_by) == (
            "operator:ld.zhao",
            "operator:rv.qian",
        )
        book.moved((r.card_id for r in part), res.CARD_STATE_READY)
    got = await giftcard.GetBatch(
        pb.GetBatchRequest(batch_id=batch.batch_id), metadata=stock.reviewer
    )
    assert state_counts(got.batch) == {"CARD_STATE_READY": CARDS}
    blanks = [r.card_id for r in blank_rows]
    return got.batch, blanks_batch, product_id, blanks


# --- 领用 → 销售 -------------------------------------------------------------------------------
async def draw_and_sell(s: Story, product_id: str) -> tuple[list[str], list[str]]:
    """A desk's requisition (200) and a bulk buyer's (600), fulfilled and sold; one defective
    stock card cancelled; 40 of the desk's unsold cards back to stock. Returns the card ids sold
    at the desk and to the bulk buyer."""
    giftcard, stock, book = s.giftcard, s.stock, s.book
    s.clock.set(at(D2, 9))

    async def requisition(count: int, **fields) -> res.Requisition:
        made = await giftcard.CreateRequisition(
            pb.CreateRequisitionRequest(
                request_id=uid(),
                lines=[res.RequisitionLine(product_id=product_id, card_count=count)],
                **fields,
            ),
            metadata=stock.requester,
        )
        return made.requisition

    def approve(requisition_id: str, who):
        return giftcard.ApproveRequisition(
            pb.ApproveRequisitionRequest(request_id=uid(), requisition_id=requisition_id),
            metadata=who,
        )

    desk = await requisition(
        200, kind=res.REQUISITION_KIND_SALES_DESK, sales_desk="store-001/desk-3", note="week 10"
    )
    assert list(desk.pending_roles) == ["giftcard:approver"]  # 20,000 CNY
    await fails(
        approve(desk.requisition_id, s.staff("req.li", "requester", "approver")),
        PRECONDITION,
        "SELF_APPROVAL",
    )
    assert (await approve(desk.requisition_id, stock.approver)).requisition.state == (
        res.REQUISITION_STATE_APPROVED
    )
    bulk = await requisition(
        600,
        kind=res.REQUISITION_KIND_BULK_PURCHASE,
        sales_desk="store-001/corporate",
        buyer_name="Hangzhou Acme Trading Co.",
        buyer_reference="PO-2025-0311",
    )
    assert list(bulk.pending_roles) == ["giftcard:approver", "giftcard:manager"]  # 60,000 CNY
    once = (await approve(bulk.requisition_id, stock.approver)).requisition
    assert once.state == res.REQUISITION_STATE_PENDING_APPROVAL
    await fails(
        giftcard.FulfilRequisition(
            pb.FulfilRequisitionRequest(request_id=uid(), requisition_id=bulk.requisition_id),
            metadata=s.operator,
        ),
        PRECONDITION,
        "REQUISITION_NOT_APPROVED",
    )
    assert (await approve(bulk.requisition_id, stock.manager)).requisition.state == (
        res.REQUISITION_STATE_APPROVED
    )

    s.clock.set(at(D2, 9, 30))
    for made in (desk, bulk):
        done = await giftcard.FulfilRequisition(
            pb.FulfilRequisitionRequest(request_id=uid(), requisition_id=made.requisition_id),
            metadata=s.operator,
        )
        assert done.requisition.state == res.REQUISITION_STATE_FULFILLED
    desk_cards = await s.cards(requisition_id=desk.requisition_id)
    bulk_cards = await s.cards(requisition_id=bulk.requisition_id)
    assert (len(desk_cards), len(bulk_cards)) == (200, 600)
    book.moved((c.card_id for c in (*desk_cards, *bulk_cards)), res.CARD_STATE_REQUISITIONED)

    # 注销: a defective card found in the safe, its loaded value written off.
    (defective, *_) = await s.cards(state=res.CARD_STATE_READY, product_id=product_id)
    cancelled = await giftcard.CancelCard(
        pb.CancelCardRequest(
            request_id=uid(), card_id=defective.card_id, reason="chip cracked in transport"
        ),
        metadata=s.operator,
    )
    assert cancelled.card.state == res.CARD_STATE_CANCELLED
    assert cancelled.written_off_minor == book.cancelled(D2, defective.card_id) == FACE

    # 销售: 150 at the desk at face value, the bulk buyer's 600 at a 5% discount.
    s.clock.set(at(D2, 10))
    desk_sold = [c.card_id for c in desk_cards[:150]]
    desk_sale = await giftcard.CreateSale(
        pb.CreateSaleRequest(
            request_id=uid(),
            requisition_id=desk.requisition_id,
            card_numbers=[s.number[c] for c in desk_sold],
            paid_amount_minor=150 * FACE,
            payment_method="pos",
            payment_reference="slip 000871",
        ),
        metadata=s.seller,
    )
    bulk_sale = await giftcard.CreateSale(
        pb.CreateSaleRequest(
            request_id=uid(),
            requisition_id=bulk.requisition_id,
            paid_amount_minor=600 * FACE * 95 // 100,
            payment_method="bank_transfer",
            payment_reference="TRX 2025-03-04 0042",
        ),
        metadata=s.seller,
    )
    assert (desk_sale.sale.card_count, bulk_sale.sale.card_count) == (150, 600)
    assert bulk_sale.sale.buyer_name == "Hangzhou Acme Trading Co."
    bulk_sold = [c.card_id for c in bulk_cards]
    book.activated(D2, desk_sold)
    book.activated(D2, bulk_sold)
    for sale in (desk_sale.sale, bulk_sale.sale):
        await fails(  # the seller never checks its own sale
            giftcard.CheckSale(
                pb.CheckSaleRequest(
                    request_id=uid(), sale_id=sale.sale_id, outcome=res.SALE_CHECK_STATE_CONFIRMED
                ),
                metadata=s.staff("sa.zhou", "sales", "finance"),
            ),
            PRECONDITION,
            "MAKER_IS_CHECKER",
        )
        checked = await giftcard.CheckSale(
            pb.CheckSaleRequest(
                request_id=uid(), sale_id=sale.sale_id, outcome=res.SALE_CHECK_STATE_CONFIRMED
            ),
            metadata=s.finance,
        )
        assert checked.sale.check.state == res.SALE_CHECK_STATE_CONFIRMED
        # Valid from the sale: through the same date a year later.
        sold = await s.cards(sale_id=sale.sale_id)
        assert len(sold) == sale.card_count
        assert {(c.state, c.balance_minor) for c in sold} == {(res.CARD_STATE_ACTIVE, FACE)}
        assert {c.expire_time.ToDatetime(dt.UTC) for c in sold} == {SOLD_ON_D2_UNTIL}
        assert {c.activate_time.ToDatetime(dt.UTC) for c in sold} == {at(D2, 10)}

    # 40 of the desk's 50 unsold cards come back to stock; 10 stay drawn.
    s.clock.set(at(D2, 18))
    back = [c.card_id for c in desk_cards[150:190]]
    returned = await giftcard.ReturnRequisitionCards(
        pb.ReturnRequisitionCardsRequest(
            request_id=uid(),
            requisition_id=desk.requisition_id,
            card_numbers=[s.number[c] for c in back],
            reason="not sold this week",
        ),
        metadata=s.operator,
    )
    assert returned.requisition.state == res.REQUISITION_STATE_FULFILLED
    assert (returned.requisition.sold_count, returned.requisition.returned_count) == (150, 40)
    book.moved(back, res.CARD_STATE_READY)
    bulk_after = await giftcard.GetRequisition(
        pb.GetRequisitionRequest(requisition_id=bulk.requisition_id), metadata=s.operator
    )
    assert bulk_after.requisition.state == res.REQUISITION_STATE_CLOSED
    return desk_sold, bulk_sold


# --- 使用: checkout on a sample of the cards ---------------------------------------------------
async def spend(s: Story, cards: dict[str, str], member: str, mint) -> None:
    book = s.book
    # Partial redemptions by number + PIN, each captured by its order's payment.
    s.clock.set(at(D3, 10))
    for name, amount in (("p1", 30_00), ("p2", 45_50), ("p3", FACE), ("p4", 12_34)):
        await s.redeem(cards[name], amount)
    await s.redeem(cards["x"], 20_00)
    await s.redeem(cards["x"], 15_00)
    assert await s.balance(cards["p3"]) == (0, 0)  # spent to the last fen
    assert await s.balance(cards["p2"]) == (FACE - 45_50, 0)

    # One order paid with three cards, then refunded in three parts: the last card first,
    # never more back to a card than it gave.
    s.clock.set(at(D3, 11))
    m1, m2, m3 = cards["m1"], cards["m2"], cards["m3"]
    order_id = f"order-{uid()}"
    holds = await s.hold(order_id, s.secret(m1, FACE), s.secret(m2, 60_00), s.secret(m3, 25_00))
    await s.paid(order_id, holds)
    for card_id, amount in ((m1, FACE), (m2, 60_00), (m3, 25_00)):
        book.redeemed(D3, card_id, amount)
    s.clock.set(at(D3, 12))
    await s.refunded(order_id, "r1", 70_00)  # 25.00 back to m3, 45.00 to m2
    book.returned(D3, m3, 25_00)
    book.returned(D3, m2, 45_00)
    await s.refunded(order_id, "r2", 50_00)  # 15.00 to m2 (all it gave), 35.00 to m1
    book.returned(D3, m2, 15_00)
    book.returned(D3, m1, 35_00)
    await s.refunded(order_id, "r3", 80_00)  # only 65.00 left to give back, to m1
    book.returned(D3, m1, 65_00)
    got = await s.order(order_id)
    assert got.payment.captured_minor == 185_00
    assert [
        (
            r.refund_id,
            r.returned_minor,
            r.unreturned_minor,
            [(v.card_id, v.amount_minor) for v in r.returns],
        )
        for r in got.refunds
    ] == [
        ("r1", 70_00, 0, [(m3, 25_00), (m2, 45_00)]),
        ("r2", 50_00, 0, [(m2, 15_00), (m1, 35_00)]),
        ("r3", 65_00, 15_00, [(m1, 65_00)]),
    ]
    assert [h.returned_minor for h in got.holds] == [FACE, 60_00, 25_00]
    for card_id in (m1, m2, m3):
        card = await s.card(card_id)
        assert (card.balance_minor, card.has_consumption) == (FACE, True)

    # A hold released by the order's cancellation.
    s.clock.set(at(D3, 13))
    h1 = cards["h1"]
    cancelled_order = f"order-{uid()}"
    (held,) = await s.hold(cancelled_order, s.secret(h1, 40_00))
    assert await s.balance(h1) == (60_00, 40_00)
    await s.event(CANCELLED, cancelled_order, commerce.OrderCancelled(order_id=cancelled_order))
    assert await s.balance(h1) == (FACE, 0)
    got = await s.order(cancelled_order)
    assert (got.holds[0].state, got.holds[0].release_reason) == (
        res.HOLD_STATE_RELEASED,
        res.HOLD_RELEASE_REASON_ORDER_CANCELLED,
    )

    # 冻结/解冻: a frozen card spends nothing, unfrozen it spends again; another stays frozen.
    s.clock.set(at(D3, 13, 30))
    f1, f2 = cards["f1"], cards["f2"]
    for card_id in (f1, f2):
        frozen = await s.giftcard.FreezeCard(
            pb.FreezeCardRequest(request_id=uid(), card_id=card_id, reason="suspected skimming"),
            metadata=s.operator,
        )
        assert frozen.card.state == res.CARD_STATE_FROZEN
    book.moved([f1, f2], res.CARD_STATE_FROZEN)
    await fails(s.hold(f"order-{uid()}", s.secret(f1, 10_00)), PRECONDITION, "CARD_FROZEN")
    thawed = await s.giftcard.UnfreezeCard(
        pb.UnfreezeCardRequest(request_id=uid(), card_id=f1, reason="cleared by security"),
        metadata=s.operator,
    )
    assert thawed.card.state == res.CARD_STATE_ACTIVE
    book.moved([f1], res.CARD_STATE_ACTIVE)
    await s.redeem(f1, 10_00)

    # 挂失 → 补卡: the member's bound card reported lost, its balance moved to a blank that
    # then spends with its own PIN.
    s.clock.set(at(D3, 14))
    l1, blank = cards["l1"], cards["blank1"]
    number = s.number[l1]
    bound = await s.wallet.BindCard(
        wpb.BindCardRequest(
            request_id=uid(),
            member_id=member,
            card=wpb.CardSecret(card_number=number, pin=s.pins[number]),
        ),
        metadata=mint(member),
    )
    assert bound.card.member_id == member
    await s.redeem(l1, 30_00, source=by_binding(l1, 30_00), member_id=member)
    lost = await s.wallet.ReportCardLost(
        wpb.ReportCardLostRequest(request_id=uid(), card_id=l1, reason="wallet stolen"),
        metadata=mint(member),
    )
    assert lost.card.state == res.CARD_STATE_LOST
    book.moved([l1], res.CARD_STATE_LOST)
    await fails(s.hold(f"order-{uid()}", s.secret(l1, 5_00)), PRECONDITION, "CARD_REPORTED_LOST")
    replaced = await s.giftcard.ReplaceCard(
        pb.ReplaceCardRequest(
            request_id=uid(),
            card_id=l1,
            cause=res.REPLACEMENT_CAUSE_LOST,
            new_card_number=s.number[blank],
            reason="owner reported it lost, identity checked",
        ),
        metadata=s.operator,
    )
    assert replaced.transferred_minor == book.transferred(D3, l1, blank) == 70_00
    new = replaced.new_card
    assert (new.card_id, new.state, new.balance_minor) == (blank, res.CARD_STATE_ACTIVE, 70_00)
    assert (new.member_id, new.replaces_card_id) == (member, l1)
    assert new.expire_time.ToDatetime(dt.UTC) == SOLD_ON_D2_UNTIL
    assert replaced.old_card.state == res.CARD_STATE_REPLACED
    await fails(s.hold(f"order-{uid()}", s.secret(l1, 5_00)), PRECONDITION, "CARD_CLOSED")
    await s.redeem(blank, 25_00)  # by the new card's own number and PIN

    # 补磁: a damaged card (10.00 spent) replaced onto the second blank.
    dmg, blank2 = cards["dmg"], cards["blank2"]
    await s.redeem(dmg, 10_00)
    fixed = await s.giftcard.ReplaceCard(
        pb.ReplaceCardRequest(
            request_id=uid(),
            card_number=s.number[dmg],
            cause=res.REPLACEMENT_CAUSE_DAMAGED,
            new_card_number=s.number[blank2],
            reason="magnetic stripe unreadable",
        ),
        metadata=s.operator,
    )
    assert fixed.transferred_minor == book.transferred(D3, dmg, blank2) == 90_00

    # A loss report cancelled (the card turned up), and one left standing.
    l2, l3 = cards["l2"], cards["l3"]
    for card_id in (l2, l3):
        await s.wallet.ReportCardLost(
            wpb.ReportCardLostRequest(
                request_id=uid(),
                card_number=s.number[card_id],
                reason="buyer lost it, receipt shown",
            ),
            metadata=s.operator,
        )
    back = await s.wallet.CancelCardLossReport(
        wpb.CancelCardLossReportRequest(
            request_id=uid(), card_number=s.number[l2], reason="found in the buyer's car"
        ),
        metadata=s.operator,
    )
    assert (back.card.state, back.card.balance_minor) == (res.CARD_STATE_ACTIVE, FACE)
    book.moved([l3], res.CARD_STATE_LOST)


# --- 退卡, 调换, 延期 --------------------------------------------------------------------------
async def after_sale(s: Story, cards: dict[str, str], stock_card: str, tap) -> None:
    giftcard, book = s.giftcard, s.book
    s.clock.set(at(D3, 15))

    def approve(after_sale_id: str, who):
        return giftcard.ApproveAfterSale(
            pb.ApproveAfterSaleRequest(request_id=uid(), after_sale_id=after_sale_id), metadata=who
        )

    # 退卡 of an unused card: nothing happens until a manager (not the requester) approves.
    refund = cards["refund"]
    asked = await giftcard.RequestCardRefund(
        pb.RequestCardRefundRequest(request_id=uid(), card_id=refund, reason="gift not wanted"),
        metadata=s.seller,
    )
    aid = asked.after_sale.after_sale_id
    assert list(asked.after_sale.pending_roles) == ["giftcard:manager"]
    await fails(approve(aid, s.staff("sa.zhou", "sales", "manager")), PRECONDITION, "SELF_APPROVAL")
    assert (await s.card(refund)).state == res.CARD_STATE_ACTIVE
    done = await approve(aid, s.manager)
    assert done.after_sale.state == res.AFTER_SALE_STATE_COMPLETED
    assert (done.card.state, done.card.balance_minor) == (res.CARD_STATE_REFUNDED, 0)
    assert done.after_sale.amount_minor == book.refunded(D3, refund) == FACE
    (event,) = await tap.wait_for("loyalty.giftcard.card.refunded.v1", refund)
    assert bus.data(event)["amountMinor"] == str(FACE)

    # 退卡 and 调换 refused after any consumption: a card partly spent, a card spent to the last
    # fen, and one whose whole spend came back with the order's refunds (its balance is the
    # face value again, its consumption record stays).
    for name in ("p1", "p3", "m3"):
        await fails(
            giftcard.RequestCardRefund(
                pb.RequestCardRefundRequest(
                    request_id=uid(), card_id=cards[name], reason="customer wants cash"
                ),
                metadata=s.seller,
            ),
            PRECONDITION,
            "CARD_HAS_CONSUMPTION",
        )
    await fails(
        giftcard.RequestCardExchange(
            pb.RequestCardExchangeRequest(
                request_id=uid(),
                card_id=cards["m3"],
                exchange_card_numbers=[s.number[stock_card]],
                reason="wants another design",
            ),
            metadata=s.seller,
        ),
        PRECONDITION,
        "CARD_HAS_CONSUMPTION",
    )

    # 调换 of an unused card for a stock card of the same value.
    exchanged = cards["exchange"]
    asked = await giftcard.RequestCardExchange(
        pb.RequestCardExchangeRequest(
            request_id=uid(),
            card_id=exchanged,
            exchange_card_numbers=[s.number[stock_card]],
            reason="wants another design",
        ),
        metadata=s.seller,
    )
    done = await approve(asked.after_sale.after_sale_id, s.manager)
    assert (done.card.state, done.card.balance_minor) == (res.CARD_STATE_EXCHANGED, 0)
    book.exchanged(D3, exchanged, [stock_card])
    given = await s.card(stock_card)
    assert (given.state, given.balance_minor) == (res.CARD_STATE_ACTIVE, FACE)
    assert given.expire_time.ToDatetime(dt.UTC) == end_of(dt.date(2026, 3, 5))  # from D3

    # 延期: one card's validity extended (audited with the old and new expiry).
    extended = await giftcard.ExtendCardValidity(
        pb.ExtendCardValidityRequest(
            request_id=uid(),
            card_id=cards["x"],
            expire_time=stamp(EXTENDED_UNTIL),
            reason="customer was abroad, manager agreed",
        ),
        metadata=s.operator,
    )
    assert extended.card.expire_time.ToDatetime(dt.UTC) == EXTENDED_UNTIL
    assert extended.restored_minor == 0


async def test_the_life_of_a_batch_of_1000_cards(
    giftcard, wallet, giftcard_app, staff, checkout, mint, clock, publish, consumed, tap
):
    s = Story(giftcard, wallet, clock, staff, checkout, publish, consumed)
    book = s.book
    batch, blanks_batch, product_id, blanks = await produce(s, tap)
    desk_sold, bulk_sold = await draw_and_sell(s, product_id)

    # The sample the per-card steps act on: desk-sold cards, two of the bulk buyer's, blanks.
    names = "p1 p2 p3 p4 x m1 m2 m3 h1 h2 f1 f2 l1 l2 l3 dmg".split()
    cards = dict(zip(names, desk_sold, strict=False))
    cards.update(refund=bulk_sold[0], exchange=bulk_sold[1], blank1=blanks[0], blank2=blanks[1])
    member = str(uuid.uuid4())
    await spend(s, cards, member, mint)
    (stock_card, *_) = await s.cards(state=res.CARD_STATE_READY, batch_id=batch.batch_id)
    await after_sale(s, cards, stock_card.card_id, tap)

    # A hold left to time out (the storefront never came back): the job gives it back.
    s.clock.set(at(D3, 16))
    h2 = cards["h2"]
    (abandoned,) = await s.hold(f"order-{uid()}", s.secret(h2, 20_00))
    assert await s.balance(h2) == (80_00, 20_00)
    s.clock.set(at(D3, 16, 31))
    assert await giftcard_app.usecases.holds.expire_due(giftcard_app.pool, 100) == 1
    got = await wallet.GetHold(wpb.GetHoldRequest(hold_id=abandoned.hold_id), metadata=checkout)
    assert got.hold.state == res.HOLD_STATE_EXPIRED
    assert await s.balance(h2) == (FACE, 0)

    # A year on: every card sold on D2 or given on D3 is past its validity but the extended
    # one; the expiry job reports what is left on them as breakage, once.
    s.clock.set(at(D4, 3))
    due = [
        c
        for c, state in book.state.items()
        if state in (res.CARD_STATE_ACTIVE, res.CARD_STATE_FROZEN, res.CARD_STATE_LOST)
        and c != cards["x"]
    ]
    assert len(due) == 750 - 5 + 3  # sold, less refunded/exchanged/replaced×2/extended, + given
    assert await jobs.expire_cards(giftcard_app.usecases, giftcard_app.pool) == len(due)
    for card_id in due:
        book.expired(D4, card_id)
    assert await jobs.expire_cards(giftcard_app.usecases, giftcard_app.pool) == 0
    await fails(s.hold(f"order-{uid()}", s.secret(cards["p2"], 1_00)), PRECONDITION, "CARD_EXPIRED")

    # --- every card is what the story says ---------------------------------------------------
    every = [
        *await s.cards(batch_id=batch.batch_id),
        *await s.cards(batch_id=blanks_batch.batch_id),
    ]
    assert len(every) == CARDS + BLANKS + 2  # the blanks batch: 4 usable + 2 voided
    assert {c.card_id: (c.state, c.balance_minor, c.held_minor) for c in every} == {
        c: (book.state[c], book.value[c], 0) for c in book.state
    }
    main = [c.card_id for c in every if c.batch_id == batch.batch_id]
    assert book.states(main) == {
        res.CARD_STATE_READY: 238,  # 1,000 − 800 drawn + 40 back − 1 cancelled − 1 given
        res.CARD_STATE_REQUISITIONED: 10,  # drawn by the desk, neither sold nor returned
        res.CARD_STATE_CANCELLED: 1,
        # The 750 sold less the refunded, the exchanged, the 2 replaced and the extended one,
        # and the stock card given in the exchange.
        res.CARD_STATE_EXPIRED: 745 + 1,
        res.CARD_STATE_ACTIVE: 1,  # the extended one
        res.CARD_STATE_REFUNDED: 1,
        res.CARD_STATE_EXCHANGED: 1,
        res.CARD_STATE_REPLACED: 2,
    }
    got = await giftcard.GetBatch(pb.GetBatchRequest(batch_id=batch.batch_id), metadata=s.operator)
    assert {c.state: c.count for c in got.batch.card_counts} == book.states(main)
    assert sum(c.count for c in got.batch.card_counts) == CARDS

    # GetStock: by state, adding up to the 1,000 cards and the blanks batch.
    stock = await giftcard.GetStock(pb.GetStockRequest(product_id=product_id), metadata=s.seller)
    by_state: Counter = Counter()
    value_by_state: Counter = Counter()
    for line in stock.lines:
        by_state[line.state] += line.card_count
        value_by_state[line.state] += line.balance_minor
    assert by_state == book.states()
    assert sum(by_state.values()) == CARDS + BLANKS + 2
    assert value_by_state[res.CARD_STATE_READY] == 238 * FACE
    assert value_by_state[res.CARD_STATE_REQUISITIONED] == 10 * FACE
    assert value_by_state[res.CARD_STATE_ACTIVE] == book.value[cards["x"]] == FACE - 35_00
    assert sum(value_by_state.values()) == sum(book.value.values())

    # --- the books: every day balanced, each line and part as the story computes it ---------
    totals = book.totals()
    loaded = totals["LOADED"] - totals["LOAD_REVERSED"]
    assert loaded == CARDS * FACE
    outstanding = (
        loaded
        - totals["REDEEMED"]
        - totals["CARD_REFUNDED"]
        - totals["EXCHANGED"]
        - totals["EXPIRED"]
        - totals["CANCELLED"]
        + totals["REDEMPTION_RETURNED"]
    )
    assert outstanding == sum(book.value.values()) == 248 * FACE + (FACE - 35_00)
    s.clock.set(at(D4 + dt.timedelta(days=1), 1))  # every day of the story is over
    found: dict[dt.date, dict] = {}
    wanted: dict[dt.date, dict] = {}
    for day in DAYS:
        report = (
            await giftcard.RunReconciliation(
                pb.RunReconciliationRequest(request_id=uid(), business_date=day.isoformat()),
                metadata=s.finance,
            )
        ).report
        opening_from = await giftcard_app.pool.fetchval(
            "SELECT opening_from FROM reconciliation_reports WHERE business_day = $1", day
        )
        found[day] = {
            "balanced": (report.balanced, report.complete, list(report.mismatches)),
            "lines": lines(report),
            "opening": (liability(report.opening), opening_from),
            "closing": liability(report.closing),
        }
        opening, closing = book.closing(day - dt.timedelta(days=1)), book.closing(day)
        after = day - dt.timedelta(days=1)  # a day with a report opens with its closing
        wanted[day] = {
            "balanced": (True, True, []),
            "lines": book.lines(day),
            "opening": (
                (*opening, 0, 0, sum(opening)),
                f"{after}#1" if after in DAYS else "journal",
            ),
            "closing": (*closing, 0, 0, sum(closing)),
        }
    assert book.closing(D4) == (248 * FACE, FACE - 35_00)
    assert sum(book.closing(D4)) == outstanding
    assert await journal.problems(giftcard_app.pool) == {}

    # Maker and checker were different people at every step that needs two (audit trail).
    actors = {
        r["action"].removeprefix("giftcard."): set(r["actors"])
        for r in await giftcard_app.pool.fetch(
            "SELECT action, array_agg(DISTINCT actor) AS actors FROM audit_log GROUP BY action"
        )
    }
    expected = {
        "batch.request": {"operator:req.li"},
        "batch.approve": {"operator:ap.chen", "operator:mgr.wang"},
        "load.create": {"operator:ld.zhao"},
        "load.reject": {"operator:rv.qian"},
        "load.approve": {"operator:rv.qian"},
        "requisition.created": {"operator:req.li"},
        "requisition.approved": {"operator:ap.chen", "operator:mgr.wang"},
        "sale.created": {"operator:sa.zhou"},
        "sale.checked": {"operator:fi.zheng"},
        "after_sale.refund_requested": {"operator:sa.zhou"},
        "after_sale.exchange_requested": {"operator:sa.zhou"},
        "after_sale.approved": {"operator:mgr.wang"},
        "card.cancelled": {"operator:op.sun"},
        "card.replaced": {"operator:op.sun"},
        "card.validity_extended": {"operator:op.sun"},
    }
    assert {action: actors.get(action) for action in expected} == expected
    # The reconciliation of every day of the story, as the story computes it.
    differing = [
        f"{day} {key}: report {found[day][key]}, story {wanted[day][key]}"
        for day in DAYS
        for key in wanted[day]
        if found[day][key] != wanted[day][key]
    ]
    assert found == wanted, "\n".join(differing)


def lines(report: res.ReconciliationReport) -> dict[str, tuple[int, int, int]]:
    return {
        res.ReconciliationLineKind.Name(x.kind).removeprefix("RECONCILIATION_LINE_KIND_"): (
            x.count,
            x.amount_minor,
            x.effect_minor,
        )
        for x in report.lines
    }


def liability(value: res.Liability) -> tuple[int, int, int, int, int]:
    return (
        value.cards_in_stock_minor,
        value.cards_sold_minor,
        value.stored_value_principal_minor,
        value.stored_value_bonus_minor,
        value.total_minor,
    )
