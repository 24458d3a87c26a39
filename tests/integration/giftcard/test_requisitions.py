"""Requisitions (领用): a sales desk's week or a named bulk buyer (团购), approved by amount under
the requisition policy (above the threshold an approver AND a manager; nobody approves their own
request or twice), fulfilled from READY stock, unsold cards returned; every bypass attempt and
every bad input one precise error that changes nothing."""

from __future__ import annotations

import uuid

import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.giftcard.domain import cards as numbers
from services.giftcard.store import journal
from tests.support import snapshots
from tests.support.giftcard import stock
from tests.support.grpc_errors import fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
TABLES = (
    "requisitions",
    "approvals",
    "cards",
    "journal_transactions",
    "journal_postings",
    "idempotency",
    "audit_log",
)
HUNDRED = 100_00
TEN_THOUSAND = 10_000_00  # 6 of them: 60,000.00 CNY, above the 50,000.00 threshold


async def snapshot(pool) -> dict:
    return await snapshots.snapshot(pool, *TABLES, outbox="SELECT id FROM outbox")


def line(product_id, count: int, face: int = 0) -> res.RequisitionLine:
    return res.RequisitionLine(product_id=str(product_id), card_count=count, face_value_minor=face)


def create_request(*lines: res.RequisitionLine, **fields) -> pb.CreateRequisitionRequest:
    values = {
        "request_id": uid(),
        "kind": res.REQUISITION_KIND_SALES_DESK,
        "sales_desk": "store-042/desk-1",
        "note": "Week 24 desk sales",
    }
    values.update(fields)
    return pb.CreateRequisitionRequest(lines=list(lines), **values)


def approve(requisition_id: str, **fields) -> pb.ApproveRequisitionRequest:
    return pb.ApproveRequisitionRequest(request_id=uid(), requisition_id=requisition_id, **fields)


def fulfil(requisition_id: str, *numbers: str) -> pb.FulfilRequisitionRequest:
    return pb.FulfilRequisitionRequest(
        request_id=uid(), requisition_id=requisition_id, card_numbers=list(numbers)
    )


async def states(giftcard_app, cards) -> list[str]:
    rows = await giftcard_app.pool.fetch(
        "SELECT card_id, state FROM cards WHERE card_id = ANY($1)", [c.card_id for c in cards]
    )
    by_id = {r["card_id"]: r["state"] for r in rows}
    return [by_id[c.card_id] for c in cards]


async def audited(giftcard_app, action: str) -> list:
    return await giftcard_app.pool.fetch(
        "SELECT actor, subject, detail FROM audit_log WHERE action = $1 ORDER BY id", action
    )


async def test_a_desk_draws_a_week_of_cards_and_returns_the_unsold(
    giftcard, giftcard_app, cards, staff
):
    requester, approver, operator = (
        staff("alice", "requester"),
        staff("bob", "approver"),
        staff("carol", "operator"),
    )
    product_id = await cards.product(HUNDRED)
    ready = await stock(cards, 5, product_id)
    created = (
        await giftcard.CreateRequisition(create_request(line(product_id, 3)), metadata=requester)
    ).requisition
    assert created.state == res.REQUISITION_STATE_PENDING_APPROVAL
    assert created.total_minor == 3 * HUNDRED and created.card_count == 3
    assert created.lines[0].face_value_minor == HUNDRED  # 0 meant the denomination
    assert list(created.pending_roles) == ["giftcard:approver"]
    assert created.requested_by == "operator:alice"

    approved = (
        await giftcard.ApproveRequisition(approve(created.requisition_id), metadata=approver)
    ).requisition
    assert approved.state == res.REQUISITION_STATE_APPROVED
    assert list(approved.pending_roles) == []
    assert [(a.approver, a.role) for a in approved.approvals] == [
        ("operator:bob", "giftcard:approver")
    ]

    done = (
        await giftcard.FulfilRequisition(fulfil(created.requisition_id), metadata=operator)
    ).requisition
    assert done.state == res.REQUISITION_STATE_FULFILLED
    assert done.fulfilled_by == "operator:carol"
    drawn = await giftcard.ListCards(
        pb.ListCardsRequest(requisition_id=created.requisition_id), metadata=operator
    )
    assert len(drawn.cards) == 3
    assert {c.state for c in drawn.cards} == {res.CARD_STATE_REQUISITIONED}
    assert sorted(await states(giftcard_app, ready)).count("ready") == 2

    back = drawn.cards[0].card_number
    returned = (
        await giftcard.ReturnRequisitionCards(
            pb.ReturnRequisitionCardsRequest(
                request_id=uid(),
                requisition_id=created.requisition_id,
                card_numbers=[back],
                reason="not sold this week",
            ),
            metadata=operator,
        )
    ).requisition
    assert returned.returned_count == 1 and returned.state == res.REQUISITION_STATE_FULFILLED
    card = (await giftcard.GetCard(pb.GetCardRequest(card_number=back), metadata=operator)).card
    assert card.state == res.CARD_STATE_READY and card.requisition_id == ""
    assert card.balance_minor == HUNDRED  # stock keeps its value

    rest = [c.card_number for c in drawn.cards[1:]]
    closed = (
        await giftcard.ReturnRequisitionCards(
            pb.ReturnRequisitionCardsRequest(
                request_id=uid(),
                requisition_id=created.requisition_id,
                card_numbers=rest,
                reason="desk closed",
            ),
            metadata=operator,
        )
    ).requisition
    assert closed.state == res.REQUISITION_STATE_CLOSED and closed.returned_count == 3
    assert sorted(await states(giftcard_app, ready)) == ["ready"] * 5

    for action, actor in (
        ("giftcard.requisition.created", "operator:alice"),
        ("giftcard.requisition.approved", "operator:bob"),
        ("giftcard.requisition.fulfilled", "operator:carol"),
    ):
        (entry,) = await audited(giftcard_app, action)
        assert entry["actor"] == actor and entry["subject"] == created.requisition_id
    returns = await audited(giftcard_app, "giftcard.requisition.cards_returned")
    assert [r["detail"]["reason"] for r in returns] == ["not sold this week", "desk closed"]
    assert returns[0]["detail"]["role"] == "giftcard:operator"
    assert await journal.problems(giftcard_app.pool) == {}


async def test_above_the_threshold_an_approver_and_a_manager_each_a_different_person(
    giftcard, giftcard_app, cards, staff
):
    """The bypass attempts: approving one's own request, a role not held, approving twice,
    fulfilling with the manager missing; each refused, each changing nothing."""
    product_id = await cards.product(TEN_THOUSAND)
    # The requester holds the approver and manager scopes too: still not for its own request.
    requester = staff("dave", "requester", "approver", "manager")
    created = (
        await giftcard.CreateRequisition(
            create_request(
                line(product_id, 6),
                kind=res.REQUISITION_KIND_BULK_PURCHASE,
                buyer_name="Acme Trading Co.",
                buyer_reference="contract 2024-117",
            ),
            metadata=requester,
        )
    ).requisition
    rid = created.requisition_id
    assert created.total_minor == 6 * TEN_THOUSAND
    assert list(created.pending_roles) == ["giftcard:approver", "giftcard:manager"]
    assert created.buyer_name == "Acme Trading Co."

    approver, manager = staff("erin", "approver"), staff("frank", "manager")
    both = staff("gina", "approver", "manager")
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ApproveRequisition(approve(rid), metadata=requester), PRECONDITION, "SELF_APPROVAL"
    )
    await fails(
        giftcard.ApproveRequisition(approve(rid), metadata=staff("hank", "sales")),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    await fails(
        giftcard.ApproveRequisition(approve(rid, role="giftcard:manager"), metadata=approver),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    await fails(
        giftcard.ApproveRequisition(approve(rid), metadata=staff("ivan", "requester")),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    assert await snapshot(giftcard_app.pool) == before

    once = (await giftcard.ApproveRequisition(approve(rid), metadata=both)).requisition
    assert once.state == res.REQUISITION_STATE_PENDING_APPROVAL
    assert list(once.pending_roles) == ["giftcard:manager"]
    assert [a.role for a in once.approvals] == ["giftcard:approver"]

    before = await snapshot(giftcard_app.pool)
    # The same person again, now as the manager: one person's judgement counts once.
    await fails(
        giftcard.ApproveRequisition(approve(rid, role="giftcard:manager"), metadata=both),
        PRECONDITION,
        "ALREADY_APPROVED",
    )
    # A second approver: the approver role is filled, the manager is what is missing.
    await fails(
        giftcard.ApproveRequisition(approve(rid), metadata=approver),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    await fails(
        giftcard.ApproveRequisition(approve(rid, role="approver"), metadata=approver),
        PRECONDITION,
        "ROLE_ALREADY_APPROVED",
    )
    # The manager is missing: no cards leave the safe.
    await fails(
        giftcard.FulfilRequisition(fulfil(rid), metadata=staff("carol", "operator")),
        PRECONDITION,
        "REQUISITION_NOT_APPROVED",
    )
    assert await snapshot(giftcard_app.pool) == before

    done = (await giftcard.ApproveRequisition(approve(rid), metadata=manager)).requisition
    assert done.state == res.REQUISITION_STATE_APPROVED
    assert sorted((a.approver, a.role) for a in done.approvals) == [
        ("operator:frank", "giftcard:manager"),
        ("operator:gina", "giftcard:approver"),
    ]
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ApproveRequisition(approve(rid), metadata=staff("jane", "manager")),
        PRECONDITION,
        "REQUISITION_ALREADY_DECIDED",
    )
    assert await snapshot(giftcard_app.pool) == before
    approvals = await audited(giftcard_app, "giftcard.requisition.approved")
    assert [(a["actor"], a["detail"]["role"]) for a in approvals] == [
        ("operator:gina", "giftcard:approver"),
        ("operator:frank", "giftcard:manager"),
    ]


async def test_a_request_is_rejected_by_a_pending_role_and_withdrawn_only_by_its_requester(
    giftcard, giftcard_app, cards, staff
):
    product_id = await cards.product(TEN_THOUSAND)
    requester = staff("alice", "requester", "approver")
    rid = (
        await giftcard.CreateRequisition(create_request(line(product_id, 6)), metadata=requester)
    ).requisition.requisition_id
    approver = staff("bob", "approver")
    await giftcard.ApproveRequisition(approve(rid), metadata=approver)

    def reject(reason: str = "not this week") -> pb.RejectRequisitionRequest:
        return pb.RejectRequisitionRequest(request_id=uid(), requisition_id=rid, reason=reason)

    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.RejectRequisition(reject(), metadata=requester), PRECONDITION, "SELF_APPROVAL"
    )
    await fails(
        giftcard.RejectRequisition(reject(), metadata=approver), PRECONDITION, "ALREADY_APPROVED"
    )
    await fails(
        giftcard.RejectRequisition(reject(), metadata=staff("carl", "approver")),
        PRECONDITION,
        "ROLE_NOT_HELD",
    )
    await fails(
        giftcard.RejectRequisition(reject(""), metadata=staff("mona", "manager")),
        INVALID,
        "INVALID_ARGUMENT",
        ["reason"],
    )
    assert await snapshot(giftcard_app.pool) == before

    rejected = (
        await giftcard.RejectRequisition(reject(), metadata=staff("mona", "manager"))
    ).requisition
    assert rejected.state == res.REQUISITION_STATE_REJECTED
    assert (rejected.rejected_by, rejected.reject_reason) == ("operator:mona", "not this week")
    await fails(
        giftcard.ApproveRequisition(approve(rid), metadata=staff("nina", "manager")),
        PRECONDITION,
        "REQUISITION_REJECTED",
    )

    other = (
        await giftcard.CreateRequisition(create_request(line(product_id, 1)), metadata=requester)
    ).requisition.requisition_id

    def cancel(reason: str = "plans changed") -> pb.CancelRequisitionRequest:
        return pb.CancelRequisitionRequest(request_id=uid(), requisition_id=other, reason=reason)

    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.CancelRequisition(cancel(), metadata=staff("zed", "requester")),
        DENIED,
        "NOT_REQUESTER",
    )
    await fails(giftcard.CancelRequisition(cancel(), metadata=approver), DENIED, "MISSING_SCOPE")
    assert await snapshot(giftcard_app.pool) == before
    cancelled = (await giftcard.CancelRequisition(cancel(), metadata=requester)).requisition
    assert cancelled.state == res.REQUISITION_STATE_CANCELLED
    assert cancelled.rejected_by == "operator:alice"
    await fails(
        giftcard.CancelRequisition(cancel(), metadata=requester),
        PRECONDITION,
        "REQUISITION_NOT_CANCELLABLE",
    )
    await fails(
        giftcard.ApproveRequisition(approve(other), metadata=approver),
        PRECONDITION,
        "REQUISITION_CANCELLED",
    )
    (entry,) = await audited(giftcard_app, "giftcard.requisition.rejected")
    assert entry["detail"]["reason"] == "not this week"
    (entry,) = await audited(giftcard_app, "giftcard.requisition.cancelled")
    assert entry["detail"]["reason"] == "plans changed"


async def test_listed_cards_must_match_the_lines_exactly(giftcard, giftcard_app, cards, staff):
    requester, approver, operator = (
        staff("alice", "requester"),
        staff("bob", "approver"),
        staff("carol", "operator"),
    )
    hundred = await cards.product(HUNDRED)
    fifty = await cards.product(50_00)
    ready = await stock(cards, 3, hundred)
    other = await stock(cards, 1, fifty, 50_00)
    sold = await cards.card(HUNDRED, product_id=hundred)  # active
    rid = (
        await giftcard.CreateRequisition(create_request(line(hundred, 2)), metadata=requester)
    ).requisition.requisition_id
    await giftcard.ApproveRequisition(approve(rid), metadata=approver)

    a, b, c = (card.card_number for card in ready)
    before = await snapshot(giftcard_app.pool)
    failure = await fails(
        giftcard.FulfilRequisition(
            fulfil(rid, a, a, other[0].card_number, sold.card_number), metadata=operator
        ),
        INVALID,
        "REQUISITION_CARDS_MISMATCH",
        ["card_numbers[1]", "card_numbers[2]", "card_numbers[3]"],
    )
    assert "listed twice" in failure.message and "not ready" in failure.message
    await fails(
        giftcard.FulfilRequisition(fulfil(rid, a), metadata=operator),
        INVALID,
        "REQUISITION_CARDS_MISMATCH",
        ["card_numbers"],
    )
    await fails(
        giftcard.FulfilRequisition(fulfil(rid, a, b, c), metadata=operator),
        INVALID,
        "REQUISITION_CARDS_MISMATCH",
        ["card_numbers[2]"],
    )
    unknown = numbers.new_number("9", 19)
    await fails(
        giftcard.FulfilRequisition(fulfil(rid, a, unknown), metadata=operator),
        NOT_FOUND,
        "CARD_NOT_FOUND",
    )
    await fails(
        giftcard.FulfilRequisition(
            fulfil(rid, a, a[:-1] + str((int(a[-1]) + 1) % 10)), metadata=operator
        ),
        INVALID,
        "CARD_NUMBER_CHECK_DIGIT",
        ["card_numbers[1]"],
    )
    await fails(
        giftcard.FulfilRequisition(fulfil(rid, a, b), metadata=staff("rita", "requester")),
        DENIED,
        "MISSING_SCOPE",
    )
    assert await snapshot(giftcard_app.pool) == before

    # Typed as printed: groups of four with spaces.
    spaced = " ".join(b[i : i + 4] for i in range(0, len(b), 4))
    done = (await giftcard.FulfilRequisition(fulfil(rid, a, spaced), metadata=operator)).requisition
    assert done.state == res.REQUISITION_STATE_FULFILLED
    assert await states(giftcard_app, ready) == ["requisitioned", "requisitioned", "ready"]
    await fails(
        giftcard.FulfilRequisition(fulfil(rid), metadata=operator),
        PRECONDITION,
        "REQUISITION_ALREADY_FULFILLED",
    )

    # Returning a card the requisition never drew.
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ReturnRequisitionCards(
            pb.ReturnRequisitionCardsRequest(
                request_id=uid(), requisition_id=rid, card_numbers=[c, a], reason="unsold"
            ),
            metadata=operator,
        ),
        INVALID,
        "CARD_NOT_IN_REQUISITION",
        ["card_numbers[0]"],
    )
    assert await snapshot(giftcard_app.pool) == before


async def test_the_service_picks_stock_and_says_which_line_is_short(
    giftcard, giftcard_app, cards, staff
):
    requester, approver, operator = (
        staff("alice", "requester"),
        staff("bob", "approver"),
        staff("carol", "operator"),
    )
    hundred = await cards.product(HUNDRED)
    fifty = await cards.product(50_00)
    await stock(cards, 2, hundred)
    await stock(cards, 1, fifty, 50_00)
    rid = (
        await giftcard.CreateRequisition(
            create_request(line(hundred, 2), line(fifty, 2)), metadata=requester
        )
    ).requisition.requisition_id
    await giftcard.ApproveRequisition(approve(rid), metadata=approver)
    before = await snapshot(giftcard_app.pool)
    failure = await fails(
        giftcard.FulfilRequisition(fulfil(rid), metadata=operator),
        PRECONDITION,
        "INSUFFICIENT_STOCK",
    )
    assert "line 1" in failure.message
    assert await snapshot(giftcard_app.pool) == before
    await stock(cards, 1, fifty, 50_00)
    done = (await giftcard.FulfilRequisition(fulfil(rid), metadata=operator)).requisition
    assert done.state == res.REQUISITION_STATE_FULFILLED
    count = await giftcard_app.pool.fetchval(
        "SELECT count(*) FROM cards WHERE requisition_id = $1 AND state = 'requisitioned'",
        uuid.UUID(rid),
    )
    assert count == 4


async def test_bad_requests_are_refused_precisely_and_change_nothing(
    giftcard, giftcard_app, cards, staff
):
    requester = staff("alice", "requester")
    hundred = await cards.product(HUNDRED)
    before = await snapshot(giftcard_app.pool)

    async def refused(request, code, reason, fields=None):
        await fails(giftcard.CreateRequisition(request, metadata=requester), code, reason, fields)

    await refused(create_request(), INVALID, "INVALID_ARGUMENT", ["lines"])
    await refused(
        create_request(line(hundred, 1), kind=res.REQUISITION_KIND_UNSPECIFIED),
        INVALID,
        "INVALID_ARGUMENT",
        ["kind"],
    )
    await refused(
        create_request(line(hundred, 1), kind=res.REQUISITION_KIND_BULK_PURCHASE),
        INVALID,
        "INVALID_ARGUMENT",
        ["buyer_name"],
    )
    await refused(
        create_request(line(hundred, 1), buyer_name="Acme"),
        INVALID,
        "INVALID_ARGUMENT",
        ["buyer_name"],
    )
    await refused(
        create_request(line(hundred, 0), sales_desk=""),
        INVALID,
        "INVALID_ARGUMENT",
        ["sales_desk", "lines[0].card_count"],
    )
    await refused(
        create_request(line(hundred, 6000), line(hundred, 5000, HUNDRED)),
        INVALID,
        "INVALID_ARGUMENT",
        ["lines"],
    )
    await refused(
        create_request(line(hundred, 1, -5)),
        INVALID,
        "AMOUNT_NOT_POSITIVE",
        ["lines[0].face_value_minor"],
    )
    await refused(
        create_request(line(hundred, 1, 200_00)),
        INVALID,
        "FACE_VALUE_FIXED",
        ["lines[0].face_value_minor"],
    )
    await refused(
        create_request(line(hundred, 1), line(hundred, 2, HUNDRED)),
        INVALID,
        "INVALID_ARGUMENT",
        ["lines[1]"],
    )
    await refused(
        create_request(line(hundred, 1), note="bad\x00note"), INVALID, "INVALID_ARGUMENT", ["note"]
    )
    await refused(
        create_request(res.RequisitionLine(product_id="nope", card_count=1)),
        INVALID,
        "INVALID_ARGUMENT",
        ["lines[0].product_id"],
    )
    await refused(create_request(line(uuid.uuid4(), 1)), NOT_FOUND, "PRODUCT_NOT_FOUND")
    await fails(
        giftcard.CreateRequisition(create_request(line(hundred, 1)), metadata=staff("x", "sales")),
        DENIED,
        "MISSING_SCOPE",
    )
    for rpc, request in (
        (giftcard.GetRequisition, pb.GetRequisitionRequest(requisition_id="x")),
        (giftcard.ApproveRequisition, approve("x")),
    ):
        await fails(rpc(request, metadata=staff("bob", "approver")), INVALID, "INVALID_ARGUMENT")
    await fails(
        giftcard.GetRequisition(
            pb.GetRequisitionRequest(requisition_id=uid()), metadata=staff("bob", "approver")
        ),
        NOT_FOUND,
        "REQUISITION_NOT_FOUND",
    )
    await fails(
        giftcard.ApproveRequisition(approve(uid(), role="giftcard:boss"), metadata=requester),
        INVALID,
        "INVALID_ARGUMENT",
        ["role"],
    )
    assert await snapshot(giftcard_app.pool) == before


async def test_requisitions_are_listed_newest_first_by_page_and_filter(giftcard, cards, staff):
    requester, reader = staff("alice", "requester"), staff("sam", "sales")
    hundred = await cards.product(HUNDRED)
    made = []
    for desk in ("d1", "d2", "d1", "d1"):
        created = await giftcard.CreateRequisition(
            create_request(line(hundred, 1), sales_desk=desk), metadata=requester
        )
        made.append(created.requisition.requisition_id)
    await giftcard.ApproveRequisition(approve(made[0]), metadata=staff("bob", "approver"))
    first = await giftcard.ListRequisitions(
        pb.ListRequisitionsRequest(page_size=2, sales_desk="d1"), metadata=reader
    )
    assert [r.requisition_id for r in first.requisitions] == [made[3], made[2]]
    second = await giftcard.ListRequisitions(
        pb.ListRequisitionsRequest(page_size=2, sales_desk="d1", page_token=first.next_page_token),
        metadata=reader,
    )
    assert [r.requisition_id for r in second.requisitions] == [made[0]]
    assert second.next_page_token == ""
    approved = await giftcard.ListRequisitions(
        pb.ListRequisitionsRequest(state=res.REQUISITION_STATE_APPROVED), metadata=reader
    )
    assert [r.requisition_id for r in approved.requisitions] == [made[0]]
    await fails(
        giftcard.ListRequisitions(
            pb.ListRequisitionsRequest(page_token=first.next_page_token, sales_desk="d2"),
            metadata=reader,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["page_token"],
    )
    got = await giftcard.GetRequisition(
        pb.GetRequisitionRequest(requisition_id=made[1]), metadata=reader
    )
    assert got.requisition.sales_desk == "d2"
    assert list(got.requisition.pending_roles) == ["giftcard:approver"]
