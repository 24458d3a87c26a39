"""The refund formula on worked examples (the numbers are in the comments), its edges, and its
bounds on random input.

    share_t = p_t if nothing used and now < paid_at_t + 7 days, else p_t − ⌊p_t × elapsed_t / length_t⌋
    refund  = min(Σ p_t, max(0, Σ share_t − value of benefits used)), over the open terms
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.subscription.domain import refunds
from services.subscription.domain import subscriptions as subs
from services.subscription.domain.plans import Period, PeriodUnit, Plan, PlanKind
from services.subscription.domain.refunds import BenefitUse, RefundBasis
from services.subscription.domain.terms import Channel, Term, build_term
from tests.unit.subscription.samples import MONTHLY, YEARLY, ZONE, at, days


def term(plan, start, paid=None, paid_at=None, channel=Channel.PURCHASE) -> Term:
    paid = plan.price_minor if paid is None else paid
    built, _ = build_term(plan, start, ZONE, None, paid, paid_at or start, channel)
    return built


def coupon(when) -> BenefitUse:
    return BenefitUse("free_shipping", 500, when)


JUNE = at(2025, 6, 1)  # a 30-day month
JUNE_TERM = term(MONTHLY, JUNE)  # 1,500 fen, 1 June – 1 July


def amount(terms, uses, now) -> int:
    return refunds.quote(terms, uses, now).amount_minor


# --- worked examples -------------------------------------------------------------------------------
def test_example_1_full_refund_within_the_cooling_off_period():
    # Monthly 1,500 bought 1 June 00:00; refund asked 4 June, nothing used: 3 days < 7 → 1,500.
    q = refunds.quote([JUNE_TERM], [], at(2025, 6, 4))
    assert (q.amount_minor, q.basis) == (1_500, RefundBasis.FULL)


def test_example_2_a_benefit_used_within_the_cooling_off_period():
    # Same, but one free-shipping coupon (worth 500) was claimed on 2 June: no full refund.
    # Used time 3/30: ⌊1,500 × 3 / 30⌋ = 150; unused 1,350; less 500 → 850.
    q = refunds.quote([JUNE_TERM], [coupon(at(2025, 6, 2))], at(2025, 6, 4))
    assert (q.amount_minor, q.basis, q.used_value_minor, q.share_minor) == (
        850,
        RefundBasis.PRO_RATA,
        500,
        1_350,
    )


def test_example_3_pro_rata_after_the_cooling_off_period():
    # Refund asked 11 June, nothing used: 10 days > 7. ⌊1,500 × 10 / 30⌋ = 500 used → 1,000.
    assert amount([JUNE_TERM], [], at(2025, 6, 11)) == 1_000


def test_example_4_a_yearly_plan_with_benefits_used():
    # Yearly 19,800 bought 1 Jan 2025 00:00 (365 days); refund 15 March 12:00, 73.5 days in.
    # Used: ⌊19,800 × 73.5 / 365⌋ = ⌊3,987.12⌋ = 3,987 → unused 15,813.
    # Benefits: 9 coupons × 500 + one video VIP year 3,000 = 7,500 → 8,313.
    jan = at(2025, 1, 1)
    uses = [coupon(jan + days(i * 7)) for i in range(9)]
    uses.append(BenefitUse("video_vip", 3_000, jan + days(1)))
    assert amount([term(YEARLY, jan)], uses, at(2025, 3, 15, 12)) == 8_313


def test_example_5_benefits_worth_more_than_the_time_left_refund_nothing():
    # 4 coupons (2,000) by 25 June, 24 days used: ⌊1,500 × 24 / 30⌋ = 1,200 → unused 300;
    # 300 − 2,000 < 0 → 0, and the refund is refused (the subscription keeps running).
    uses = [coupon(at(2025, 6, d)) for d in (2, 9, 16, 23)]
    q = refunds.quote([JUNE_TERM], uses, at(2025, 6, 25))
    assert q.amount_minor == 0
    refusal = refunds.nothing_to_refund(q)
    assert refusal is not None and refusal.reason == "NOTHING_TO_REFUND"
    assert refusal.metadata == {"paid_minor": "1500", "used_value_minor": "2000"}


def test_example_6_rounding_leaves_the_fraction_of_a_fen_with_the_member():
    # 999 fen for July (31 days), refund 11 July, nothing used (past cooling-off):
    # used ⌊999 × 10 / 31⌋ = ⌊322.26⌋ = 322 → 677 (the exact 676.74 rounded up, for the member).
    plan = Plan("odd", 1, PlanKind.MONTHLY, 999, "CNY", Period(1, PeriodUnit.MONTH))
    assert amount([term(plan, at(2025, 7, 1))], [], at(2025, 7, 11)) == 677


def test_example_7_stacked_terms_each_with_its_own_cooling_off():
    # June bought 1 June (1,500), July stacked on 20 June (1,500, 1 July – 1 August).
    # Refund 22 June, nothing used. June: paid 21 days ago → ⌊1,500 × 21/30⌋ = 1,050 used → 450.
    # July: paid 2 days ago, within cooling-off → 1,500 whole. Total 1,950.
    july = term(MONTHLY, at(2025, 7, 1), paid_at=at(2025, 6, 20))
    q = refunds.quote([JUNE_TERM, july], [], at(2025, 6, 22))
    assert (q.amount_minor, q.basis, q.paid_minor) == (1_950, RefundBasis.PRO_RATA, 3_000)


def test_example_8_stacked_terms_with_a_benefit_used():
    # As 7, with a coupon (500) claimed on 21 June: July is unstarted, so its unused value is
    # still 1,500 (pro rata of nothing elapsed). 450 + 1,500 − 500 = 1,450.
    july = term(MONTHLY, at(2025, 7, 1), paid_at=at(2025, 6, 20))
    assert amount([JUNE_TERM, july], [coupon(at(2025, 6, 21))], at(2025, 6, 22)) == 1_450


def test_example_9_only_the_open_terms_are_refunded_and_only_their_benefits_count():
    # Renewed on 1 July (1,500 for July, 31 days). A coupon claimed on 10 June was paid for by
    # June, which is over. Refund 3 July, nothing used since 1 July: within the renewal's
    # cooling-off → the renewal's 1,500 whole; June is never paid back.
    july = term(MONTHLY, at(2025, 7, 1), channel=Channel.RENEWAL)
    q = refunds.quote([JUNE_TERM, july], [coupon(at(2025, 6, 10))], at(2025, 7, 3))
    assert (q.amount_minor, q.basis, q.paid_minor, q.used_value_minor) == (
        1_500,
        RefundBasis.FULL,
        1_500,
        0,
    )


def test_example_10_the_cooling_off_ends_at_seven_days_exactly():
    # 1 µs before: 1,500. At 7 days: ⌊1,500 × 7/30⌋ = 350 used → 1,150.
    seven = JUNE + refunds.DEFAULT_COOLING_OFF
    assert amount([JUNE_TERM], [], seven - dt.timedelta(microseconds=1)) == 1_500
    assert amount([JUNE_TERM], [], seven) == 1_150


def test_example_11_any_use_ends_the_right_to_a_full_refund_even_a_free_one():
    # A return pickup (worth 0) used on 2 June; refund 3 June: ⌊1,500 × 2/30⌋ = 100 → 1,400.
    pickup = BenefitUse("return_pickup", 0, at(2025, 6, 2))
    assert amount([JUNE_TERM], [pickup], at(2025, 6, 3)) == 1_400


def test_example_12_a_longer_cooling_off_is_a_setting():
    q = refunds.quote([JUNE_TERM], [], at(2025, 6, 11), cooling_off=dt.timedelta(days=14))
    assert q.amount_minor == 1_500


# --- edges --------------------------------------------------------------------------------------------
def test_nothing_is_refunded_once_every_term_is_over():
    q = refunds.quote([JUNE_TERM], [], at(2025, 7, 1))
    assert (q.amount_minor, q.paid_minor, q.basis) == (0, 0, RefundBasis.PRO_RATA)


def test_free_time_refunds_nothing():
    free = term(MONTHLY, JUNE, paid=0, channel=Channel.CODE)
    assert amount([free], [], JUNE + days(1)) == 0


def test_used_and_unused_parts_add_up_to_the_payment():
    for hours in (0, 1, 24 * 15, 24 * 30, 24 * 40, -5):
        now = JUNE + dt.timedelta(hours=hours)
        assert refunds.used_part(JUNE_TERM, now) + refunds.unused_value(JUNE_TERM, now) == 1_500
    assert refunds.used_part(JUNE_TERM, JUNE - days(1)) == 0  # not started
    assert refunds.used_part(JUNE_TERM, JUNE + days(99)) == 1_500  # over


def test_a_negative_benefit_value_is_a_bug():
    with pytest.raises(ValueError):
        refunds.quote([JUNE_TERM], [BenefitUse("x", -1, JUNE)], JUNE + days(1))


def test_refused_twice():
    sub = subs.activate(subs.new_order("m1", MONTHLY, JUNE), 1_500, "CNY", JUNE, ZONE)
    ended, q = subs.refund(sub, [], at(2025, 6, 11))
    assert q.amount_minor == 1_000 and ended.refunded_minor == 1_000
    again = subs.refund(ended, [], at(2025, 6, 11))
    assert again.reason == "SUBSCRIPTION_ALREADY_REFUNDED"


# --- bounds on random input ------------------------------------------------------------------------------
prices = st.integers(0, 10**6)
offsets = st.integers(-40 * 86_400, 800 * 86_400)  # seconds from 1 June


@settings(max_examples=300, deadline=None, database=None)
@given(
    paid=st.lists(prices, min_size=1, max_size=4),
    paid_offsets=st.lists(st.integers(0, 60 * 86_400), min_size=4, max_size=4),
    use_values=st.lists(st.integers(0, 5_000), max_size=5),
    use_offset=offsets,
    now_offset=offsets,
)
def test_a_refund_is_never_negative_nor_more_than_paid(
    paid, paid_offsets, use_values, use_offset, now_offset
):
    terms, start = [], JUNE
    for amount_paid, paid_offset in zip(paid, paid_offsets, strict=False):
        t = term(MONTHLY, start, amount_paid, JUNE + dt.timedelta(seconds=paid_offset))
        terms.append(t)
        start = t.end
    now = JUNE + dt.timedelta(seconds=now_offset)
    uses = [BenefitUse("b", v, JUNE + dt.timedelta(seconds=use_offset)) for v in use_values]
    q = refunds.quote(terms, uses, now)
    assert 0 <= q.amount_minor <= q.paid_minor <= sum(paid)
    assert q.amount_minor <= q.share_minor <= q.paid_minor
    # The plan-change credit is the same unused value, without cooling-off or deductions.
    credit = refunds.change_credit(terms, now)
    assert credit <= q.paid_minor
    if not refunds.uses_in(terms, uses, now):
        assert q.share_minor >= credit


@settings(max_examples=200, deadline=None, database=None)
@given(price=prices, a=offsets, b=offsets)
def test_unused_value_only_shrinks_as_time_passes(price, a, b):
    t = term(MONTHLY, JUNE, price)
    early, late = sorted((JUNE + dt.timedelta(seconds=a), JUNE + dt.timedelta(seconds=b)))
    assert refunds.unused_value(t, early) >= refunds.unused_value(t, late)
