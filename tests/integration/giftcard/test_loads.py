"""Loading (开户/充值) and its review (复核) through the back office: the full stock flow of a
batch to READY with the journal and the cards checked in the database and the events on the
bus; maker-checker; a rejected load reversed; every bad input one precise error that changes
nothing."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.giftcard.domain import cards as numbers
from services.kit import journal
from tests.integration.giftcard.test_batches import Stock, snapshot, state_counts
from tests.support import bus
from tests.support.grpc_errors import assert_error, fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
LOADED_EVENT = "loyalty.giftcard.batch.loaded.v1"
FACE = 100_00
CHECKS = {
    "card_balances": journal.balance_check("cards", "card_id", "balance_minor", "card_available"),
}


@pytest.fixture
def stock(giftcard, staff) -> Stock:
    return Stock(giftcard, staff)


def entries(rows, amount: int = FACE) -> list[pb.LoadEntryInput]:
    return [pb.LoadEntryInput(card_number=r.card_number, amount_minor=amount) for r in rows]


def load_request(batch_id: str, items, note: str = "") -> pb.LoadCardsRequest:
    return pb.LoadCardsRequest(request_id=uid(), batch_id=batch_id, entries=items, note=note)


async def refused(call) -> tuple[grpc.aio.AioRpcError, dict[str, str]]:
    """The error of a failed call and its ErrorInfo metadata."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    metadata: dict[str, str] = {}
    for detail in rpc_status.from_call(caught.value).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            metadata = dict(info.metadata)
    return caught.value, metadata


async def cards_of(pool, batch_id: str) -> dict[str, dict]:
    rows = await pool.fetch(
        "SELECT card_id, card_number, state, balance_minor FROM cards WHERE batch_id = $1",
        uuid.UUID(batch_id),
    )
    return {r["card_number"]: dict(r) for r in rows}


async def test_the_stock_flow_of_a_batch_to_ready(giftcard, giftcard_app, stock, staff, tap):
    pool = giftcard_app.pool
    batch, rows = await stock.exported(20)
    assert batch.state == res.BATCH_STATE_EXPORTED
    first, rest = rows[:12], rows[12:]

    made = await giftcard.LoadCards(
        load_request(batch.batch_id, entries(first), note="morning shift"), metadata=stock.loader
    )
    load = made.load
    assert load.state == res.LOAD_STATE_PENDING_REVIEW
    assert (load.card_count, load.total_minor, load.currency_code) == (12, 12 * FACE, "CNY")
    assert (load.loaded_by, load.note, load.reviewed_by) == (
        "operator:ld.zhao",
        "morning shift",
        "",
    )

    # The cards carry their value, LOADED (not READY, not spendable); the others are untouched.
    cards = await cards_of(pool, batch.batch_id)
    assert {cards[r.card_number]["state"] for r in first} == {"loaded"}
    assert {cards[r.card_number]["balance_minor"] for r in first} == {FACE}
    assert {
        (cards[r.card_number]["state"], cards[r.card_number]["balance_minor"]) for r in rest
    } == {("issued", 0)}
    # The journal: one transaction per card, loads (the batch) → card_available (the card).
    txns = await pool.fetch(
        "SELECT txn_id, kind, card_id, reference, actor FROM journal_transactions"
    )
    assert {(t["kind"], t["reference"], t["actor"]) for t in txns} == {
        ("load", load.load_id, "operator:ld.zhao")
    }
    assert {t["card_id"] for t in txns} == {cards[r.card_number]["card_id"] for r in first}
    for txn in txns:
        postings = await pool.fetch(
            "SELECT account, owner, amount, entry_kind FROM journal_postings WHERE txn_id = $1"
            " ORDER BY amount",
            txn["txn_id"],
        )
        assert [tuple(p) for p in postings] == [
            ("loads", batch.batch_id, -FACE, "load"),
            ("card_available", str(txn["card_id"]), FACE, "load"),
        ]
    assert await journal.reconcile(pool, CHECKS) == {}

    # What the reviewer checks: every card and amount, numbers in full for a reviewer only.
    listed = await giftcard.ListLoadEntries(
        pb.ListLoadEntriesRequest(load_id=load.load_id, page_size=5), metadata=stock.reviewer
    )
    assert [e.card_number for e in listed.entries] == sorted(r.card_number for r in first)[:5]
    masked = await giftcard.ListLoadEntries(
        pb.ListLoadEntriesRequest(load_id=load.load_id, page_size=5), metadata=stock.approver
    )
    assert {e.card_number for e in masked.entries} == {""}
    assert [e.masked_card_number for e in masked.entries] == [
        numbers.mask(e.card_number) for e in listed.entries
    ]
    assert {e.amount_minor for e in listed.entries} == {FACE}

    def approve(who, card_count: int = 12, total_minor: int = 12 * FACE):
        return giftcard.ApproveLoad(
            pb.ApproveLoadRequest(
                request_id=uid(),
                load_id=load.load_id,
                card_count=card_count,
                total_minor=total_minor,
            ),
            metadata=who,
        )

    before = await snapshot(pool)
    # The loader cannot review its own load, whatever roles its token holds.
    await fails(approve(staff("ld.zhao", "loader", "reviewer")), PRECONDITION, "MAKER_IS_CHECKER")
    await fails(approve(stock.loader), DENIED, "MISSING_SCOPE")
    await fails(approve(stock.approver), DENIED, "MISSING_SCOPE")
    # The reviewer's own count and sum must be the load's.
    error, meta = await refused(approve(stock.reviewer, card_count=11))
    assert_error(error, PRECONDITION, "LOAD_TOTAL_MISMATCH")
    assert meta["field"] == "card_count"
    error, meta = await refused(approve(stock.reviewer, total_minor=12 * FACE + 1))
    assert_error(error, PRECONDITION, "LOAD_TOTAL_MISMATCH")
    assert meta["field"] == "total_minor"
    assert await snapshot(pool) == before

    approved = (await approve(stock.reviewer)).load
    assert approved.state == res.LOAD_STATE_APPROVED
    assert approved.reviewed_by == "operator:rv.qian"
    assert approved.HasField("review_time")
    cards = await cards_of(pool, batch.batch_id)
    assert {cards[r.card_number]["state"] for r in first} == {"ready"}
    (event,) = await tap.wait_for(LOADED_EVENT, batch.batch_id)
    data = bus.data(event)
    assert (data["loadId"], data["productId"], data["cardCount"], data["totalMinor"]) == (
        load.load_id,
        batch.product_id,
        12,
        str(12 * FACE),
    )
    await fails(approve(stock.reviewer), PRECONDITION, "LOAD_NOT_PENDING_REVIEW")
    await fails(
        giftcard.RejectLoad(
            pb.RejectLoadRequest(request_id=uid(), load_id=load.load_id, reason="late"),
            metadata=stock.reviewer,
        ),
        PRECONDITION,
        "LOAD_NOT_PENDING_REVIEW",
    )

    # The rest of the batch, by another loader, reviewed: every card READY.
    second = (
        await giftcard.LoadCards(
            load_request(batch.batch_id, entries(rest)), metadata=staff("ld.feng", "loader")
        )
    ).load
    await giftcard.ApproveLoad(
        pb.ApproveLoadRequest(
            request_id=uid(), load_id=second.load_id, card_count=8, total_minor=8 * FACE
        ),
        metadata=staff("ld.zhao", "reviewer"),  # a loader may review someone else's load
    )
    events = await tap.wait_for(LOADED_EVENT, batch.batch_id, count=2)
    assert {bus.data(e)["loadId"] for e in events} == {load.load_id, second.load_id}
    read = await giftcard.GetBatch(
        pb.GetBatchRequest(batch_id=batch.batch_id), metadata=stock.loader
    )
    assert state_counts(read.batch) == {"CARD_STATE_READY": 20}
    loaded = await pool.fetchval(
        "SELECT -sum(amount) FROM journal_postings WHERE account = 'loads' AND owner = $1",
        batch.batch_id,
    )
    assert (
        loaded
        == await pool.fetchval(
            "SELECT sum(balance_minor) FROM cards WHERE batch_id = $1", uuid.UUID(batch.batch_id)
        )
        == 20 * FACE
    )
    assert await journal.reconcile(pool, CHECKS) == {}

    audit = await pool.fetch(
        "SELECT actor, action, detail->>'role' AS role FROM audit_log"
        " WHERE action LIKE 'giftcard.load.%' ORDER BY id"
    )
    assert [(a["actor"], a["action"], a["role"]) for a in audit] == [
        ("operator:ld.zhao", "giftcard.load.create", "giftcard:loader"),
        ("operator:rv.qian", "giftcard.load.approve", "giftcard:reviewer"),
        ("operator:ld.feng", "giftcard.load.create", "giftcard:loader"),
        ("operator:ld.zhao", "giftcard.load.approve", "giftcard:reviewer"),
    ]
    listed_loads = await giftcard.ListLoads(
        pb.ListLoadsRequest(batch_id=batch.batch_id), metadata=stock.reviewer
    )
    assert [x.load_id for x in listed_loads.loads] == [second.load_id, load.load_id]


async def test_a_rejected_load_is_reversed_and_loaded_again(giftcard, giftcard_app, stock, staff):
    pool = giftcard_app.pool
    batch, rows = await stock.exported(5)
    load = (
        await giftcard.LoadCards(load_request(batch.batch_id, entries(rows)), metadata=stock.loader)
    ).load

    def reject(who, reason: str = "amounts typed from the wrong sheet"):
        return giftcard.RejectLoad(
            pb.RejectLoadRequest(request_id=uid(), load_id=load.load_id, reason=reason),
            metadata=who,
        )

    before = await snapshot(pool)
    await fails(reject(staff("ld.zhao", "loader", "reviewer")), PRECONDITION, "MAKER_IS_CHECKER")
    await fails(reject(stock.reviewer, reason=""), INVALID, "INVALID_ARGUMENT", ["reason"])
    await fails(reject(stock.loader), DENIED, "MISSING_SCOPE")
    assert await snapshot(pool) == before

    rejected = (await reject(stock.reviewer)).load
    assert rejected.state == res.LOAD_STATE_REJECTED
    assert rejected.reject_reason == "amounts typed from the wrong sheet"
    cards = await cards_of(pool, batch.batch_id)
    assert {(c["state"], c["balance_minor"]) for c in cards.values()} == {("issued", 0)}
    reversals = await pool.fetch(
        "SELECT t.card_id, t.reason, t.actor, p.account, p.amount FROM journal_transactions t"
        " JOIN journal_postings p USING (txn_id) WHERE t.kind = 'load_reversal'"
        " AND p.entry_kind = 'load_reversal'"
    )
    assert len(reversals) == 10  # two postings for each of the five cards
    assert {(r["reason"], r["actor"]) for r in reversals} == {
        ("amounts typed from the wrong sheet", "operator:rv.qian")
    }
    assert {(r["account"], r["amount"]) for r in reversals} == {
        ("card_available", -FACE),
        ("loads", FACE),
    }
    assert (
        await pool.fetchval("SELECT sum(amount) FROM journal_postings WHERE account = 'loads'") == 0
    )
    assert await journal.reconcile(pool, CHECKS) == {}

    again = (
        await giftcard.LoadCards(load_request(batch.batch_id, entries(rows)), metadata=stock.loader)
    ).load
    done = await giftcard.ApproveLoad(
        pb.ApproveLoadRequest(
            request_id=uid(), load_id=again.load_id, card_count=5, total_minor=5 * FACE
        ),
        metadata=stock.reviewer,
    )
    assert done.load.state == res.LOAD_STATE_APPROVED
    cards = await cards_of(pool, batch.batch_id)
    assert {(c["state"], c["balance_minor"]) for c in cards.values()} == {("ready", FACE)}
    rejected_loads = await giftcard.ListLoads(
        pb.ListLoadsRequest(state=res.LOAD_STATE_REJECTED), metadata=stock.reviewer
    )
    assert [x.load_id for x in rejected_loads.loads] == [load.load_id]


async def test_an_export_with_a_loaded_card_is_not_recovered(giftcard, giftcard_app, stock):
    batch = await stock.generated(20)
    await stock.export(batch.batch_id, page_size=10)
    page2 = await stock.export(batch.batch_id, page_size=10)
    await giftcard.LoadCards(
        load_request(batch.batch_id, entries(page2.rows[:3])), metadata=stock.loader
    )
    before = await snapshot(giftcard_app.pool)
    error, meta = await refused(
        giftcard.RecoverBatchExport(
            pb.RecoverBatchExportRequest(
                request_id=uid(), batch_id=batch.batch_id, from_page=2, reason="lost"
            ),
            metadata=stock.manager,
        )
    )
    assert_error(error, PRECONDITION, "CARDS_ALREADY_LOADED")
    assert meta["count"] == "3"
    assert await snapshot(giftcard_app.pool) == before


async def test_bad_loads_are_refused_precisely_and_change_nothing(giftcard, giftcard_app, stock):
    pool = giftcard_app.pool
    batch, rows = await stock.exported(10)
    other, other_rows = await stock.exported(3)
    not_exported = await stock.generated(2)
    # A batch whose export was recovered: voided cards, and new ones not delivered yet.
    recovering = await stock.generated(4)
    await stock.export(recovering.batch_id, page_size=2)
    lost = await stock.export(recovering.batch_id, page_size=2)
    await giftcard.RecoverBatchExport(
        pb.RecoverBatchExportRequest(
            request_id=uid(), batch_id=recovering.batch_id, from_page=2, reason="jammed"
        ),
        metadata=stock.manager,
    )
    fresh = await pool.fetchval(
        "SELECT card_number FROM cards WHERE batch_id = $1 AND NOT secret_delivered LIMIT 1",
        uuid.UUID(recovering.batch_id),
    )
    pending = (
        await giftcard.LoadCards(
            load_request(batch.batch_id, entries(rows[:2])), metadata=stock.loader
        )
    ).load
    free = rows[2:]
    unknown = numbers.new_number("9", 19)
    bad_luhn = free[0].card_number[:-1] + str((int(free[0].card_number[-1]) + 1) % 10)
    before = await snapshot(pool)

    def load(items, batch_id: str = batch.batch_id, who=None):
        return giftcard.LoadCards(load_request(batch_id, items), metadata=who or stock.loader)

    def entry(number: str, amount: int = FACE) -> pb.LoadEntryInput:
        return pb.LoadEntryInput(card_number=number, amount_minor=amount)

    cases = [
        ([entry(other_rows[0].card_number)], "CARD_NOT_IN_BATCH", ["entries[0].card_number"]),
        ([entry(unknown)], "CARD_NOT_IN_BATCH", ["entries[0].card_number"]),
        ([entry(rows[0].card_number)], "CARD_ALREADY_LOADED", ["entries[0].card_number"]),
        (
            [entry(free[0].card_number), entry(free[0].card_number)],
            "CARD_ALREADY_LOADED",
            ["entries[1].card_number"],
        ),
        (
            [entry(free[0].card_number, FACE + 1)],
            "LOAD_AMOUNT_MISMATCH",
            ["entries[0].amount_minor"],
        ),
        (
            [entry(free[0].card_number, FACE - 1)],
            "LOAD_AMOUNT_MISMATCH",
            ["entries[0].amount_minor"],
        ),
        ([entry(free[0].card_number, 0)], "AMOUNT_NOT_POSITIVE", ["entries[0].amount_minor"]),
        ([entry(free[0].card_number, -FACE)], "AMOUNT_NOT_POSITIVE", ["entries[0].amount_minor"]),
        ([entry(bad_luhn)], "CARD_NUMBER_CHECK_DIGIT", ["entries[0].card_number"]),
        ([entry("12345")], "CARD_NUMBER_LENGTH", ["entries[0].card_number"]),
        ([entry("abcd-efgh")], "CARD_NUMBER_FORMAT", ["entries[0].card_number"]),
        (
            [
                entry(free[0].card_number),
                entry(other_rows[1].card_number),
                entry(free[1].card_number, FACE * 2),
            ],
            "CARD_NOT_IN_BATCH",
            ["entries[1].card_number", "entries[2].amount_minor"],
        ),
    ]
    for items, reason, fields in cases:
        await fails(load(items), INVALID, reason, fields)
    await fails(
        load([entry(lost.rows[0].card_number)], recovering.batch_id),
        INVALID,
        "CARD_CLOSED",
        ["entries[0].card_number"],
    )
    await fails(
        load([entry(fresh)], recovering.batch_id),
        INVALID,
        "CARD_NOT_LOADABLE",
        ["entries[0].card_number"],
    )
    await fails(load([], not_exported.batch_id), INVALID, "INVALID_ARGUMENT", ["entries"])
    await fails(load(entries(free[:1]), not_exported.batch_id), PRECONDITION, "BATCH_NOT_EXPORTED")
    await fails(load([entry(free[0].card_number)] * 1001), INVALID, "INVALID_ARGUMENT", ["entries"])
    await fails(load([]), INVALID, "INVALID_ARGUMENT", ["entries"])
    await fails(load(entries(free[:1]), uid()), NOT_FOUND, "BATCH_NOT_FOUND")
    await fails(load(entries(free[:1]), "batch-1"), INVALID, "INVALID_ARGUMENT", ["batch_id"])
    await fails(load(entries(free[:1]), who=stock.approver), DENIED, "MISSING_SCOPE")
    await fails(load(entries(free[:1]), who=stock.reviewer), DENIED, "MISSING_SCOPE")

    def approve(load_id: str, card_count: int = 2, total_minor: int = 2 * FACE):
        return giftcard.ApproveLoad(
            pb.ApproveLoadRequest(
                request_id=uid(), load_id=load_id, card_count=card_count, total_minor=total_minor
            ),
            metadata=stock.reviewer,
        )

    await fails(
        approve(pending.load_id, total_minor=-1), INVALID, "AMOUNT_NOT_POSITIVE", ["total_minor"]
    )
    await fails(
        approve(pending.load_id, total_minor=0), INVALID, "AMOUNT_NOT_POSITIVE", ["total_minor"]
    )
    await fails(approve(pending.load_id, card_count=0), INVALID, "INVALID_ARGUMENT", ["card_count"])
    await fails(approve(uid()), NOT_FOUND, "LOAD_NOT_FOUND")
    await fails(approve("load-1"), INVALID, "INVALID_ARGUMENT", ["load_id"])
    await fails(
        giftcard.RejectLoad(
            pb.RejectLoadRequest(request_id=uid(), load_id=uid(), reason="x"),
            metadata=stock.reviewer,
        ),
        NOT_FOUND,
        "LOAD_NOT_FOUND",
    )
    await fails(
        giftcard.GetLoad(pb.GetLoadRequest(load_id=uid()), metadata=stock.reviewer),
        NOT_FOUND,
        "LOAD_NOT_FOUND",
    )
    await fails(
        giftcard.ListLoadEntries(pb.ListLoadEntriesRequest(load_id=uid()), metadata=stock.reviewer),
        NOT_FOUND,
        "LOAD_NOT_FOUND",
    )
    await fails(
        giftcard.ListLoads(pb.ListLoadsRequest(batch_id="x"), metadata=stock.reviewer),
        INVALID,
        "INVALID_ARGUMENT",
        ["batch_id"],
    )
    await fails(
        giftcard.GetLoad(pb.GetLoadRequest(load_id=pending.load_id), metadata=()),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert await snapshot(pool) == before
    read = await giftcard.GetLoad(
        pb.GetLoadRequest(load_id=pending.load_id), metadata=stock.requester
    )
    assert read.load.state == res.LOAD_STATE_PENDING_REVIEW
