"""Operator actions on cards, each by "giftcard:operator" with a reason and audited: freeze and
unfreeze (冻结/解冻), cancel defective stock (注销/废卡, its value written off), replace a damaged or
lost card (补磁/换卡, the balance, binding and expiry carried to a blank), extend validity (延期);
reading and listing cards with full numbers only for those who may see them."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
from google.protobuf import timestamp_pb2

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from services.giftcard.domain import cards as numbers
from services.giftcard.store import journal
from tests.support import bus, snapshots
from tests.support.giftcard import fulfilled_requisition, stock
from tests.support.grpc_errors import fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
TABLES = (
    "cards",
    "requisitions",
    "holds",
    "after_sales",
    "journal_transactions",
    "journal_postings",
    "idempotency",
    "audit_log",
)
HUNDRED = 100_00


async def snapshot(pool) -> dict:
    return await snapshots.snapshot(pool, *TABLES, outbox="SELECT id FROM outbox")


def stamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def freeze(card, reason: str = "suspected fraud") -> pb.FreezeCardRequest:
    return pb.FreezeCardRequest(request_id=uid(), card_id=str(card.card_id), reason=reason)


def unfreeze(card, reason: str = "cleared") -> pb.UnfreezeCardRequest:
    return pb.UnfreezeCardRequest(request_id=uid(), card_id=str(card.card_id), reason=reason)


def replace(old, new_number: str, cause, reason: str = "magstripe worn") -> pb.ReplaceCardRequest:
    return pb.ReplaceCardRequest(
        request_id=uid(),
        card_number=old.card_number,
        cause=cause,
        new_card_number=new_number,
        reason=reason,
    )


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


async def row(giftcard_app, card_id) -> dict:
    found = await giftcard_app.pool.fetchrow("SELECT * FROM cards WHERE card_id = $1", card_id)
    return dict(found)


async def postings(giftcard_app, kind: str) -> list[tuple[str, str, int, str]]:
    rows = await giftcard_app.pool.fetch(
        "SELECT p.account, p.owner, p.amount, p.entry_kind FROM journal_postings p"
        " JOIN journal_transactions t USING (txn_id) WHERE t.kind = $1 ORDER BY p.posting_id",
        kind,
    )
    return [(r["account"], r["owner"], r["amount"], r["entry_kind"]) for r in rows]


async def audit(giftcard_app, action: str) -> list:
    return await giftcard_app.pool.fetch(
        "SELECT actor, subject, detail FROM audit_log WHERE action = $1 ORDER BY id", action
    )


async def test_a_frozen_card_spends_nothing_until_it_is_unfrozen(
    giftcard, wallet, giftcard_app, cards, staff, checkout, tap
):
    operator = staff("olga", "operator")
    card = await cards.card(HUNDRED)
    placed = await wallet.PlaceHolds(hold(card, 30_00), metadata=checkout)
    hold_id = placed.holds[0].hold_id

    frozen = (await giftcard.FreezeCard(freeze(card), metadata=operator)).card
    assert frozen.state == res.CARD_STATE_FROZEN and frozen.state_reason == "suspected fraud"
    assert (frozen.balance_minor, frozen.held_minor) == (HUNDRED, 0)  # the hold went back
    (event,) = await tap.wait_for("loyalty.giftcard.card.frozen.v1", str(card.card_id))
    assert bus.data(event)["balanceMinor"] == str(HUNDRED)
    order_id = placed.holds[0].order_id  # a hold's events are about its order
    released = await tap.wait_for("loyalty.giftcard.hold.released.v1", order_id)
    assert any(bus.data(e)["holdId"] == hold_id for e in released)

    # What a frozen card may not do: spend, be frozen again, be refunded, be replaced as damaged.
    blank = await cards.card(0, state="issued")
    before = await snapshot(giftcard_app.pool)
    await fails(
        wallet.PlaceHolds(hold(card, 10_00), metadata=checkout), PRECONDITION, "CARD_FROZEN"
    )
    await fails(
        giftcard.FreezeCard(freeze(card), metadata=operator), PRECONDITION, "CARD_ALREADY_FROZEN"
    )
    await fails(
        giftcard.RequestCardRefund(
            pb.RequestCardRefundRequest(
                request_id=uid(), card_id=str(card.card_id), reason="customer returns it"
            ),
            metadata=operator,
        ),
        PRECONDITION,
        "CARD_FROZEN",
    )
    await fails(
        giftcard.ReplaceCard(
            replace(card, blank.card_number, res.REPLACEMENT_CAUSE_DAMAGED), metadata=operator
        ),
        PRECONDITION,
        "CARD_FROZEN",
    )
    await fails(
        giftcard.FreezeCard(freeze(card), metadata=staff("sam", "sales")), DENIED, "MISSING_SCOPE"
    )
    assert await snapshot(giftcard_app.pool) == before

    thawed = (await giftcard.UnfreezeCard(unfreeze(card), metadata=operator)).card
    assert thawed.state == res.CARD_STATE_ACTIVE and thawed.balance_minor == HUNDRED
    (event,) = await tap.wait_for("loyalty.giftcard.card.unfrozen.v1", str(card.card_id))
    assert bus.data(event)["balanceMinor"] == str(HUNDRED)
    await fails(
        giftcard.UnfreezeCard(unfreeze(card), metadata=operator), PRECONDITION, "CARD_NOT_FROZEN"
    )
    again = await wallet.PlaceHolds(hold(card, 10_00), metadata=checkout)
    assert again.holds[0].amount_minor == 10_00
    assert [
        (e["actor"], e["detail"]["reason"])
        for e in await audit(giftcard_app, "giftcard.card.frozen")
    ] == [("operator:olga", "suspected fraud")]
    (entry,) = await audit(giftcard_app, "giftcard.card.unfrozen")
    assert entry["detail"]["role"] == "giftcard:operator" and entry["detail"]["reason"] == "cleared"
    assert await journal.problems(giftcard_app.pool) == {}


async def test_unfreezing_a_card_past_its_validity_expires_it_as_breakage(
    giftcard, giftcard_app, cards, staff, clock, tap
):
    operator = staff("olga", "operator")
    now = dt.datetime.now(dt.UTC)
    card = await cards.card(70_00, expire_time=now + dt.timedelta(days=2))
    await giftcard.FreezeCard(freeze(card), metadata=operator)
    clock.set(now + dt.timedelta(days=3))
    expired = (await giftcard.UnfreezeCard(unfreeze(card), metadata=operator)).card
    assert expired.state == res.CARD_STATE_EXPIRED and expired.balance_minor == 0
    assert await postings(giftcard_app, "expire") == [
        ("card_available", str(card.card_id), -70_00, "expire"),
        ("breakage", "", 70_00, "expire"),
    ]
    await tap.wait_for("loyalty.giftcard.card.unfrozen.v1", str(card.card_id))
    (event,) = await tap.wait_for("loyalty.giftcard.card.expired.v1", str(card.card_id))
    assert bus.data(event)["expiredMinor"] == str(70_00)
    assert await journal.problems(giftcard_app.pool) == {}


async def test_defective_stock_is_cancelled_with_its_value_written_off(
    giftcard, giftcard_app, cards, staff
):
    operator = staff("olga", "operator")
    ready = await cards.card(HUNDRED, state="ready")
    blank = await cards.card(0, state="issued")
    sold = await cards.card(HUNDRED)

    def cancel(card, reason: str = "chip cracked") -> pb.CancelCardRequest:
        return pb.CancelCardRequest(request_id=uid(), card_number=card.card_number, reason=reason)

    done = await giftcard.CancelCard(cancel(ready), metadata=operator)
    assert done.card.state == res.CARD_STATE_CANCELLED and done.written_off_minor == HUNDRED
    assert done.card.balance_minor == 0 and done.card.state_reason == "chip cracked"
    assert await postings(giftcard_app, "cancel") == [
        ("card_available", str(ready.card_id), -HUNDRED, "cancel"),
        ("write_offs", "", HUNDRED, "cancel"),
    ]
    empty = await giftcard.CancelCard(cancel(blank), metadata=operator)
    assert empty.written_off_minor == 0 and empty.card.state == res.CARD_STATE_CANCELLED

    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.CancelCard(cancel(sold), metadata=operator), PRECONDITION, "CARD_ALREADY_SOLD"
    )
    await fails(giftcard.CancelCard(cancel(ready), metadata=operator), PRECONDITION, "CARD_CLOSED")
    loaded = await cards.card(HUNDRED, state="loaded")
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.CancelCard(cancel(loaded), metadata=operator),
        PRECONDITION,
        "CARD_LOAD_PENDING_REVIEW",
    )
    await fails(
        giftcard.CancelCard(cancel(loaded, " "), metadata=operator),
        INVALID,
        "REASON_REQUIRED",
        ["reason"],
    )
    assert await snapshot(giftcard_app.pool) == before
    (entry,) = [
        e
        for e in await audit(giftcard_app, "giftcard.card.cancelled")
        if e["subject"] == str(ready.card_id)
    ]
    assert entry["detail"]["written_off_minor"] == HUNDRED
    assert entry["detail"]["reason"] == "chip cracked"
    assert await journal.problems(giftcard_app.pool) == {}


async def test_cancelling_the_last_drawn_card_closes_its_requisition(giftcard, cards, staff):
    operator = staff("olga", "operator")
    product_id = await cards.product(HUNDRED)
    await stock(cards, 1, product_id)
    rid = (await fulfilled_requisition(giftcard, staff, product_id, 1)).requisition_id
    (card,) = (
        await giftcard.ListCards(pb.ListCardsRequest(requisition_id=rid), metadata=operator)
    ).cards
    await giftcard.CancelCard(
        pb.CancelCardRequest(request_id=uid(), card_id=card.card_id, reason="printing fault"),
        metadata=operator,
    )
    after = await giftcard.GetRequisition(
        pb.GetRequisitionRequest(requisition_id=rid), metadata=operator
    )
    assert after.requisition.state == res.REQUISITION_STATE_CLOSED


async def test_a_lost_card_is_replaced_keeping_its_balance_binding_and_expiry(
    giftcard, giftcard_app, cards, staff, tap
):
    operator = staff("olga", "operator")
    member = uuid.uuid4()
    expiry = dt.datetime(2027, 3, 1, 16, tzinfo=dt.UTC)
    lost = await cards.card(80_00, state="lost", member_id=member, expire_time=expiry)
    blank = await cards.card(0, state="issued")
    answer = await giftcard.ReplaceCard(
        replace(lost, blank.card_number, res.REPLACEMENT_CAUSE_LOST, "owner reported it lost"),
        metadata=operator,
    )
    assert answer.transferred_minor == 80_00
    old, new = answer.old_card, answer.new_card
    assert old.state == res.CARD_STATE_REPLACED and old.balance_minor == 0
    assert old.replaced_by_card_id == str(blank.card_id)
    assert new.state == res.CARD_STATE_ACTIVE and new.balance_minor == 80_00
    assert new.replaces_card_id == str(lost.card_id)
    assert new.member_id == str(member) and new.expire_time.ToDatetime(dt.UTC) == expiry
    assert new.product_id == str(lost.product_id) and new.face_value_minor == 80_00
    assert new.card_number == blank.card_number  # an operator sees full numbers
    assert await postings(giftcard_app, "transfer_out") == [
        ("card_available", str(lost.card_id), -80_00, "transfer_out"),
        ("card_available", str(blank.card_id), 80_00, "transfer_in"),
    ]
    (event,) = await tap.wait_for("loyalty.giftcard.card.replaced.v1", str(lost.card_id))
    data = bus.data(event)
    assert data["newCardId"] == str(blank.card_id) and data["amountMinor"] == str(80_00)
    assert data["cause"] == "REPLACEMENT_CAUSE_LOST" and data["memberId"] == str(member)
    (event,) = await tap.wait_for("loyalty.giftcard.card.activated.v1", str(blank.card_id))
    data = bus.data(event)
    assert data["cause"] == "ACTIVATION_CAUSE_REPLACEMENT"
    assert data["replacesCardId"] == str(lost.card_id) and data["balanceMinor"] == str(80_00)
    (entry,) = await audit(giftcard_app, "giftcard.card.replaced")
    assert entry["subject"] == str(lost.card_id)
    assert entry["detail"]["new_card_id"] == str(blank.card_id)
    assert entry["detail"]["reason"] == "owner reported it lost"
    assert await journal.problems(giftcard_app.pool) == {}


async def test_bad_replacements_are_refused_precisely_and_change_nothing(
    giftcard, giftcard_app, cards, staff
):
    operator = staff("olga", "operator")
    active = await cards.card(HUNDRED)
    lost = await cards.card(HUNDRED, state="lost")
    blank = await cards.card(0, state="issued")
    other = await cards.card(HUNDRED)
    undelivered = await cards.card(0, state="issued")
    await giftcard_app.pool.execute(
        "UPDATE cards SET secret_delivered = false WHERE card_id = $1", undelivered.card_id
    )
    usd = await cards.card(0, state="issued")
    await giftcard_app.pool.execute(
        "UPDATE cards SET currency_code = 'USD' WHERE card_id = $1", usd.card_id
    )
    damaged, lost_cause = res.REPLACEMENT_CAUSE_DAMAGED, res.REPLACEMENT_CAUSE_LOST
    before = await snapshot(giftcard_app.pool)

    async def refused(request, code, reason, fields=None):
        return await fails(giftcard.ReplaceCard(request, metadata=operator), code, reason, fields)

    await refused(replace(lost, blank.card_number, damaged), PRECONDITION, "CARD_REPORTED_LOST")
    await refused(
        replace(active, blank.card_number, lost_cause), PRECONDITION, "CARD_NOT_REPORTED_LOST"
    )
    await refused(
        replace(active, other.card_number, damaged), PRECONDITION, "REPLACEMENT_NOT_BLANK"
    )
    failure = await refused(
        replace(active, undelivered.card_number, damaged), PRECONDITION, "REPLACEMENT_NOT_BLANK"
    )
    assert "secret" in failure.message
    await refused(replace(active, usd.card_number, damaged), PRECONDITION, "CURRENCY_MISMATCH")
    await refused(replace(active, active.card_number, damaged), PRECONDITION, "SAME_CARD")
    await refused(
        replace(active, numbers.new_number("9", 19), damaged), NOT_FOUND, "CARD_NOT_FOUND"
    )
    await refused(
        replace(active, blank.card_number, res.REPLACEMENT_CAUSE_UNSPECIFIED),
        INVALID,
        "INVALID_ARGUMENT",
        ["cause"],
    )
    await refused(
        replace(active, "", damaged, reason=""),
        INVALID,
        "CARD_NUMBER_FORMAT",
        ["new_card_number", "reason"],
    )
    assert await snapshot(giftcard_app.pool) == before

    # A damaged card in hand: the same move, cause DAMAGED.
    done = await giftcard.ReplaceCard(
        replace(active, blank.card_number, damaged), metadata=operator
    )
    assert done.transferred_minor == HUNDRED and done.new_card.state == res.CARD_STATE_ACTIVE
    await refused(replace(active, other.card_number, damaged), PRECONDITION, "CARD_CLOSED")


async def test_validity_is_extended_by_a_bounded_step_and_audited(
    giftcard, giftcard_app, cards, staff, tap
):
    operator = staff("olga", "operator")
    expiry = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    card = await cards.card(HUNDRED, expire_time=expiry)

    def extend(until: dt.datetime, reason: str = "store closed for renovation"):
        return pb.ExtendCardValidityRequest(
            request_id=uid(), card_id=str(card.card_id), expire_time=stamp(until), reason=reason
        )

    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.ExtendCardValidity(extend(expiry - dt.timedelta(days=1)), metadata=operator),
        INVALID,
        "EXPIRY_NOT_LATER",
        ["expire_time"],
    )
    await fails(
        giftcard.ExtendCardValidity(extend(expiry + dt.timedelta(days=400)), metadata=operator),
        INVALID,
        "EXTENSION_TOO_LONG",
        ["expire_time"],
    )
    await fails(
        giftcard.ExtendCardValidity(
            pb.ExtendCardValidityRequest(request_id=uid(), card_id=str(card.card_id), reason="x"),
            metadata=operator,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["expire_time"],
    )
    assert await snapshot(giftcard_app.pool) == before

    later = expiry + dt.timedelta(days=90)
    done = await giftcard.ExtendCardValidity(extend(later), metadata=operator)
    assert done.card.expire_time.ToDatetime(dt.UTC) == later and done.restored_minor == 0
    (event,) = await tap.wait_for("loyalty.giftcard.card.validity_extended.v1", str(card.card_id))
    data = bus.data(event)
    assert data["previousExpireTime"].startswith(expiry.strftime("%Y-%m-%dT%H:%M:%S"))
    (entry,) = await audit(giftcard_app, "giftcard.card.validity_extended")
    assert entry["detail"]["reason"] == "store closed for renovation"
    assert entry["detail"]["previous_expire_time"] == expiry.isoformat()
    assert entry["detail"]["expire_time"] == later.isoformat()

    past = await cards.card(HUNDRED, expire_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    await fails(
        giftcard.ExtendCardValidity(
            pb.ExtendCardValidityRequest(
                request_id=uid(),
                card_id=str(past.card_id),
                expire_time=stamp(later),
                reason="late",
            ),
            metadata=operator,
        ),
        PRECONDITION,
        "CARD_EXPIRED",
    )


async def test_full_numbers_only_for_those_who_may_see_them_and_cards_listed_by_filter(
    giftcard, wallet, cards, staff, checkout
):
    product_id = await cards.product(HUNDRED)
    ready = await stock(cards, 3, product_id)
    await cards.card(HUNDRED, product_id=product_id)  # active
    for viewer, full in (
        (staff("olga", "operator"), True),
        (staff("rex", "reviewer"), True),
        (staff("sam", "sales"), False),
        (staff("fay", "finance"), False),
    ):
        got = (
            await giftcard.GetCard(
                pb.GetCardRequest(card_number=ready[0].card_number), metadata=viewer
            )
        ).card
        assert got.card_number == (ready[0].card_number if full else "")
        assert got.masked_card_number == numbers.mask(ready[0].card_number)
    # Wrong PINs lock the number: the back office sees until when.
    card = ready[1]
    wrong = wpb.CardSecret(card_number=card.card_number, pin="0" * 20)
    for _ in range(5):
        await fails(
            wallet.CheckCardBalance(wpb.CheckCardBalanceRequest(card=wrong), metadata=checkout)
        )
    got = (
        await giftcard.GetCard(
            pb.GetCardRequest(card_id=str(card.card_id)), metadata=staff("olga", "operator")
        )
    ).card
    assert got.lock_expire_time.ToDatetime(dt.UTC) > dt.datetime.now(dt.UTC)
    got = (
        await giftcard.GetCard(
            pb.GetCardRequest(card_id=str(ready[2].card_id)), metadata=staff("olga", "operator")
        )
    ).card
    assert not got.HasField("lock_expire_time")

    reader = staff("sam", "sales")
    first = await giftcard.ListCards(
        pb.ListCardsRequest(product_id=str(product_id), state=res.CARD_STATE_READY, page_size=2),
        metadata=reader,
    )
    second = await giftcard.ListCards(
        pb.ListCardsRequest(
            product_id=str(product_id),
            state=res.CARD_STATE_READY,
            page_size=2,
            page_token=first.next_page_token,
        ),
        metadata=reader,
    )
    listed = [c.card_id for c in [*first.cards, *second.cards]]
    by_number = sorted(ready, key=lambda c: c.card_number)
    assert listed == [str(c.card_id) for c in by_number]
    assert second.next_page_token == ""


async def test_bad_card_requests_are_refused_precisely_and_change_nothing(
    giftcard, giftcard_app, cards, staff, mint
):
    operator = staff("olga", "operator")
    card = await cards.card(HUNDRED)
    bad_luhn = card.card_number[:-1] + str((int(card.card_number[-1]) + 1) % 10)
    before = await snapshot(giftcard_app.pool)
    await fails(
        giftcard.FreezeCard(
            pb.FreezeCardRequest(
                request_id=uid(),
                card_id=str(card.card_id),
                card_number=card.card_number,
                reason="x",
            ),
            metadata=operator,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["card_id"],
    )
    await fails(
        giftcard.FreezeCard(
            pb.FreezeCardRequest(request_id=uid(), card_number=bad_luhn, reason="x"),
            metadata=operator,
        ),
        INVALID,
        "CARD_NUMBER_CHECK_DIGIT",
        ["card_number"],
    )
    await fails(
        giftcard.FreezeCard(
            pb.FreezeCardRequest(
                request_id=uid(), card_number=numbers.new_number("9", 19), reason="x"
            ),
            metadata=operator,
        ),
        NOT_FOUND,
        "CARD_NOT_FOUND",
    )
    await fails(
        giftcard.FreezeCard(freeze(card, ""), metadata=operator),
        INVALID,
        "REASON_REQUIRED",
        ["reason"],
    )
    await fails(
        giftcard.FreezeCard(freeze(card, "r" * 257), metadata=operator),
        INVALID,
        "INVALID_ARGUMENT",
        ["reason"],
    )
    await fails(
        giftcard.FreezeCard(freeze(card, "bad\x07reason"), metadata=operator),
        INVALID,
        "INVALID_ARGUMENT",
        ["reason"],
    )
    await fails(
        giftcard.GetCard(
            pb.GetCardRequest(card_id=str(card.card_id)), metadata=mint(str(uuid.uuid4()))
        ),
        DENIED,
        "MISSING_SCOPE",
    )
    await fails(
        giftcard.ListCards(pb.ListCardsRequest(state=99), metadata=operator),
        INVALID,
        "INVALID_ARGUMENT",
        ["state"],
    )
    await fails(
        giftcard.ListCards(pb.ListCardsRequest(batch_id="b", page_size=-1), metadata=operator),
        INVALID,
        "INVALID_ARGUMENT",
        ["page_size", "batch_id"],
    )
    await fails(
        giftcard.FreezeCard(freeze(card), metadata=staff("m", "manager")), DENIED, "MISSING_SCOPE"
    )
    assert await snapshot(giftcard_app.pool) == before
