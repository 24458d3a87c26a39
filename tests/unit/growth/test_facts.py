"""Facts: one per key, any arrival order, refunds netted against their order, states as of
the instant, validation for the ingester."""

from __future__ import annotations

import dataclasses
import datetime as dt

from services.growth.domain.facts import (
    AccountUnlinked,
    ActivityKind,
    FactBook,
    OrderPaid,
    fact_problems,
    review,
)
from services.growth.domain.periods import window_ending
from tests.unit.growth.samples import (
    MEMBER,
    SETTLED,
    ZONE,
    at,
    credit,
    linked,
    order,
    profile,
    refund,
    reputation,
    verified,
)

WINDOW = window_ending(SETTLED, ZONE)


def nets(facts, window=WINDOW):
    return [o.net_minor for o in FactBook.of(facts).net_orders(window, "CNY")]


def test_a_fact_is_keyed_by_its_kind_and_source():
    paid = order(at(2026, 5, 1), ("books", 100), order_id="o-42")
    assert paid.key == "order_paid:o-42"
    assert review(MEMBER, "rv1", at(2026, 5, 2), True).key == "activity:rv1"
    assert review(MEMBER, "rv1", at(2026, 5, 2), True).activity is ActivityKind.PHOTO_REVIEW
    assert review(MEMBER, "rv2", at(2026, 5, 2), False).activity is ActivityKind.REVIEW


def test_a_duplicate_is_recorded_once_and_the_first_is_kept():
    paid = order(at(2026, 5, 1), ("books", 100), order_id="o-1")
    again = dataclasses.replace(paid, lines=())  # a conflicting re-send: the first stays
    redelivered_late = dataclasses.replace(paid, occurred_at=at(2026, 5, 3))
    book = FactBook.of([paid, again, redelivered_late])
    assert book.facts == (paid,)


def test_the_order_facts_arrive_in_changes_nothing():
    paid = order(at(2026, 5, 1), ("books", 10_000), ("food", 5_000))
    back = refund(paid, at(2026, 5, 3), ("l0", 4_000))
    facts = [back, verified(at(2026, 1, 1)), paid, review(MEMBER, "r", at(2026, 5, 4), False)]
    assert FactBook.of(facts) == FactBook.of(reversed(facts)) == FactBook.of(facts + facts)


def test_a_refund_nets_against_its_order_line_by_line():
    paid = order(at(2026, 5, 1), ("books", 10_000), ("food", 5_000))
    back = refund(paid, at(2026, 5, 3), ("l0", 4_000))
    [net] = FactBook.of([paid, back]).net_orders(WINDOW, "CNY")
    assert net.net_by_category == (("books", 6_000), ("food", 5_000))
    assert net.net_minor == 11_000
    assert net.keys == (paid.key, back.key)


def test_a_refund_larger_than_its_line_takes_nothing_from_the_others():
    paid = order(at(2026, 5, 1), ("books", 10_000), ("food", 5_000))
    assert nets([paid, refund(paid, at(2026, 5, 3), ("l0", 15_000))]) == [5_000]
    # two refunds of one line add up, and still stop at the line
    assert nets(
        [
            paid,
            refund(paid, at(2026, 5, 3), ("l0", 6_000)),
            refund(paid, at(2026, 5, 4), ("l0", 6_000)),
        ]
    ) == [5_000]


def test_a_fully_refunded_order_does_not_count_as_an_order():
    paid = order(at(2026, 5, 1), ("books", 10_000))
    [net] = FactBook.of([paid, refund(paid, at(2026, 5, 3), ("l0", 10_000))]).net_orders(
        WINDOW, "CNY"
    )
    assert (net.net_minor, net.counts, net.net_by_category) == (0, False, ())


def test_a_refund_after_the_instant_is_not_seen_by_it():
    paid = order(at(2026, 10, 20), ("books", 10_000))
    late = refund(paid, at(2026, 11, 3), ("l0", 10_000))
    assert nets([paid, late]) == [10_000]  # the settlement of 1 Nov
    assert nets([paid, late], window_ending(at(2026, 12, 1), ZONE)) == [0]  # the next one


def test_a_refund_waits_for_its_order():
    paid = order(at(2026, 5, 1), ("books", 10_000))
    back = refund(paid, at(2026, 5, 3), ("l0", 3_000))
    assert nets([back]) == []  # the order has not arrived yet: nothing to net against
    assert nets([back, paid]) == [7_000]


def test_an_order_before_the_window_and_its_late_refund_count_for_nothing():
    old = order(at(2025, 10, 20), ("books", 10_000))
    assert nets([old, refund(old, at(2025, 11, 5), ("l0", 10_000))]) == []


def test_orders_in_another_currency_are_not_counted():
    assert nets([order(at(2026, 5, 1), ("books", 10_000), currency="USD")]) == []


def test_the_account_is_as_of_the_instant_however_old():
    book = FactBook.of([verified(at(2020, 1, 1)), profile(at(2019, 1, 1))])
    assert book.verification(SETTLED) is not None
    assert book.profile(SETTLED) is not None
    assert book.verification(at(2019, 12, 31)) is None


def test_links_stand_per_provider_by_the_latest_change():
    wechat = linked(at(2026, 1, 1), "wechat")
    qq = linked(at(2026, 2, 1), "qq")
    unlink = AccountUnlinked(MEMBER, "u1", at(2026, 3, 1), "wechat")
    book = FactBook.of([unlink, qq, wechat])
    assert [f.provider for f in book.linked(SETTLED)] == ["qq"]
    assert [f.provider for f in book.linked(at(2026, 2, 15))] == ["qq", "wechat"]
    relinked = linked(at(2026, 4, 1), "wechat")
    assert [f.provider for f in FactBook.of([unlink, qq, wechat, relinked]).linked(SETTLED)] == [
        "qq",
        "wechat",
    ]


def test_the_latest_profile_snapshot_wins():
    older = profile(at(2026, 1, 1), frozenset({"nickname"}))
    newer = profile(at(2026, 3, 1), frozenset({"nickname", "region"}))
    assert FactBook.of([newer, older]).profile(SETTLED) == newer
    assert FactBook.of([newer, older]).profile(at(2026, 2, 1)) == older


def test_assessments_count_only_inside_the_window():
    old = reputation(at(2025, 10, 31), 95)
    assert FactBook.of([old]).reputation(WINDOW) is None
    recent = reputation(at(2026, 3, 1), 60)
    newest = reputation(at(2026, 9, 1), 80)
    assert FactBook.of([newest, old, recent]).reputation(WINDOW) == newest
    report = credit(at(2026, 9, 1), 100)
    assert FactBook.of([report]).credit(WINDOW) == report
    assert FactBook.of([report]).credit(window_ending(at(2026, 9, 1), ZONE)) is None


def test_the_ingester_is_told_what_is_wrong_with_a_fact():
    good = order(at(2026, 5, 1), ("books", 100))
    assert fact_problems(good) == []
    bad = OrderPaid("", "", dt.datetime(2026, 5, 1), "CNY", good.lines * 2)
    assert {p.field for p in fact_problems(bad)} == {
        "member_id",
        "source_id",
        "occurred_at",
        "lines",
    }
    negative = dataclasses.replace(good, lines=(dataclasses.replace(good.lines[0], paid_minor=-1),))
    assert [p.field for p in fact_problems(negative)] == ["lines[0].paid_minor"]
    assert [p.field for p in fact_problems(reputation(at(2026, 1, 1), 101))] == ["score"]
    assert [p.field for p in fact_problems(credit(at(2026, 1, 1), -1))] == ["score"]
    too_much = dataclasses.replace(good, platform_paid_minor=101)
    assert [p.field for p in fact_problems(too_much)] == ["platform_paid_minor"]
    back = refund(good, at(2026, 5, 2), ("l0", 50))
    assert [p.field for p in fact_problems(dataclasses.replace(back, order_id=""))] == ["order_id"]
