"""Properties on random facts: bounds, monotony, order and duplicate independence, and the
advice's figure being the least that works."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.growth.domain.advice import advice
from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.facts import (
    AccountLinked,
    AccountUnlinked,
    Activity,
    ActivityKind,
    CreditReported,
    Fact,
    FactBook,
    OrderLine,
    OrderPaid,
    OrderRefunded,
    ProfileSnapshot,
    RefundLine,
    ReputationAssessed,
    Verified,
)
from services.growth.domain.periods import add_months, local_day, midnight
from services.growth.domain.rules import Component
from services.growth.domain.score import score
from services.growth.domain.settlement import MemberState, settle_member
from tests.unit.growth.samples import FULL_PROFILE, MEMBER, SETTLED, ZONE, at

START = at(2025, 6, 1)
SPAN = int((at(2026, 12, 1) - START).total_seconds())
CATEGORIES = ["books", "food", "toys", "spaceships"]

instants = st.integers(0, SPAN).map(lambda s: START + dt.timedelta(seconds=s))


@st.composite
def orders(draw, source: str) -> OrderPaid:
    lines = draw(
        st.lists(
            st.tuples(st.sampled_from(CATEGORIES), st.integers(0, 3_000_000)),
            min_size=1,
            max_size=3,
        )
    )
    return OrderPaid(
        MEMBER,
        source,
        draw(instants),
        "CNY",
        tuple(OrderLine(f"l{i}", c, paid) for i, (c, paid) in enumerate(lines)),
        draw(st.integers(0, sum(paid for _, paid in lines))),  # with the platform's payment
    )


@st.composite
def fact_lists(draw) -> list[Fact]:
    paid = [draw(orders(f"o{i}")) for i in range(draw(st.integers(0, 8)))]
    facts: list[Fact] = list(paid)
    for i in range(draw(st.integers(0, 4))):
        if not paid:
            break
        o = draw(st.sampled_from(paid))
        line = draw(st.sampled_from(o.lines))
        back = RefundLine(line.line_id, draw(st.integers(0, line.paid_minor + 10)))
        facts.append(OrderRefunded(MEMBER, f"r{i}", draw(instants), o.source_id, "CNY", (back,)))
    for i in range(draw(st.integers(0, 6))):
        facts.append(Activity(MEMBER, f"a{i}", draw(instants), draw(st.sampled_from(ActivityKind))))
    if draw(st.booleans()):
        facts.append(Verified(MEMBER, "v", draw(instants)))
    for i in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([AccountLinked, AccountUnlinked]))
        facts.append(kind(MEMBER, f"l{i}", draw(instants), draw(st.sampled_from(["wechat", "qq"]))))
    if draw(st.booleans()):
        filled = frozenset(draw(st.sets(st.sampled_from(sorted(FULL_PROFILE)))))
        facts.append(ProfileSnapshot(MEMBER, "p", draw(instants), filled))
    for i in range(draw(st.integers(0, 2))):
        facts.append(
            ReputationAssessed(MEMBER, f"rep{i}", draw(instants), draw(st.integers(0, 100)))
        )
    for i in range(draw(st.integers(0, 2))):
        facts.append(CreditReported(MEMBER, f"cr{i}", draw(instants), draw(st.integers(0, 300))))
    return facts


def total(facts, when=SETTLED):
    return score(FactBook.of(facts), R, when, ZONE)


@settings(max_examples=150, deadline=None)
@given(fact_lists())
def test_the_score_never_exceeds_the_caps(facts):
    s = total(facts)
    assert 0 <= s.total <= R.max_score
    for c in s.components:
        assert 0 <= c.value <= c.cap


@settings(max_examples=150, deadline=None)
@given(fact_lists(), orders("extra"))
def test_an_order_never_lowers_consumption(facts, extra):
    before = total(facts).component(Component.CONSUMPTION).value
    assert total([*facts, extra]).component(Component.CONSUMPTION).value >= before


@settings(max_examples=150, deadline=None)
@given(fact_lists(), st.data())
def test_a_refund_never_raises_consumption(facts, data):
    paid = [f for f in facts if isinstance(f, OrderPaid)]
    if not paid:
        return
    o = data.draw(st.sampled_from(paid))
    line = data.draw(st.sampled_from(o.lines))
    back = OrderRefunded(
        MEMBER,
        "extra",
        data.draw(instants),
        o.source_id,
        "CNY",
        (RefundLine(line.line_id, data.draw(st.integers(0, 10**7))),),
    )
    before = total(facts).component(Component.CONSUMPTION).value
    assert total([*facts, back]).component(Component.CONSUMPTION).value <= before


@settings(max_examples=100, deadline=None)
@given(fact_lists(), st.randoms(use_true_random=False))
def test_order_and_duplicates_change_nothing(facts, rnd: random.Random):
    again = facts + rnd.sample(facts, k=len(facts) // 2)
    rnd.shuffle(again)
    first = settle_member(MEMBER, facts, R, MemberState(), SETTLED, ZONE)
    assert settle_member(MEMBER, again, R, MemberState(), SETTLED, ZONE) == first


@settings(max_examples=60, deadline=None)
@given(fact_lists())
def test_the_advised_spend_is_the_least_that_reaches_the_target(facts):
    now = at(2026, 11, 15, 10)
    a = advice(FactBook.of(facts), R, now, ZONE)
    if a is None or a.extra_spend_minor is None:
        return
    known = [f for f in facts if f.occurred_at < now]
    target = R.band_min(a.target)
    assert 1 <= a.months <= 12
    for h in range(a.months):
        settlement = midnight(add_months(local_day(now, ZONE).replace(day=1), 1 + h), ZONE)
        # one more order now, in a category that settlement sees bought (books if none)
        bought = total(known, settlement).categories
        category = bought[0].category if bought else "books"

        def with_order(
            amount: int, settlement: dt.datetime = settlement, category: str = category
        ) -> int:
            extra = OrderPaid(MEMBER, "advised", now, "CNY", (OrderLine("l0", category, amount),))
            return total([*known, extra], settlement).total

        assert with_order(a.extra_spend_minor) >= target
        assert with_order(a.extra_spend_minor - 1) < target
