"""Reconciliation (进销存): the daily report exact to the fen after every kind of flow, kept as
append-only revisions; a balance that no longer matches its postings is a mismatch the report
names and the `reconcile` command exits non-zero on; the daily job writes one report per day;
stock by state and denomination."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.giftcard import jobs
from services.giftcard.domain import accounts as acc
from services.giftcard.store import journal
from services.kit.postings import Entries
from tests.support import cli
from tests.support.grpc_errors import fails
from tests.support.ids import uid

ZONE = ZoneInfo("Asia/Shanghai")
Move = tuple[tuple[str, object], tuple[str, object], int, str]


def a_past_day(clock) -> dt.date:
    """A business day three days ago, the clock at its noon (04:00 UTC: the same date in UTC,
    which the arranged cards' loads are posted on)."""
    day = dt.datetime.now(ZONE).date() - dt.timedelta(days=3)
    clock.set(dt.datetime.combine(day, dt.time(12), ZONE).astimezone(dt.UTC))
    return day


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE).astimezone(dt.UTC)


async def post(app, day: dt.date, kind: str, *moves: Move, card_id=None, member_id=None):
    """A transaction of another flow (checkout, after-sale, stored value), as its writer posts
    it: balanced postings that move the kept balances."""
    entries = Entries()
    for source, target, amount, entry_kind in moves:
        entries.move(source, target, amount, entry_kind)
    async with app.pool.acquire() as conn, conn.transaction():
        await journal.post(
            conn,
            kind,
            entries.postings,
            business_day=day,
            card_id=card_id,
            member_id=member_id,
            actor="test",
        )


async def set_state(app, card_id: uuid.UUID, state: str) -> None:
    await app.pool.execute("UPDATE cards SET state = $2 WHERE card_id = $1", card_id, state)


async def held_hold(app, card_id: uuid.UUID, amount: int, now: dt.datetime) -> None:
    await app.pool.execute(
        "INSERT INTO holds (hold_id, order_id, position, source_kind, card_id, currency_code,"
        " amount_minor, state, expire_time, placed_by)"
        " VALUES ($1, $2, 0, 'card_secret', $3, 'CNY', $4, 'held', $5, 'test')",
        uuid.uuid4(),
        f"order-{uuid.uuid4()}",
        card_id,
        amount,
        now + dt.timedelta(minutes=30),
    )


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


def run(day: dt.date | None = None, **fields) -> pb.RunReconciliationRequest:
    return pb.RunReconciliationRequest(
        request_id=uid(), business_date=day.isoformat() if day else "", **fields
    )


async def a_day_of_every_flow(app, cards, clock) -> tuple[dt.date, dict]:
    """Cards loaded, sold, spent, given back, refunded, exchanged, replaced, written off, held,
    a load reversed, an expiry reversed; stored value topped up with a bonus, spent, given
    back, refunded with its bonus clawed back — all on one day."""
    day = a_past_day(clock)
    now = clock.now()
    spent = await cards.card(100_00)
    refunded = await cards.card(50_00)
    stock = await cards.card(200_00, state="ready")
    holding = await cards.card(40_00)
    # Checkout on a card: 30.00 held and captured, 10.00 of it given back by an order refund.
    await post(
        app,
        day,
        acc.HOLD,
        ((acc.CARD_AVAILABLE, spent.card_id), (acc.CARD_HELD, spent.card_id), 30_00, acc.HOLD),
    )
    await post(
        app,
        day,
        acc.HOLD_CAPTURE,
        ((acc.CARD_HELD, spent.card_id), (acc.REDEMPTIONS, ""), 30_00, acc.HOLD_CAPTURE),
    )
    await post(
        app,
        day,
        acc.REDEMPTION_RETURN,
        ((acc.REDEMPTIONS, ""), (acc.CARD_AVAILABLE, spent.card_id), 10_00, acc.REDEMPTION_RETURN),
    )
    # 退卡 of an unused card, 注销 of a defective stock card.
    await post(
        app,
        day,
        acc.CARD_REFUND,
        ((acc.CARD_AVAILABLE, refunded.card_id), (acc.CARD_REFUNDS, ""), 50_00, acc.CARD_REFUND),
    )
    await set_state(app, refunded.card_id, "refunded")
    await post(
        app,
        day,
        acc.CANCEL,
        ((acc.CARD_AVAILABLE, stock.card_id), (acc.WRITE_OFFS, ""), 200_00, acc.CANCEL),
    )
    await set_state(app, stock.card_id, "cancelled")
    # 15.00 still held for an order at the end of the day.
    await post(
        app,
        day,
        acc.HOLD,
        ((acc.CARD_AVAILABLE, holding.card_id), (acc.CARD_HELD, holding.card_id), 15_00, acc.HOLD),
    )
    await held_hold(app, holding.card_id, 15_00, now)
    # Stored value: 1000.00 topped up with 50.00 bonus; 1020.00 spent (principal first);
    # 510.00 given back (500.00 + 10.00); 200.00 of the top-up refunded, 10.00 bonus clawed back.
    member = uuid.uuid4()
    top_up = uuid.uuid4()
    await app.pool.execute(
        "INSERT INTO stored_value (member_id, currency_code) VALUES ($1, 'CNY')", member
    )
    await post(
        app,
        day,
        acc.TOP_UP,
        ((acc.TOP_UPS, top_up), (acc.SV_PRINCIPAL, member), 1000_00, acc.TOP_UP),
        ((acc.BONUS_GRANTS, top_up), (acc.SV_BONUS, member), 50_00, acc.TOP_UP),
        member_id=member,
    )
    await post(
        app,
        day,
        acc.HOLD,
        ((acc.SV_PRINCIPAL, member), (acc.SV_HELD_PRINCIPAL, member), 1000_00, acc.HOLD),
        ((acc.SV_BONUS, member), (acc.SV_HELD_BONUS, member), 20_00, acc.HOLD),
        member_id=member,
    )
    await post(
        app,
        day,
        acc.HOLD_CAPTURE,
        (
            (acc.SV_HELD_PRINCIPAL, member),
            (acc.SV_REDEMPTIONS, "principal"),
            1000_00,
            acc.HOLD_CAPTURE,
        ),
        ((acc.SV_HELD_BONUS, member), (acc.SV_REDEMPTIONS, "bonus"), 20_00, acc.HOLD_CAPTURE),
        member_id=member,
    )
    await post(
        app,
        day,
        acc.REDEMPTION_RETURN,
        (
            (acc.SV_REDEMPTIONS, "principal"),
            (acc.SV_PRINCIPAL, member),
            500_00,
            acc.REDEMPTION_RETURN,
        ),
        ((acc.SV_REDEMPTIONS, "bonus"), (acc.SV_BONUS, member), 10_00, acc.REDEMPTION_RETURN),
        member_id=member,
    )
    await post(
        app,
        day,
        acc.TOP_UP_REFUND,
        ((acc.SV_PRINCIPAL, member), (acc.TOP_UP_REFUNDS, top_up), 200_00, acc.TOP_UP_REFUND),
        ((acc.SV_BONUS, member), (acc.BONUS_CLAWBACKS, top_up), 10_00, acc.BONUS_CLAWBACK),
        member_id=member,
    )
    # 调换 of an unused card; 补磁/换卡 onto a blank; a load reversed by a rejected review; a
    # card expired and its validity extended (the breakage reversed).
    exchanged = await cards.card(70_00)
    await post(
        app,
        day,
        acc.EXCHANGE,
        ((acc.CARD_AVAILABLE, exchanged.card_id), (acc.EXCHANGES, ""), 70_00, acc.EXCHANGE),
    )
    await set_state(app, exchanged.card_id, "exchanged")
    old, blank = await cards.card(25_00), await cards.card(0, state="issued")
    transfer = Entries()
    transfer.add(acc.CARD_AVAILABLE, old.card_id, -25_00, acc.TRANSFER_OUT)
    transfer.add(acc.CARD_AVAILABLE, blank.card_id, 25_00, acc.TRANSFER_IN)
    async with app.pool.acquire() as conn, conn.transaction():
        await journal.post(conn, acc.TRANSFER_OUT, transfer.postings, business_day=day)
        await conn.execute(
            "UPDATE cards SET state = 'active', replaces_card_id = $2, activate_time = $3"
            " WHERE card_id = $1",
            blank.card_id,
            old.card_id,
            now,
        )
    await set_state(app, old.card_id, "replaced")
    reviewed = await cards.card(60_00, state="loaded")
    await post(
        app,
        day,
        acc.LOAD_REVERSAL,
        ((acc.CARD_AVAILABLE, reviewed.card_id), (acc.LOADS, ""), 60_00, acc.LOAD_REVERSAL),
    )
    await set_state(app, reviewed.card_id, "issued")
    extended = await cards.card(35_00)
    await post(
        app,
        day,
        acc.EXPIRE,
        ((acc.CARD_AVAILABLE, extended.card_id), (acc.BREAKAGE, ""), 35_00, acc.EXPIRE),
    )
    await post(
        app,
        day,
        acc.EXPIRY_REVERSAL,
        ((acc.BREAKAGE, ""), (acc.CARD_AVAILABLE, extended.card_id), 35_00, acc.EXPIRY_REVERSAL),
    )
    return day, {"spent": spent, "stock": stock, "holding": holding, "member": member}


EXPECTED_LINES = {
    "LOADED": (8, 580_00, 580_00),
    "LOAD_REVERSED": (1, 60_00, -60_00),
    # The cards sold on the day (arranged ACTIVE), not the replacement.
    "ACTIVATED": (6, 320_00, 0),
    "REDEEMED": (1, 30_00, -30_00),
    "REDEMPTION_RETURNED": (1, 10_00, 10_00),
    "CARD_REFUNDED": (1, 50_00, -50_00),
    "EXCHANGED": (1, 70_00, -70_00),
    "TRANSFERRED": (1, 25_00, 0),
    "EXPIRED": (1, 35_00, -35_00),
    "EXPIRY_REVERSED": (1, 35_00, 35_00),
    "CANCELLED": (1, 200_00, -200_00),
    "STORED_VALUE_TOPPED_UP": (1, 1000_00, 1000_00),
    "STORED_VALUE_BONUS": (1, 50_00, 50_00),
    "STORED_VALUE_SPENT": (2, 1020_00, -1020_00),
    "STORED_VALUE_RETURNED": (2, 510_00, 510_00),
    "STORED_VALUE_REFUNDED": (1, 200_00, -200_00),
    "STORED_VALUE_BONUS_REVOKED": (1, 10_00, -10_00),
}


async def test_the_report_of_a_day_of_every_flow_is_exact_to_the_fen_and_kept_as_revisions(
    giftcard, giftcard_app, cards, clock, staff
):
    day, _ = await a_day_of_every_flow(giftcard_app, cards, clock)
    finance = staff("fay", "finance")
    first = (await giftcard.RunReconciliation(run(day), metadata=finance)).report
    assert first.balanced and list(first.mismatches) == []
    assert (first.business_date, first.currency_code, first.revision) == (day.isoformat(), "CNY", 1)
    assert not first.complete  # the day is not over: it covers the day up to now
    assert first.period_end.ToDatetime(dt.UTC) == clock.now()
    assert lines(first) == EXPECTED_LINES
    assert liability(first.opening) == (0, 0, 0, 0, 0)
    # Cards: 80.00 left on the spent one, 40.00 (15.00 held), 25.00 on the replacement, 35.00
    # on the extended one; stored value 300.00 principal and 30.00 bonus. Closing = opening +
    # every line's effect.
    assert liability(first.closing) == (0, 180_00, 300_00, 30_00, 510_00)
    assert first.closing.total_minor == first.opening.total_minor + sum(
        x.effect_minor for x in first.lines
    )
    assert first.run_by == "operator:fay"

    # After midnight the day is complete: the next revision, the same figures.
    clock.set(at(day + dt.timedelta(days=1), 0, 10))
    second = (await giftcard.RunReconciliation(run(day), metadata=finance)).report
    assert (second.revision, second.complete, second.balanced) == (2, True, True)
    assert second.period_end.ToDatetime(dt.UTC) == at(day + dt.timedelta(days=1), 0)
    assert lines(second) == EXPECTED_LINES
    assert liability(second.closing) == liability(first.closing)

    # Revisions are kept: the latest by default, any by number; one per day in the list.
    reader = staff("max", "manager")
    got = await giftcard.GetReconciliationReport(
        pb.GetReconciliationReportRequest(business_date=day.isoformat()), metadata=reader
    )
    assert got.report.revision == 2
    got = await giftcard.GetReconciliationReport(
        pb.GetReconciliationReportRequest(business_date=day.isoformat(), revision=1),
        metadata=reader,
    )
    assert got.report == first
    listed = await giftcard.ListReconciliationReports(
        pb.ListReconciliationReportsRequest(), metadata=reader
    )
    assert [(r.business_date, r.revision) for r in listed.reports] == [(day.isoformat(), 2)]
    rows = await giftcard_app.pool.fetchval("SELECT count(*) FROM reconciliation_reports")
    assert rows == 2
    # The stock at the run: by product, face value and state.
    stock = sorted(
        (line.face_value_minor, res.CardState.Name(line.state), line.card_count, line.balance_minor)
        for line in second.stock
    )
    assert stock == sorted(
        [
            (100_00, "CARD_STATE_ACTIVE", 1, 80_00),
            (50_00, "CARD_STATE_REFUNDED", 1, 0),
            (200_00, "CARD_STATE_CANCELLED", 1, 0),
            (40_00, "CARD_STATE_ACTIVE", 1, 40_00),
            (70_00, "CARD_STATE_EXCHANGED", 1, 0),
            (25_00, "CARD_STATE_REPLACED", 1, 0),
            (0, "CARD_STATE_ACTIVE", 1, 25_00),  # the replacement blank (face 0 as arranged)
            (60_00, "CARD_STATE_ISSUED", 1, 0),
            (35_00, "CARD_STATE_ACTIVE", 1, 35_00),
        ]
    )


async def test_the_next_day_opens_with_the_previous_days_closing(
    giftcard, giftcard_app, cards, clock, staff
):
    day, arranged = await a_day_of_every_flow(giftcard_app, cards, clock)
    next_day = day + dt.timedelta(days=1)
    clock.set(at(next_day, 9))
    # The next day: the held 15.00 captured.
    holding = arranged["holding"].card_id
    await post(
        giftcard_app,
        next_day,
        acc.HOLD_CAPTURE,
        ((acc.CARD_HELD, holding), (acc.REDEMPTIONS, ""), 15_00, acc.HOLD_CAPTURE),
    )
    await giftcard_app.pool.execute(
        "UPDATE holds SET state = 'captured' WHERE card_id = $1", holding
    )
    finance = staff("fay", "finance")
    # The day before, run after the next day's capture: the balances less what came later.
    before = (await giftcard.RunReconciliation(run(day), metadata=finance)).report
    assert before.balanced and before.complete
    assert liability(before.closing) == (0, 180_00, 300_00, 30_00, 510_00)
    after = (await giftcard.RunReconciliation(run(next_day), metadata=finance)).report
    assert after.balanced, after.mismatches
    assert after.opening == before.closing
    assert lines(after) == {"REDEEMED": (1, 15_00, -15_00)}
    assert liability(after.closing) == (0, 165_00, 300_00, 30_00, 495_00)
    opening_from = await giftcard_app.pool.fetchval(
        "SELECT opening_from FROM reconciliation_reports WHERE business_day = $1", next_day
    )
    assert opening_from == f"{day}#1"


async def test_a_tampered_balance_is_a_mismatch_and_the_command_exits_non_zero(
    giftcard, giftcard_app, cards, clock, staff, monkeypatch
):
    # The command runs with the service's settings, its PIN key among them.
    pin_key = giftcard_app.settings.pin_key.get_secret_value()
    monkeypatch.setenv("GIFTCARD_PIN_KEY", pin_key)
    monkeypatch.setenv("GIFTCARD_PIN_KEY_ID", giftcard_app.settings.pin_key_id)
    day, arranged = await a_day_of_every_flow(giftcard_app, cards, clock)
    clock.set(None)
    code, out, err = await cli.run(giftcard_app, "reconcile", day.isoformat())
    assert code == 0, err
    printed = json.loads(out)
    assert printed["balanced"] is True and printed["business_date"] == day.isoformat()
    (cny,) = printed["reports"]
    assert (cny["currency_code"], cny["revision"], cny["complete"]) == ("CNY", 1, True)
    assert cny["lines"]["cards.outstanding"] == 180_00

    card_id = arranged["spent"].card_id
    await giftcard_app.pool.execute(
        "UPDATE cards SET balance_minor = balance_minor + 1 WHERE card_id = $1", card_id
    )
    report = (await giftcard.RunReconciliation(run(day), metadata=staff("fay", "finance"))).report
    assert not report.balanced and report.revision == 2
    found = sorted(
        (
            res.MismatchKind.Name(m.kind).removeprefix("MISMATCH_KIND_"),
            m.reference,
            m.expected_minor,
            m.actual_minor,
        )
        for m in report.mismatches
    )
    # The card against its postings, and the liability (cards, and the total) one fen over.
    assert found == [
        ("BALANCE", str(card_id), 80_00, 80_01),
        ("LIABILITY", "", 180_00, 180_01),
        ("LIABILITY", "", 510_00, 510_01),
    ]

    code, out, _ = await cli.run(giftcard_app, "reconcile", day.isoformat())
    assert code == 1
    printed = json.loads(out)
    assert printed["balanced"] is False
    kinds = {m["kind"] for m in printed["reports"][0]["mismatches"]}
    assert kinds == {"BALANCE", "LIABILITY"}
    # Each run is a revision of its own, kept.
    revisions = await giftcard_app.pool.fetch(
        "SELECT revision, created_by FROM reconciliation_reports WHERE business_day = $1"
        " ORDER BY revision",
        day,
    )
    assert [(r["revision"], r["created_by"]) for r in revisions] == [
        (1, "command"),
        (2, "operator:fay"),
        (3, "command"),
    ]
    # A bad day is refused with its own exit code.
    code, _, err = await cli.run(giftcard_app, "reconcile", "2024-13-01")
    assert code == 2 and "YYYY-MM-DD" in err


async def test_the_daily_job_writes_one_report_per_day(giftcard, giftcard_app, cards, clock):
    day, _ = await a_day_of_every_flow(giftcard_app, cards, clock)
    uc = giftcard_app.usecases
    next_day = day + dt.timedelta(days=1)
    # Just after midnight it waits (a transaction begun before midnight may still commit).
    assert await jobs.daily_reconciliation(uc, at(next_day, 0, 2)) == 0
    # Two replicas (or two runs) at once write one report.
    done = await asyncio.gather(
        jobs.daily_reconciliation(uc, at(next_day, 1)),
        jobs.daily_reconciliation(uc, at(next_day, 1)),
    )
    assert sorted(done) == [0, 1]
    assert await jobs.daily_reconciliation(uc, at(next_day, 2)) == 0
    # The day after: its own report, opening with the one before.
    assert await jobs.daily_reconciliation(uc, at(day + dt.timedelta(days=2), 1)) == 1
    rows = await giftcard_app.pool.fetch(
        "SELECT business_day, revision, created_by, complete, opening_from,"
        " jsonb_array_length(mismatches) AS mismatches FROM reconciliation_reports"
        " ORDER BY business_day"
    )
    assert [tuple(r) for r in rows] == [
        (day, 1, "system", True, "journal", 0),
        (next_day, 1, "system", True, f"{day}#1", 0),
    ]


async def test_stock_by_product_face_value_and_state(giftcard, cards, staff):
    product = await cards.product(100_00)
    for _ in range(3):
        await cards.card(100_00, state="ready", product_id=product)
    await cards.card(100_00, product_id=product)
    other = await cards.card(500_00)
    got = await giftcard.GetStock(pb.GetStockRequest(), metadata=staff("sam", "sales"))
    assert [
        (line.product_id, line.face_value_minor, line.state, line.card_count, line.balance_minor)
        for line in got.lines
        if line.product_id == str(product)
    ] == [
        (str(product), 100_00, res.CARD_STATE_READY, 3, 300_00),
        (str(product), 100_00, res.CARD_STATE_ACTIVE, 1, 100_00),
    ]
    only = await giftcard.GetStock(
        pb.GetStockRequest(product_id=str(other.product_id), currency_code="CNY"),
        metadata=staff("sam", "sales"),
    )
    assert [(x.card_count, x.balance_minor) for x in only.lines] == [(1, 500_00)]


async def test_who_may_reconcile_and_what_is_refused(giftcard, clock, staff):
    day = a_past_day(clock)
    await fails(
        giftcard.RunReconciliation(run(day), metadata=staff("max", "manager")),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    await fails(
        giftcard.GetReconciliationReport(
            pb.GetReconciliationReportRequest(business_date=day.isoformat()),
            metadata=staff("sam", "sales"),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    finance = staff("fay", "finance")
    await fails(
        giftcard.RunReconciliation(run(day + dt.timedelta(days=1)), metadata=finance),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["business_date"],
    )
    await fails(
        giftcard.RunReconciliation(
            pb.RunReconciliationRequest(
                request_id=uid(), business_date="2024-1-01", currency_code="cny"
            ),
            metadata=finance,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["business_date", "currency_code"],
    )
    await fails(
        giftcard.GetReconciliationReport(
            pb.GetReconciliationReportRequest(business_date=day.isoformat()), metadata=finance
        ),
        grpc.StatusCode.NOT_FOUND,
        "REPORT_NOT_FOUND",
    )
    # Empty: the previous business day; a replay answers the same report.
    request = run()
    made = await giftcard.RunReconciliation(request, metadata=finance)
    assert made.report.business_date == (day - dt.timedelta(days=1)).isoformat()
    assert await giftcard.RunReconciliation(request, metadata=finance) == made
