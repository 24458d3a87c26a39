"""Expiry and breakage: the job expires ACTIVE, FROZEN and LOST cards past their expire_time,
moves what is left on them to breakage once (a second run changes nothing), publishes
giftcard.card.expired, waits for a held hold to settle, and the liability still reconciles."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.giftcard import jobs
from services.giftcard.domain import accounts as acc
from services.giftcard.store import journal
from services.kit.postings import Entries
from tests.support.ids import uid

ZONE = ZoneInfo("Asia/Shanghai")
EXPIRED = "loyalty.giftcard.card.expired.v1"


def a_past_day(clock) -> dt.date:
    """A business day three days ago, the clock at its noon (04:00 UTC: the same date in UTC,
    which the arranged cards' loads are posted on)."""
    day = dt.datetime.now(ZONE).date() - dt.timedelta(days=3)
    clock.set(dt.datetime.combine(day, dt.time(12), ZONE).astimezone(dt.UTC))
    return day


async def card_row(app, card_id: uuid.UUID):
    return await app.pool.fetchrow(
        "SELECT state, balance_minor, held_minor FROM cards WHERE card_id = $1", card_id
    )


async def breakage(app) -> list[tuple[str, int]]:
    rows = await app.pool.fetch(
        "SELECT t.card_id, p.amount FROM journal_postings p JOIN journal_transactions t"
        " USING (txn_id) WHERE p.account = $1 ORDER BY p.posting_id",
        acc.BREAKAGE,
    )
    return [(str(r["card_id"]), r["amount"]) for r in rows]


async def hold(app, card_id: uuid.UUID, amount: int, day: dt.date, now: dt.datetime) -> uuid.UUID:
    """A checkout hold on the card, as checkout places it (its row and its postings)."""
    hold_id = uuid.uuid4()
    entries = Entries()
    entries.move((acc.CARD_AVAILABLE, card_id), (acc.CARD_HELD, card_id), amount, acc.HOLD)
    async with app.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO holds (hold_id, order_id, position, source_kind, card_id, currency_code,"
            " amount_minor, state, expire_time, placed_by)"
            " VALUES ($1, 'order-1', 0, 'card_secret', $2, 'CNY', $3, 'held', $4, 'test')",
            hold_id,
            card_id,
            amount,
            now + dt.timedelta(minutes=30),
        )
        await journal.post(
            conn, acc.HOLD, entries.postings, business_day=day, card_id=card_id, actor="test"
        )
    return hold_id


async def release(app, hold_id: uuid.UUID, card_id: uuid.UUID, amount: int, day: dt.date):
    entries = Entries()
    entries.move((acc.CARD_HELD, card_id), (acc.CARD_AVAILABLE, card_id), amount, acc.HOLD_RELEASE)
    async with app.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE holds SET state = 'released' WHERE hold_id = $1", hold_id)
        await journal.post(
            conn, acc.HOLD_RELEASE, entries.postings, business_day=day, card_id=card_id
        )


async def test_expired_cards_balance_goes_to_breakage_once_and_the_books_still_reconcile(
    giftcard, giftcard_app, cards, clock, staff, tap
):
    day = a_past_day(clock)
    now = clock.now()
    past = now - dt.timedelta(minutes=1)
    due = await cards.card(60_00, expire_time=past)
    frozen = await cards.card(20_00, state="frozen", expire_time=past)
    lost = await cards.card(5_00, state="lost", expire_time=past)
    empty = await cards.card(0, expire_time=past)
    valid = await cards.card(30_00, expire_time=now + dt.timedelta(days=1))
    stock = await cards.card(100_00, state="ready", expire_time=past)  # stock never expires
    held = await cards.card(40_00, expire_time=past)
    hold_id = await hold(giftcard_app, held.card_id, 15_00, day, now)
    uc = giftcard_app.usecases

    assert await jobs.expire_cards(uc, giftcard_app.pool) == 4
    for card, value in ((due, 60_00), (frozen, 20_00), (lost, 5_00), (empty, 0)):
        row = await card_row(giftcard_app, card.card_id)
        assert (row["state"], row["balance_minor"], row["held_minor"]) == ("expired", 0, 0)
        (event,) = await tap.wait_for(EXPIRED, str(card.card_id))
        assert event.data["cardId"] == str(card.card_id)
        assert int(event.data.get("expiredMinor", "0")) == value
        assert event.data["currencyCode"] == "CNY"
        assert card.card_number not in str(event.data)  # masked
    for card in (valid, stock):
        assert (await card_row(giftcard_app, card.card_id))["state"] in ("active", "ready")
    # A card with value held for a checkout waits for the hold to settle.
    row = await card_row(giftcard_app, held.card_id)
    assert (row["state"], row["balance_minor"], row["held_minor"]) == ("active", 25_00, 15_00)
    assert sorted(await breakage(giftcard_app)) == sorted(
        [(str(due.card_id), 60_00), (str(frozen.card_id), 20_00), (str(lost.card_id), 5_00)]
    )

    # Running it again changes nothing: no posting, no event.
    postings = await giftcard_app.pool.fetchval("SELECT count(*) FROM journal_postings")
    assert await jobs.expire_cards(uc, giftcard_app.pool) == 0
    assert await giftcard_app.pool.fetchval("SELECT count(*) FROM journal_postings") == postings
    assert len(tap.envelopes(EXPIRED, str(due.card_id))) == 1

    # The hold released, the card expires with all of its balance.
    await release(giftcard_app, hold_id, held.card_id, 15_00, day)
    assert await jobs.expire_cards(uc, giftcard_app.pool) == 1
    (event,) = await tap.wait_for(EXPIRED, str(held.card_id))
    assert event.data["expiredMinor"] == str(40_00)
    assert (await card_row(giftcard_app, held.card_id))["balance_minor"] == 0

    # The liability reconciles: breakage is the EXPIRED line, and what is left is owed.
    report = (
        await giftcard.RunReconciliation(
            pb.RunReconciliationRequest(request_id=uid(), business_date=day.isoformat()),
            metadata=staff("fay", "finance"),
        )
    ).report
    assert report.balanced, report.mismatches
    by_kind = {line.kind: (line.count, line.amount_minor) for line in report.lines}
    assert by_kind[res.RECONCILIATION_LINE_KIND_EXPIRED] == (4, 125_00)
    assert report.closing.cards_sold_minor == 30_00
    assert report.closing.cards_in_stock_minor == 100_00
    assert await journal.problems(giftcard_app.pool) == {}
