"""After-sale requests: refund a card (退卡) or exchange it (调换) only when it was never used (no
consumption record, nothing held), and only once the after-sale policy's approvals are given (a
manager's; never the requester's own, never twice); the last approval carries it out. Every
bypass attempt and bad input is one precise error that changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from services.giftcard.store import journal
from tests.support import bus, snapshots
from tests.support.giftcard import consumed, fulfilled_requisition, stock
from tests.support.grpc_errors import fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
HUNDRED = 100_00
TABLES = (
    "after_sales",
    "approvals",
    "cards",
    "requisitions",
    "holds",
    "journal_transactions",
    "journal_postings",
    "idempotency",
    "audit_log",
)


async def snapshot(pool) -> dict:
    return await snapshots.snapshot(pool, *TABLES, outbox="SELECT id FROM outbox")


def refund(card, reason: str = "gift not wanted") -> pb.RequestCardRefundRequest:
    return pb.RequestCardRefundRequest(
        request_id=uid(), card_number=card.card_number, reason=reason
    )


def exchange(
    card, *given: str, reason: str = "wants smaller cards"
) -> pb.RequestCardExchangeRequest:
    return pb.RequestCardExchangeRequest(
        request_id=uid(),
        card_id=str(card.card_id),
        exchange_card_numbers=list(given),
        reason=reason,
    )


def approve(after_sale_id: str, **fields) -> pb.ApproveAfterSaleRequest:
    return pb.ApproveAfterSaleRequest(request_id=uid(), after_sale_id=after_sale_id, **fields)


def reject(after_sale_id: str, reason: str = "receipt missing") -> pb.RejectAfterSaleRequest:
    return pb.RejectAfterSaleRequest(request_id=uid(), after_sale_id=after_sale_id, reason=reason)


async def card_row(giftcard_app, card_id) -> dict:
    return dict(await giftcard_app.pool.fetchrow("SELECT * FROM cards WHERE card_id = $1", card_id))


async def postings(giftcard_app, kind: str) -> list[tuple[str, str, int, str]]:
    rows = await giftcard_app.pool.fetch(
        "SELECT p.account, p.owner, p.amount, p.entry_kind FROM journal_postings p"
        " JOIN journal_transactions t USING (txn_id) WHERE t.kind = $1 ORDER BY p.posting_id",
        kind,
    )
    return [(r["account"], r["owner"], r["amount"], r["entry_kind"]) for r in rows]


def hold(card, amount: int) -> wpb.PlaceHoldsRequest:
    return wpb.PlaceHoldsRequest(
        request_id=uid(),
        order_id=f"o-{uid()}",
        currency_code="CNY",
        order_amount_minor=amount,
        channel="online",
        sources=[
            wpb.HoldSource(
                kind=res.HOLD_SOURCE_KIND_CARD_SECRET,
                card=wpb.CardSecret(card_number=card.card_number, pin=card.pin),
                amount_minor=amount,
            )
        ],
    )


async def test_an_unused_card_is_refunded_by_the_managers_approval_and_no_one_elses(
    giftcard, giftcard_app, cards, staff, tap
):
    member = uuid.uuid4()
    card = await cards.card(HUNDRED, member_id=member)
    # The requester holds the manager scope too: still not the approver of its own request.
    requester = staff("sara", "sales", "manager")
    asked = (await giftcard.RequestCardRefund(refund(card), metadata=requester)).after_sale
    assert asked.state == res.AFTER_SALE_STATE_PENDING_APPROVAL
    assert asked.kind == res.AFTER_SALE_KIND_REFUND and asked.amount_minor == HUNDRED
    assert list(asked.pending_roles) == ["giftcard:manager"]
    assert asked.requested_by == "operator:sara" and asked.reason == "gift not wanted"
    assert asked.card_number == ""  # sales sees the masked number
    assert (await card_row(giftcard_app, card.card_id))["after_sale_id"] == uuid.UUID(
        asked.after_sale_id
    )
    aid = asked.after_sale_id

    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ApproveAfterSale(approve(aid), metadata=requester), PRECONDITION, "SELF_APPROVAL"
    )
    for wrong in (staff("abe", "approver"), staff("sam", "sales"), staff("olga", "operator")):
        await fails(
            giftcard.ApproveAfterSale(approve(aid), metadata=wrong), PRECONDITION, "ROLE_NOT_HELD"
        )
    await fails(
        giftcard.ApproveAfterSale(
            approve(aid, role="giftcard:approver"), metadata=staff("abe", "approver")
        ),
        PRECONDITION,
        "ROLE_NOT_REQUIRED",
    )
    await fails(
        giftcard.RequestCardRefund(refund(card), metadata=staff("olga", "operator")),
        PRECONDITION,
        "AFTER_SALE_PENDING",
    )
    assert await snapshot(giftcard_app.pool) == before
    assert (await card_row(giftcard_app, card.card_id))["state"] == "active"  # nothing carried out

    manager = staff("mona", "manager")
    done = await giftcard.ApproveAfterSale(approve(aid, note="receipt seen"), metadata=manager)
    assert done.after_sale.state == res.AFTER_SALE_STATE_COMPLETED
    assert done.after_sale.complete_time.seconds > 0
    assert [(a.approver, a.role, a.note) for a in done.after_sale.approvals] == [
        ("operator:mona", "giftcard:manager", "receipt seen")
    ]
    assert done.card.state == res.CARD_STATE_REFUNDED and done.card.balance_minor == 0
    assert done.card.after_sale_id == ""
    assert await postings(giftcard_app, "card_refund") == [
        ("card_available", str(card.card_id), -HUNDRED, "card_refund"),
        ("card_refunds", "", HUNDRED, "card_refund"),
    ]
    (event,) = await tap.wait_for("loyalty.giftcard.card.refunded.v1", str(card.card_id))
    data = bus.data(event)
    assert data["afterSaleId"] == aid and data["amountMinor"] == str(HUNDRED)
    assert data["memberId"] == str(member)
    await fails(
        giftcard.ApproveAfterSale(approve(aid), metadata=staff("max", "manager")),
        PRECONDITION,
        "AFTER_SALE_NOT_PENDING",
    )
    entries = await giftcard_app.pool.fetch(
        "SELECT action, actor, detail FROM audit_log WHERE subject = $1 ORDER BY id", aid
    )
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("giftcard.after_sale.refund_requested", "operator:sara"),
        ("giftcard.after_sale.approved", "operator:mona"),
    ]
    assert entries[0]["detail"]["reason"] == "gift not wanted"
    assert entries[1]["detail"]["role"] == "giftcard:manager"
    assert await journal.problems(giftcard_app.pool) == {}


async def test_with_a_two_role_policy_nothing_happens_while_the_manager_is_missing(
    giftcard, giftcard_app, cards, staff
):
    await giftcard_app.pool.execute(
        "INSERT INTO approval_policies (subject, version, currency_code, bands, updated_by)"
        " VALUES ('after_sale', 1, 'CNY', $1, 'test')",
        [{"max_amount_minor": None, "roles": ["approver", "manager"]}],
    )
    card = await cards.card(HUNDRED)
    aid = (
        await giftcard.RequestCardRefund(refund(card), metadata=staff("sara", "sales"))
    ).after_sale.after_sale_id
    both = staff("gina", "approver", "manager")
    once = (await giftcard.ApproveAfterSale(approve(aid), metadata=both)).after_sale
    assert once.state == res.AFTER_SALE_STATE_PENDING_APPROVAL and once.policy_version == 1
    assert list(once.pending_roles) == ["giftcard:manager"]
    assert (await card_row(giftcard_app, card.card_id))["state"] == "active"

    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ApproveAfterSale(approve(aid, role="giftcard:manager"), metadata=both),
        PRECONDITION,
        "ALREADY_APPROVED",
    )
    await fails(
        giftcard.ApproveAfterSale(approve(aid), metadata=staff("abe", "approver")),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    assert await snapshot(giftcard_app.pool) == before
    done = await giftcard.ApproveAfterSale(approve(aid), metadata=staff("mona", "manager"))
    assert done.after_sale.state == res.AFTER_SALE_STATE_COMPLETED
    assert done.card.state == res.CARD_STATE_REFUNDED


async def test_a_refund_is_refused_after_any_consumption(
    giftcard, wallet, giftcard_app, cards, staff, checkout, clock
):
    seller = staff("sara", "sales")
    spent = await cards.card(HUNDRED)
    (placed,) = (await wallet.PlaceHolds(hold(spent, 10_00), metadata=checkout)).holds
    await wallet.CaptureHold(
        wpb.CaptureHoldRequest(request_id=uid(), hold_id=placed.hold_id), metadata=checkout
    )
    held = await cards.card(HUNDRED)
    await wallet.PlaceHolds(hold(held, 10_00), metadata=checkout)
    marked = await cards.card(HUNDRED)
    await consumed(giftcard_app, marked.card_id)
    in_stock = await cards.card(HUNDRED, state="ready")
    past = await cards.card(HUNDRED, expire_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    offered = await cards.card(HUNDRED, state="ready")
    before = await snapshot(giftcard_app.pool)
    for card, reason in (
        (spent, "CARD_HAS_CONSUMPTION"),
        (marked, "CARD_HAS_CONSUMPTION"),
        (held, "CARD_HAS_HOLDS"),
        (in_stock, "CARD_NOT_ACTIVE"),
        (past, "CARD_EXPIRED"),
    ):
        await fails(giftcard.RequestCardRefund(refund(card), metadata=seller), PRECONDITION, reason)
        await fails(
            giftcard.RequestCardExchange(exchange(card, offered.card_number), metadata=seller),
            PRECONDITION,
            reason,
        )
    assert await snapshot(giftcard_app.pool) == before

    # Consumption recorded while the request waits: the approval refuses and changes nothing.
    later = await cards.card(HUNDRED)
    aid = (
        await giftcard.RequestCardRefund(refund(later), metadata=seller)
    ).after_sale.after_sale_id
    await consumed(giftcard_app, later.card_id)
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ApproveAfterSale(approve(aid), metadata=staff("mona", "manager")),
        PRECONDITION,
        "CARD_HAS_CONSUMPTION",
    )
    assert await snapshot(giftcard_app.pool) == before
    got = await giftcard.GetAfterSale(
        pb.GetAfterSaleRequest(after_sale_id=aid), metadata=staff("mona", "manager")
    )
    assert got.after_sale.state == res.AFTER_SALE_STATE_PENDING_APPROVAL


async def test_an_exchange_gives_stock_cards_of_the_same_value(
    giftcard, giftcard_app, cards, staff, tap
):
    seller, operator, manager = (
        staff("sara", "sales"),
        staff("olga", "operator"),
        staff("mona", "manager"),
    )
    product_id = await cards.product(HUNDRED)
    returned = await cards.card(2 * HUNDRED)
    await stock(cards, 1, product_id)
    rid = (await fulfilled_requisition(giftcard, staff, product_id, 1)).requisition_id
    (ready,) = await stock(cards, 1, product_id)
    (drawn,) = (
        await giftcard.ListCards(pb.ListCardsRequest(requisition_id=rid), metadata=operator)
    ).cards
    asked = (
        await giftcard.RequestCardExchange(
            exchange(returned, ready.card_number, drawn.card_number), metadata=operator
        )
    ).after_sale
    aid = asked.after_sale_id
    assert asked.kind == res.AFTER_SALE_KIND_EXCHANGE and asked.amount_minor == 2 * HUNDRED
    assert sorted(asked.exchange_card_ids) == sorted([str(ready.card_id), drawn.card_id])
    assert asked.card_number == returned.card_number  # an operator sees the full number

    # Set aside while pending: no requisition picks them, no sale takes them.
    other = (
        await giftcard.CreateRequisition(
            pb.CreateRequisitionRequest(
                request_id=uid(),
                kind=res.REQUISITION_KIND_SALES_DESK,
                sales_desk="d2",
                lines=[res.RequisitionLine(product_id=str(product_id), card_count=1)],
            ),
            metadata=staff("alice", "requester"),
        )
    ).requisition.requisition_id
    await giftcard.ApproveRequisition(
        pb.ApproveRequisitionRequest(request_id=uid(), requisition_id=other),
        metadata=staff("bob", "approver"),
    )
    another = await cards.card(HUNDRED)
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.FulfilRequisition(
            pb.FulfilRequisitionRequest(
                request_id=uid(), requisition_id=other, card_numbers=[ready.card_number]
            ),
            metadata=operator,
        ),
        INVALID,
        "REQUISITION_CARDS_MISMATCH",
        ["card_numbers[0]"],
    )
    await fails(
        giftcard.CreateSale(
            pb.CreateSaleRequest(
                request_id=uid(),
                requisition_id=rid,
                card_numbers=[drawn.card_number],
                paid_amount_minor=HUNDRED,
                payment_method="cash",
            ),
            metadata=seller,
        ),
        INVALID,
        "CARD_NOT_IN_REQUISITION",
        ["card_numbers[0]"],
    )
    await fails(
        giftcard.RequestCardExchange(exchange(another, ready.card_number), metadata=operator),
        INVALID,
        "EXCHANGE_CARD_NOT_AVAILABLE",
        ["exchange_card_numbers[0]"],
    )
    assert await snapshot(giftcard_app.pool) == before

    done = await giftcard.ApproveAfterSale(approve(aid), metadata=manager)
    assert done.after_sale.state == res.AFTER_SALE_STATE_COMPLETED
    assert done.card.state == res.CARD_STATE_EXCHANGED and done.card.balance_minor == 0
    assert await postings(giftcard_app, "exchange") == [
        ("card_available", str(returned.card_id), -2 * HUNDRED, "exchange"),
        ("exchanges", "", 2 * HUNDRED, "exchange"),
    ]
    for card_id in (str(ready.card_id), drawn.card_id):
        got = (await giftcard.GetCard(pb.GetCardRequest(card_id=card_id), metadata=seller)).card
        assert got.state == res.CARD_STATE_ACTIVE and got.balance_minor == HUNDRED
        assert got.expire_time.seconds > 0 and got.after_sale_id == "" and got.sale_id == ""
        (event,) = await tap.wait_for("loyalty.giftcard.card.activated.v1", card_id)
        data = bus.data(event)
        assert data["cause"] == "ACTIVATION_CAUSE_EXCHANGE" and data["afterSaleId"] == aid
    (event,) = await tap.wait_for("loyalty.giftcard.card.exchanged.v1", str(returned.card_id))
    data = bus.data(event)
    assert sorted(data["newCardIds"]) == sorted([str(ready.card_id), drawn.card_id])
    assert data["amountMinor"] == str(2 * HUNDRED)
    closed = await giftcard.GetRequisition(
        pb.GetRequisitionRequest(requisition_id=rid), metadata=seller
    )
    assert closed.requisition.state == res.REQUISITION_STATE_CLOSED  # its one card was given
    assert await journal.problems(giftcard_app.pool) == {}


async def test_bad_exchanges_are_refused_precisely_and_change_nothing(
    giftcard, giftcard_app, cards, staff
):
    operator = staff("olga", "operator")
    product_id = await cards.product(HUNDRED)
    returned = await cards.card(2 * HUNDRED)
    first, second, third = await stock(cards, 3, product_id)
    active = await cards.card(HUNDRED)
    dollars = await cards.card(HUNDRED, state="ready")
    await giftcard_app.pool.execute(
        "UPDATE cards SET currency_code = 'USD' WHERE card_id = $1", dollars.card_id
    )
    before = await snapshot(giftcard_app.pool)

    async def refused(request, code, reason, fields=None):
        await fails(giftcard.RequestCardExchange(request, metadata=operator), code, reason, fields)

    await refused(
        exchange(returned, first.card_number),
        INVALID,
        "EXCHANGE_AMOUNT_MISMATCH",
        ["exchange_card_numbers"],
    )
    await refused(
        exchange(returned, first.card_number, second.card_number, third.card_number),
        INVALID,
        "EXCHANGE_AMOUNT_MISMATCH",
        ["exchange_card_numbers"],
    )
    await refused(
        exchange(returned, first.card_number, first.card_number),
        INVALID,
        "EXCHANGE_CARD_NOT_AVAILABLE",
        ["exchange_card_numbers[1]"],
    )
    await refused(
        exchange(returned, active.card_number, returned.card_number, dollars.card_number),
        INVALID,
        "EXCHANGE_CARD_NOT_AVAILABLE",
        ["exchange_card_numbers[0]", "exchange_card_numbers[1]", "exchange_card_numbers[2]"],
    )
    await refused(exchange(returned), INVALID, "INVALID_ARGUMENT", ["exchange_card_numbers"])
    await refused(
        exchange(returned, "4111 1111 1111 1112"),
        INVALID,
        "CARD_NUMBER_CHECK_DIGIT",
        ["exchange_card_numbers[0]"],
    )
    await refused(
        exchange(returned, first.card_number, reason=""),
        INVALID,
        "REASON_REQUIRED",
        ["reason"],
    )
    await fails(
        giftcard.RequestCardExchange(
            exchange(returned, first.card_number, second.card_number),
            metadata=staff("x", "finance"),
        ),
        DENIED,
        "MISSING_SCOPE",
    )
    await fails(
        giftcard.ApproveAfterSale(approve(uid()), metadata=staff("m", "manager")),
        NOT_FOUND,
        "AFTER_SALE_NOT_FOUND",
    )
    await fails(
        giftcard.GetAfterSale(pb.GetAfterSaleRequest(after_sale_id="x"), metadata=operator),
        INVALID,
        "INVALID_ARGUMENT",
        ["after_sale_id"],
    )
    assert await snapshot(giftcard_app.pool) == before


async def test_a_rejected_request_leaves_the_card_and_the_stock_usable(
    giftcard, giftcard_app, cards, staff
):
    operator = staff("olga", "operator")
    product_id = await cards.product(HUNDRED)
    returned = await cards.card(HUNDRED)
    (offered,) = await stock(cards, 1, product_id)
    asked = (
        await giftcard.RequestCardExchange(
            exchange(returned, offered.card_number), metadata=operator
        )
    ).after_sale
    aid = asked.after_sale_id
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.RejectAfterSale(reject(aid), metadata=operator), PRECONDITION, "SELF_APPROVAL"
    )
    await fails(
        giftcard.RejectAfterSale(reject(aid), metadata=staff("abe", "approver")),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    await fails(
        giftcard.RejectAfterSale(reject(aid, ""), metadata=staff("mona", "manager")),
        INVALID,
        "INVALID_ARGUMENT",
        ["reason"],
    )
    assert await snapshot(giftcard_app.pool) == before

    done = (
        await giftcard.RejectAfterSale(reject(aid), metadata=staff("mona", "manager"))
    ).after_sale
    assert done.state == res.AFTER_SALE_STATE_REJECTED
    assert (done.rejected_by, done.reject_reason) == ("operator:mona", "receipt missing")
    for card in (returned, offered):
        row = await card_row(giftcard_app, card.card_id)
        assert row["after_sale_id"] is None
    assert (await card_row(giftcard_app, returned.card_id))["state"] == "active"
    assert (await card_row(giftcard_app, offered.card_id))["state"] == "ready"
    await fails(
        giftcard.ApproveAfterSale(approve(aid), metadata=staff("mona", "manager")),
        PRECONDITION,
        "AFTER_SALE_NOT_PENDING",
    )
    (entry,) = await giftcard_app.pool.fetch(
        "SELECT actor, detail FROM audit_log WHERE action = 'giftcard.after_sale.rejected'"
    )
    assert entry["actor"] == "operator:mona" and entry["detail"]["reason"] == "receipt missing"

    # The card may be asked about again; the requests are listed newest first.
    again = (
        await giftcard.RequestCardRefund(refund(returned), metadata=operator)
    ).after_sale.after_sale_id
    listed = await giftcard.ListAfterSales(
        pb.ListAfterSalesRequest(card_id=str(returned.card_id)), metadata=operator
    )
    assert [a.after_sale_id for a in listed.after_sales] == [again, aid]
    pending = await giftcard.ListAfterSales(
        pb.ListAfterSalesRequest(
            state=res.AFTER_SALE_STATE_PENDING_APPROVAL, kind=res.AFTER_SALE_KIND_REFUND
        ),
        metadata=staff("mona", "manager"),
    )
    assert [a.after_sale_id for a in pending.after_sales] == [again]
    assert pending.after_sales[0].card_number == ""  # a manager sees masked numbers
    paged = await giftcard.ListAfterSales(pb.ListAfterSalesRequest(page_size=1), metadata=operator)
    assert [a.after_sale_id for a in paged.after_sales] == [again]
    rest = await giftcard.ListAfterSales(
        pb.ListAfterSalesRequest(page_size=1, page_token=paged.next_page_token), metadata=operator
    )
    assert [a.after_sale_id for a in rest.after_sales] == [aid] and rest.next_page_token == ""
