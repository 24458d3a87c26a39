"""Badges from category spend and orders; benefits by tier and badge; the risk gate."""

from __future__ import annotations

from services.growth.domain.badges import Badge, awarded, badge_level, badges
from services.growth.domain.benefits import Source, entitlement, passes_risk_gate
from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.facts import FactBook
from services.growth.domain.rules import BenefitKind, Tier
from services.growth.domain.score import CategoryTotal, score
from tests.unit.growth.samples import SETTLED, YUAN, ZONE, at, order, refund

BOOKS = R.badge_rule("books")
assert BOOKS is not None


def test_a_level_needs_both_spend_and_orders():
    assert badge_level(BOOKS, CategoryTotal("books", 300 * YUAN, 2)) == 1
    assert badge_level(BOOKS, CategoryTotal("books", 299 * YUAN, 9)) == 0
    assert badge_level(BOOKS, CategoryTotal("books", 9_000 * YUAN, 1)) == 0
    assert badge_level(BOOKS, CategoryTotal("books", 9_000 * YUAN, 5)) == 2
    assert badge_level(BOOKS, CategoryTotal("books", 6_000 * YUAN, 12)) == 3


def test_badges_from_the_window():
    books = [order(at(2026, m, 1), ("books", 200 * YUAN), ("food", 10 * YUAN)) for m in (3, 4)]
    s = score(FactBook.of(books), R, SETTLED, ZONE)
    assert s.categories == (
        CategoryTotal("books", 400 * YUAN, 2),
        CategoryTotal("food", 20 * YUAN, 2),
    )
    assert badges(s.categories, R) == (Badge("books", 1),)


def test_a_refunded_line_is_no_order_of_its_category():
    first = order(at(2026, 3, 1), ("books", 200 * YUAN), ("food", 10 * YUAN))
    second = order(at(2026, 4, 1), ("books", 200 * YUAN))
    back = refund(first, at(2026, 3, 5), ("l0", 200 * YUAN))
    s = score(FactBook.of([first, second, back]), R, SETTLED, ZONE)
    assert s.categories == (
        CategoryTotal("books", 200 * YUAN, 1),
        CategoryTotal("food", 10 * YUAN, 1),
    )
    assert badges(s.categories, R) == ()


def test_only_a_rise_is_awarded():
    now = (Badge("books", 2), Badge("food", 1), Badge("toys", 1))
    assert awarded({"books": 1, "food": 1, "toys": 3}, now) == (Badge("books", 2),)
    assert awarded({}, now) == now


def codes(e, kind=None):
    return sorted(b.benefit.code for b in e.benefits if kind is None or b.benefit.kind is kind)


def test_benefits_by_tier_and_the_highest_offer_of_a_code():
    assert codes(entitlement(Tier.REGISTERED, (), 1_000, R)) == []
    bronze = entitlement(Tier.BRONZE, (), 1_000, R)
    assert codes(bronze) == ["free_shipping", "member_price"]
    gold = entitlement(Tier.GOLD, (), 1_000, R)
    assert codes(gold, BenefitKind.PRICE) == ["birthday_gift", "member_price", "monthly_coupons"]
    assert codes(gold, BenefitKind.LOGISTICS) == ["free_return_pickup", "free_shipping"]
    assert codes(gold, BenefitKind.SERVICE) == ["flash_refund", "priority_line"]
    shipping = next(b for b in gold.benefits if b.benefit.code == "free_shipping")
    assert (shipping.benefit.monthly_quantity, shipping.source_detail) == (5, "gold")
    diamond = entitlement(Tier.DIAMOND, (), 1_000, R)
    assert codes(diamond, BenefitKind.SERVICE) == [
        "flash_refund",
        "priority_line",
        "replace_not_repair",
    ]
    # sorted by kind (price, logistics, service), then code
    kinds = [b.benefit.kind for b in diamond.benefits]
    assert kinds == sorted(kinds, key=list(BenefitKind).index)


def test_badge_benefits():
    e = entitlement(Tier.REGISTERED, (Badge("books", 2), Badge("toys", 3)), 1_000, R)
    assert codes(e) == ["books_coupon", "toys_coupon", "toys_expert_line"]
    books = next(b for b in e.benefits if b.benefit.code == "books_coupon")
    assert (books.source, books.source_detail, books.benefit.monthly_quantity) == (
        Source.BADGE,
        "books:2",
        2,
    )


def test_the_risk_gate_removes_high_cost_benefits_whatever_the_score():
    assert passes_risk_gate(250, R) and not passes_risk_gate(249, R)
    gated = entitlement(Tier.DIAMOND, (Badge("toys", 3),), 249, R)
    assert gated.gated == ("flash_refund", "free_return_pickup", "replace_not_repair")
    assert codes(gated, BenefitKind.SERVICE) == ["priority_line", "toys_expert_line"]
    assert all(not b.benefit.high_cost for b in gated.benefits)
    assert "free_shipping" in codes(gated)  # what costs little stays
    assert entitlement(Tier.DIAMOND, (), 250, R).gated == ()
