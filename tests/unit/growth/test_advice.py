"""What would raise the score: the least extra spend at the next settlement, how many
settlements it holds for, and the one-off steps."""

from __future__ import annotations

import dataclasses

from services.growth.domain.advice import Advice, OneOff, advice, advice_text
from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.facts import FactBook
from services.growth.domain.rules import Band, Component, Limit, Tier
from services.growth.domain.score import score
from tests.unit.growth.samples import (
    SETTLED,
    YUAN,
    ZONE,
    at,
    good_standing,
    order,
    reputation,
    verified,
)


def advise(facts, rules=R, when=SETTLED):
    return advice(FactBook.of(facts), rules, when, ZONE)


def test_fifty_cny_to_bronze_for_seven_months():
    # 900 now; one order of X in a first category: spend ⌊X × 1000 / 200000⌋ + 25 + 50 ≥ 100
    # → X = 5,000 fen (4,999 gives 24 + 75 = 99). The earliest fact is dated 1 June 2026: it
    # counts until the settlement of 1 June 2027, the 7th from now.
    a = advise(good_standing())
    assert a == Advice(Tier.BRONZE, 100, 5_000, 7, at(2027, 6, 1), (OneOff("link_account", 50),))
    assert advice_text(a) == "spend 50 CNY more in the next 7 months to reach bronze"


def test_the_figure_holds_until_a_fact_leaves_the_window():
    # verified 200, reputation 90 → 450, 1,000 CNY of books on 10 Feb: 500 + 25 + 50 = 575.
    # 1,225 now; silver needs 775 more: one more books order (breadth stays 1, orders 2 → 50)
    # spend(100000 + X) ≥ 2000 − 200 − 450 − 50 − 50 = 1250 → 1000 + ⌊(x − 200000) × 1500 /
    # 800000⌋ ≥ 1250 → x = 333,334 → X = 233,334 fen, rounded up to 2,334 CNY. The books order
    # last counts at the settlement of 1 Feb 2027, the 3rd from now.
    facts = [
        verified(at(2020, 1, 1)),
        reputation(at(2026, 3, 15), 90),
        order(at(2026, 2, 10), ("books", 1_000 * YUAN)),
    ]
    assert score(FactBook.of(facts), R, SETTLED, ZONE).total == 1_225
    a = advise(facts)
    assert (a.target, a.points_short, a.extra_spend_minor) == (Tier.SILVER, 775, 233_334)
    assert (a.months, a.deadline) == (3, at(2027, 2, 1))
    assert advice_text(a) == "spend 2334 CNY more in the next 3 months to reach silver"


def test_the_extra_is_for_the_next_settlement_not_todays_window():
    # mid-month: the provisional window still holds 20 Nov 2025, the next settlement does not
    old = order(at(2025, 11, 20), ("books", 1_000 * YUAN))
    now = at(2026, 11, 15)
    assert score(FactBook.of([old]), R, now, ZONE).total == 575
    a = advise([old], when=now)
    # the next settlement sees nothing: 1,000 from consumption alone, spend(X) ≥ 925 → 185,000
    assert (a.target, a.points_short, a.extra_spend_minor) == (Tier.BRONZE, 425, 185_000)
    assert a.months == 12  # nothing else will leave: the same figure for a year
    assert a.deadline == at(2027, 11, 1)  # 12 settlements: 1 Dec 2026 to 1 Nov 2027


def test_a_new_member_is_told_every_one_off():
    a = advise([])
    # 1,000 from consumption alone: spend(X) + 25 + 50 ≥ 1000 → X = 185,000 fen
    assert (a.extra_spend_minor, a.months) == (185_000, 12)
    assert a.one_offs == (
        OneOff("verify", 200),
        OneOff("link_account", 50),
        OneOff("complete_profile", 200),
    )
    assert advice_text(a) == "spend 1850 CNY more in the next 12 months to reach bronze"


def test_one_offs_respect_the_account_cap():
    limits = tuple(
        Limit(Component.ACCOUNT, 10_000, 220) if limit.component is Component.ACCOUNT else limit
        for limit in R.limits
    )
    a = advise([verified(at(2020, 1, 1))], dataclasses.replace(R, limits=limits))
    assert a.one_offs == (OneOff("link_account", 20), OneOff("complete_profile", 20))


def test_no_advice_at_the_top():
    bands = (
        Band(Tier.REGISTERED, 0),
        Band(Tier.BRONZE, 100),
        Band(Tier.SILVER, 200),
        Band(Tier.GOLD, 300),
        Band(Tier.DIAMOND, 800),
    )
    assert advise(good_standing(), dataclasses.replace(R, bands=bands)) is None


def test_when_spending_cannot_get_there():
    limits = tuple(
        Limit(Component.CONSUMPTION, 10_000, 50)
        if limit.component is Component.CONSUMPTION
        else limit
        for limit in R.limits
    )
    a = advise(good_standing(), dataclasses.replace(R, limits=limits))
    assert (a.extra_spend_minor, a.months, a.deadline) == (None, 0, None)
    assert advice_text(a) == "100 more points to reach bronze"


def test_this_month():
    a = Advice(Tier.GOLD, 10, 32_001, 1, at(2026, 12, 1), ())
    assert advice_text(a) == "spend 321 CNY more this month to reach gold"
