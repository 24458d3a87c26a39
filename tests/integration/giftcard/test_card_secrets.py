"""Card secrets under attack: brute force from one client finds nothing and is throttled; a
lock holds even against the right PIN; every bad checkout input gets a precise error and changes
nothing."""

from __future__ import annotations

import asyncio
import uuid

import grpc

from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from services.giftcard.domain import cards as numbers
from tests.support.grpc_errors import assert_error, fails
from tests.support.ids import uid
from tests.support.snapshots import snapshot

TABLES = ("cards", "holds", "journal_postings", "stored_value", "top_ups")


async def test_ten_thousand_wrong_guesses_from_one_client_find_nothing_and_get_throttled(
    wallet, cards, mint, giftcard_app
):
    targets = [await cards.card(100_00) for _ in range(5)]
    client = mint("scraper", kind="service", scopes=["giftcard:checkout"])
    outcomes: dict[str, int] = {}

    async def guess(n: int) -> None:
        card = targets[n % len(targets)]
        attempt = pb.CardSecret(card_number=card.card_number, pin=f"{n:020d}")
        try:
            await wallet.CheckCardBalance(pb.CheckCardBalanceRequest(card=attempt), metadata=client)
            outcomes["FOUND"] = outcomes.get("FOUND", 0) + 1
        except grpc.aio.AioRpcError as exc:
            reason = assert_error(exc).reason
            outcomes[reason] = outcomes.get(reason, 0) + 1

    for start in range(0, 10_000, 100):  # within one connection's concurrent streams
        await asyncio.gather(*(guess(n) for n in range(start, start + 100)))
    assert "FOUND" not in outcomes
    assert sum(outcomes.values()) == 10_000
    # Only a few guesses were ever judged before the caller was throttled (and each card's
    # number locked); the rest were refused without looking.
    judged = outcomes.get("CARD_CREDENTIALS_INVALID", 0)
    assert judged <= giftcard_app.settings.pin_failures_per_caller + 100, outcomes
    refused_unseen = outcomes.get("RATE_LIMITED", 0) + outcomes.get("CARD_LOCKED", 0)
    assert refused_unseen == 10_000 - judged, outcomes
    # Another client is not slowed by the scraper: the holder with the PIN gets the balance.
    honest = mint("storefront-2", kind="service", scopes=["giftcard:checkout"])
    fresh = await cards.card(30_00)
    answer = await wallet.CheckCardBalance(
        pb.CheckCardBalanceRequest(
            card=pb.CardSecret(card_number=fresh.card_number, pin=fresh.pin)
        ),
        metadata=honest,
    )
    assert answer.card.balance_minor == 30_00


async def test_an_unknown_number_locks_like_a_known_one(wallet, checkout, giftcard_app):
    """A lock tells nothing: an unknown number answers and locks exactly like a real one."""
    unknown = pb.CardSecret(card_number=numbers.new_number("9", 19), pin="5" * 20)
    for _ in range(giftcard_app.settings.pin_failures_before_lock):
        await fails(
            wallet.CheckCardBalance(pb.CheckCardBalanceRequest(card=unknown), metadata=checkout),
            grpc.StatusCode.PERMISSION_DENIED,
            "CARD_CREDENTIALS_INVALID",
        )
    await fails(
        wallet.CheckCardBalance(pb.CheckCardBalanceRequest(card=unknown), metadata=checkout),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "CARD_LOCKED",
    )


def _place(order: str, *sources: pb.HoldSource, **fields) -> pb.PlaceHoldsRequest:
    values = dict(
        request_id=uid(),
        order_id=order,
        currency_code="CNY",
        order_amount_minor=1_000_00,
        channel="online",
        sources=list(sources),
    )
    values.update(fields)
    return pb.PlaceHoldsRequest(**values)


def _secret(card, amount: int, **changes) -> pb.HoldSource:
    secret = pb.CardSecret(card_number=card.card_number, pin=card.pin)
    for name, value in changes.items():
        setattr(secret, name, value)
    return pb.HoldSource(kind=res.HOLD_SOURCE_KIND_CARD_SECRET, card=secret, amount_minor=amount)


async def test_every_bad_checkout_input_gets_a_precise_error_and_changes_nothing(
    wallet, cards, checkout, giftcard_app, mint, clock
):
    card = await cards.card(100_00)
    expired = await cards.card(50_00, expire_time=clock.now().replace(year=2001))
    member, other = uuid.uuid4(), uuid.uuid4()
    bound = await cards.card(40_00, member_id=member)
    bad_luhn = card.card_number[:-1] + str((int(card.card_number[-1]) + 1) % 10)
    cases = [
        (
            _place(uid(), _secret(card, 10_00, card_number=bad_luhn)),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            ["sources[0].card.card_number"],
        ),
        (
            _place(uid(), _secret(card, 0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            ["sources[0].amount_minor"],
        ),
        (
            _place(uid(), _secret(card, -5)),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            ["sources[0].amount_minor"],
        ),
        (
            _place(uid(), _secret(card, 200_00), order_amount_minor=100_00),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            ["sources"],
        ),
        (
            _place(uid(), _secret(card, 150_00)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "INSUFFICIENT_BALANCE",
            None,
        ),
        (
            _place(uid(), _secret(expired, 10_00)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "CARD_EXPIRED",
            None,
        ),
        (
            _place(uid(), _secret(card, 10_00), currency_code="USD"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "CURRENCY_MISMATCH",
            None,
        ),
        (
            _place(uid(), _secret(card, 10_00), channel="kiosk"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "CHANNEL_NOT_ALLOWED",
            None,
        ),
        (
            _place(
                uid(),
                pb.HoldSource(
                    kind=res.HOLD_SOURCE_KIND_BOUND_CARD,
                    card_id=str(bound.card_id),
                    amount_minor=10_00,
                ),
                member_id=str(other),
            ),
            grpc.StatusCode.NOT_FOUND,
            None,
            None,
        ),
        (
            _place(uid(), _secret(card, 10_00), order_id="x\x00y"),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            ["order_id"],
        ),
        (_place(uid()), grpc.StatusCode.INVALID_ARGUMENT, None, ["sources"]),
    ]
    before = await snapshot(giftcard_app.pool, *TABLES)
    for request, code, reason, fields in cases:
        await fails(wallet.PlaceHolds(request, metadata=checkout), code, reason, fields)
    # A member's own token cannot pay with another member's bound card either.
    await fails(
        wallet.PlaceHolds(
            _place(
                uid(),
                pb.HoldSource(
                    kind=res.HOLD_SOURCE_KIND_BOUND_CARD,
                    card_id=str(bound.card_id),
                    amount_minor=10_00,
                ),
            ),
            metadata=mint(str(other)),
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert await snapshot(giftcard_app.pool, *TABLES) == before


async def test_right_pins_at_once_after_a_wrong_one_all_get_the_balance(wallet, cards, checkout):
    """A good PIN clears the failures on record; several at once must not trip over it."""
    for _ in range(15):
        card = await cards.card(20_00)
        wrong = pb.CardSecret(card_number=card.card_number, pin="9" * 20)
        await fails(
            wallet.CheckCardBalance(pb.CheckCardBalanceRequest(card=wrong), metadata=checkout),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        right = pb.CheckCardBalanceRequest(
            card=pb.CardSecret(card_number=card.card_number, pin=card.pin)
        )
        answers = await asyncio.gather(
            *(wallet.CheckCardBalance(right, metadata=checkout) for _ in range(8))
        )
        assert {a.card.balance_minor for a in answers} == {20_00}
