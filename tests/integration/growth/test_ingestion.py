"""Growth's consumers on the real broker: every event it consumes, published as its own
publisher does, lands as its fact; a fact is recorded once whatever the redeliveries and event
ids; a refund may come before its order; an event breaking a bound is dead-lettered at once and
records nothing; a risk event from any broker user but the risk system's is refused."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.growth.domain import periods
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import Component, capped
from services.growth.domain.score import consumption_points
from services.kit import metrics, publishers
from tests.support import bus, servers
from tests.support import growth_events as ev
from tests.support.ids import uid
from tests.support.logs import malformed_reason
from tests.support.points import dead_lettered, rejected_at_once
from tests.support.waiting import wait_until

UTC = dt.UTC
AT = dt.datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # inside period 2026-10, before the test's now
TABLES = ("members", "orders", "order_lines", "refunds", "refund_lines", "activities", "standings")


def later(minutes: int) -> dt.datetime:
    return AT + dt.timedelta(minutes=minutes)


async def snapshot(app) -> dict[str, list]:
    """Every row of growth's fact tables (they are emptied before each test)."""
    found = {}
    for table in TABLES:
        rows = await app.pool.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")
        found[table] = [dict(r) for r in rows]
    return found


def consumption(net_minor: int, orders: int, categories: int, platform_minor: int = 0) -> int:
    """The default rule set's consumption component for these window figures."""
    parts = consumption_points(DEFAULT_RULES, net_minor, orders, categories, platform_minor)
    return capped(sum(p.points for p in parts), DEFAULT_RULES.limit(Component.CONSUMPTION))


@pytest.fixture
def send(publish, producers, published):
    """`await send(event, event_id=None)`: publish as the event's own publisher."""
    return ev.Sender(publish, producers, published)


def duplicates(app, queue: str) -> float:
    return metrics.EVENTS_DUPLICATE.labels(app.settings.queue_prefix + queue)._value.get()


async def test_every_event_growth_consumes_lands_as_its_fact(growth_db, send, consumed, clock):
    app = growth_db
    m = uid()
    mid = uuid.UUID(m)
    sent = {}
    sent["registered"] = await send(ev.registered(m, AT, ["nickname", "gender"]))
    await consumed(ev.REGISTERED)  # before closed: the registration opens the member
    order = ev.paid(
        m,
        "o-1",
        later(1),
        [("l1", "books", 12_000), ("l2", "toys", 3_000), ("l3", "", 500)],
        platform=4_000,
    )
    await send(order)
    await send(ev.refunded(m, "o-1", "rf-1", later(2), [("l2", 1_000)]))
    await send(ev.reviewed(m, "rv-1", later(3)))
    await send(ev.reviewed(m, "rv-2", later(4), photos=True))
    await send(ev.answered(m, "an-1", later(5)))
    await send(ev.shared(m, "sh-1", later(6)))
    sent["verified"] = await send(ev.verified(m, later(7)))
    sent["linked"] = await send(ev.linked(m, "wechat", later(8)))
    sent["unlinked"] = await send(ev.unlinked(m, "wechat", later(9)))
    profile = ev.profile_updated(m, ["region", "birthday", "nickname"], later(10))
    sent["profile"] = await send(profile)
    await send(ev.assessed(m, "as-1", 88, later(11)))
    await send(ev.reported(m, "cr-1", 120, later(12)))
    for kind in (ev.PAID, ev.REFUNDED, ev.ANSWERED, ev.SHARED, ev.VERIFIED, ev.LINKED):
        await consumed(kind)
    for kind in (ev.UNLINKED, ev.PROFILE_UPDATED, ev.ASSESSED, ev.REPORTED):
        await consumed(kind)
    await consumed(ev.REVIEWED, 2)
    await send(ev.closed(m, later(13)))
    await consumed(ev.CLOSED)

    db = await snapshot(app)
    (member,) = db["members"]
    assert (member["member_id"], member["registered_at"], member["closed_at"]) == (
        mid,
        AT,
        later(13),
    )
    assert [
        (r["order_id"], r["occurred_at"], r["currency"], r["paid_minor"], r["platform_paid_minor"])
        for r in db["orders"]
    ] == [("o-1", later(1), "CNY", 15_500, 4_000)]
    assert [(r["line_id"], r["category"], r["paid_minor"]) for r in db["order_lines"]] == [
        ("l1", "books", 12_000),
        ("l2", "toys", 3_000),
        ("l3", "", 500),
    ]
    assert [
        (r["refund_id"], r["order_id"], r["occurred_at"], r["currency"]) for r in db["refunds"]
    ] == [("rf-1", "o-1", later(2), "CNY")]
    assert [(r["order_id"], r["line_id"], r["amount_minor"]) for r in db["refund_lines"]] == [
        ("o-1", "l2", 1_000)
    ]
    assert sorted((r["source_id"], r["kind"], r["occurred_at"]) for r in db["activities"]) == [
        ("answer:an-1", "answer", later(5)),
        ("rv-1", "review", later(3)),
        ("rv-2", "photo_review", later(4)),
        ("share:sh-1", "share", later(6)),
    ]
    standings = {
        (r["kind"], r["source_id"]): (r["occurred_at"], r["provider"], r["filled"], r["score"])
        for r in db["standings"]
    }
    assert standings == {
        # identity's facts are keyed by their event id: the events name nothing else
        ("profile", sent["registered"]): (AT, None, ["gender", "nickname"], None),
        ("verified", sent["verified"]): (later(7), None, None, None),
        ("account_linked", sent["linked"]): (later(8), "wechat", None, None),
        ("account_unlinked", sent["unlinked"]): (later(9), "wechat", None, None),
        ("profile", sent["profile"]): (later(10), None, ["birthday", "nickname", "region"], None),
        ("reputation_assessed", "as-1"): (later(11), None, None, 88),
        ("credit_reported", "cr-1"): (later(12), None, None, 120),
    }
    # Closed: no longer settled, the facts kept.
    clock.set(periods.settlement_instant("2026-10"))
    row = await app.usecases.settlements.run(app.pool)
    assert (row["period"], row["state"], row["members_settled"]) == ("2026-10", "completed", 0)
    assert await snapshot(app) == db


async def test_a_registration_without_filled_fields_opens_the_member_without_a_profile(
    growth_db, send, consumed
):
    m = uid()
    await send(ev.registered(m, AT))
    await consumed(ev.REGISTERED)
    db = await snapshot(growth_db)
    assert [(r["member_id"], r["registered_at"]) for r in db["members"]] == [(uuid.UUID(m), AT)]
    assert db["standings"] == []


async def test_a_fact_is_recorded_once_whatever_the_deliveries_and_event_ids(
    growth_db, send, consumed
):
    app = growth_db
    m = uid()
    order = ev.paid(m, "o-1", AT, [("l1", "books", 20_000), ("l2", "toys", 5_000)])
    before = duplicates(app, "growth.commerce")
    first = await send(order)
    await consumed(ev.PAID)
    # The same event delivered again: the inbox knows its id.
    await send(order, event_id=first)

    async def skipped() -> bool:
        return duplicates(app, "growth.commerce") >= before + 1

    await wait_until(skipped, 10, "growth to skip the redelivered order.paid")
    # The same order under a new event id (a storefront's retry), and again the same review,
    # answer, share, assessment and report each under two event ids.
    await send(order)
    twice = [
        ev.reviewed(m, "rv-1", later(1), photos=True),
        ev.answered(m, "an-1", later(2)),
        ev.shared(m, "sh-1", later(3)),
        ev.refunded(m, "o-1", "rf-1", later(4), [("l2", 2_000)]),
        ev.assessed(m, "as-1", 70, later(5)),
        ev.reported(m, "cr-1", 90, later(6)),
    ]
    for event in twice + twice:
        await send(event)
    await consumed(ev.PAID, 2)
    for kind in (ev.REVIEWED, ev.ANSWERED, ev.SHARED, ev.REFUNDED, ev.ASSESSED, ev.REPORTED):
        await consumed(kind, 2)
    db = await snapshot(app)
    assert [(r["order_id"], r["paid_minor"]) for r in db["orders"]] == [("o-1", 25_000)]
    assert len(db["order_lines"]) == 2
    assert [r["refund_id"] for r in db["refunds"]] == ["rf-1"]
    assert [(r["line_id"], r["amount_minor"]) for r in db["refund_lines"]] == [("l2", 2_000)]
    assert sorted(r["source_id"] for r in db["activities"]) == ["answer:an-1", "rv-1", "share:sh-1"]
    assert sorted((r["kind"], r["source_id"]) for r in db["standings"]) == [
        ("credit_reported", "cr-1"),
        ("reputation_assessed", "as-1"),
    ]


async def test_a_refund_before_its_order_waits_for_it_and_nets_once_it_is_there(
    growth_db, send, consumed, clock
):
    app = growth_db
    m = uid()
    mid = uuid.UUID(m)
    await send(ev.registered(m, AT))
    # The refund (dated after the payment, as refunds are) is delivered first.
    await send(ev.refunded(m, "o-1", "rf-1", later(60), [("l1", 50_000)]))
    await consumed(ev.REFUNDED)
    assert await app.pool.fetchval("SELECT count(*) FROM refunds WHERE member_id = $1", mid) == 1
    assert await app.pool.fetchval("SELECT count(*) FROM orders") == 0
    paid = [("l1", "books", 200_000), ("l2", "toys", 30_000)]
    await send(ev.paid(m, "o-1", AT, paid))
    await consumed(ev.PAID)
    await consumed(ev.REGISTERED)
    db = await snapshot(app)
    assert [r["order_id"] for r in db["orders"]] == ["o-1"]
    assert [(r["refund_id"], r["order_id"]) for r in db["refunds"]] == [("rf-1", "o-1")]

    clock.set(periods.settlement_instant("2026-10"))
    row = await app.usecases.settlements.run(app.pool)
    assert (row["state"], row["members_settled"]) == ("completed", 1)
    settled = await app.pool.fetchval(
        "SELECT consumption FROM member_scores WHERE member_id = $1 AND period = '2026-10'", mid
    )
    # 2,300 CNY paid, 500 CNY back: 1,800 CNY net in one order of two categories.
    assert settled == consumption(180_000, 1, 2)
    assert settled != consumption(230_000, 1, 2)


def _lines(count: int) -> list[tuple[str, str, int]]:
    return [(f"l{i}", "books", 100) for i in range(count)]


FAR = dt.datetime(2031, 1, 1, tzinfo=UTC)
OLD = dt.datetime(1999, 12, 31, tzinfo=UTC)
# name: (event builder (member) → Event, queue, the field the reason names)
MALFORMED = {
    "member id no uuid": (
        lambda m: ev.paid("member-7", "o-bad", AT),
        "growth.commerce",
        "member_id",
    ),
    "negative line amount": (
        lambda m: ev.paid(m, "o-bad", AT, [("l1", "books", -1)]),
        "growth.commerce",
        "lines[0].paid_amount_minor",
    ),
    "line amount over 10^12": (
        lambda m: ev.paid(m, "o-bad", AT, [("l1", "books", 10**12 + 1)]),
        "growth.commerce",
        "lines[0].paid_amount_minor",
    ),
    "a line id twice": (
        lambda m: ev.paid(m, "o-bad", AT, [("l1", "books", 1), ("l1", "toys", 2)]),
        "growth.commerce",
        "lines",
    ),
    "too many lines": (
        lambda m: ev.paid(m, "o-bad", AT, _lines(501)),
        "growth.commerce",
        "lines",
    ),
    "a currency that is no code": (
        lambda m: ev.paid(m, "o-bad", AT, currency="C1Y"),
        "growth.commerce",
        "currency_code",
    ),
    "platform part over the amount paid": (
        lambda m: ev.paid(m, "o-bad", AT, [("l1", "books", 100)], platform=101),
        "growth.commerce",
        "platform_payment_amount_minor",
    ),
    "paid years ahead": (
        lambda m: ev.paid(m, "o-bad", FAR),
        "growth.commerce",
        "paid_time",
    ),
    "paid before 2000": (
        lambda m: ev.paid(m, "o-bad", OLD),
        "growth.commerce",
        "paid_time",
    ),
    "a control character in the order id": (
        lambda m: ev.paid(m, "o-bad\x07", AT),
        "growth.commerce",
        "order_id",
    ),
    "a category of 65 characters": (
        lambda m: ev.paid(m, "o-bad", AT, [("l1", "c" * 65, 100)]),
        "growth.commerce",
        "lines[0].category",
    ),
    "a refund without currency": (
        lambda m: ev.refunded(m, "o-bad", "rf-bad", AT, currency=""),
        "growth.commerce",
        "currency_code",
    ),
    "a negative refund line": (
        lambda m: ev.refunded(m, "o-bad", "rf-bad", AT, [("l1", -5)]),
        "growth.commerce",
        "lines[0].amount_minor",
    ),
    "a review id of 129 characters": (
        lambda m: ev.reviewed(m, "r" * 129, AT),
        "growth.commerce",
        "review_id",
    ),
    "an answer without id": (
        lambda m: ev.answered(m, "", AT),
        "growth.commerce",
        "answer_id",
    ),
    "65 filled fields": (
        lambda m: ev.registered(m, AT, [f"f{i}" for i in range(65)]),
        "growth.identity",
        "filled_fields",
    ),
    "a link without provider": (
        lambda m: ev.linked(m, "", AT),
        "growth.identity",
        "provider",
    ),
    "verified a year ahead": (
        lambda m: ev.verified(m, FAR),
        "growth.identity",
        "verified_time",
    ),
    "reputation 101": (
        lambda m: ev.assessed(m, "as-bad", 101, AT),
        "growth.risk",
        "score",
    ),
    "17 reason codes": (
        lambda m: ev.assessed(m, "as-bad", 50, AT, reason_codes=[f"c{i}" for i in range(17)]),
        "growth.risk",
        "reason_codes",
    ),
    "a negative credit score": (
        lambda m: ev.reported(m, "cr-bad", -1, AT),
        "growth.credit",
        "score",
    ),
    "a report without bureau": (
        lambda m: ev.reported(m, "cr-bad", 100, AT, bureau=""),
        "growth.credit",
        "bureau",
    ),
}


@pytest.mark.parametrize(("build", "queue", "field"), list(MALFORMED.values()), ids=list(MALFORMED))
async def test_an_event_out_of_bounds_is_dead_lettered_at_once_and_records_nothing(
    growth_db, growth_app, amqp, send, log_capture, build, queue, field
):
    m = uid()
    before = await snapshot(growth_db)
    event = build(m)
    # A subject of its own, so that the dead letters of other tests are not taken for it.
    subject = f"{event.subject}-{uid()[:8]}"
    sent = await send(ev.Event(event.type, subject, event.message))
    (message,) = await dead_lettered(amqp, growth_app, queue, subject)
    assert message.message_id == sent and rejected_at_once(message)
    assert field in malformed_reason(log_capture, sent, "growth")
    assert await snapshot(growth_db) == before


@pytest.mark.skipif(
    not servers.broker_users_managed(),
    reason="the broker cannot be administered here (no LOYALTY_RABBITMQCTL): every publisher "
    "is one user, so there is no other user to refuse",
)
async def test_a_reputation_from_any_user_but_the_risk_systems_is_refused(
    growth_db, growth_app, amqp, send, consumed
):
    m = uid()
    forged = ev.assessed(m, "as-forged", 100, AT)
    names = servers.broker_settings()
    # The run's administrator may publish anything anywhere, but is not the risk system.
    sent = await bus.publish(amqp, names["events_exchange"], ev.ASSESSED, m, forged.message)
    (message,) = await dead_lettered(amqp, growth_app, "growth.risk", m)
    assert message.message_id == sent and rejected_at_once(message)
    assert message.user_id == publishers.broker_user(servers.AMQP_URL)
    assert await growth_db.pool.fetchval("SELECT count(*) FROM standings") == 0
    assert await growth_db.pool.fetchval("SELECT count(*) FROM members") == 0
    # The same assessment from the risk system's own user is recorded.
    await send(ev.assessed(m, "as-1", 100, AT))
    await consumed(ev.ASSESSED)
    rows = await growth_db.pool.fetch("SELECT source_id, score FROM standings")
    assert [(r["source_id"], r["score"]) for r in rows] == [("as-1", 100)]
