"""One member's settlement, end to end, and the provisional score."""

from __future__ import annotations

import dataclasses
import random

import pytest

from services.growth.domain.badges import Badge
from services.growth.domain.defaults import DEFAULT_RULES as R
from services.growth.domain.facts import ActivityKind
from services.growth.domain.rules import DowngradePolicy, Tier, TierPolicy, UpgradePolicy
from services.growth.domain.settlement import MemberState, provisional_member, settle_member
from services.growth.domain.tiers import ChangeReason, TierState
from tests.unit.growth.samples import (
    MEMBER,
    SETTLED,
    YUAN,
    ZONE,
    activity,
    at,
    good_standing,
    order,
    refund,
    reputation,
)

FIVE = ["books", "food", "apparel", "phones", "toys"]


def gold_facts():
    """3,598: gold under the defaults (test_score.test_the_default_examples)."""
    spend = [order(at(2026, 1 + i % 9, 3), (FIVE[i % 5], 400 * YUAN)) for i in range(20)]
    return good_standing() + spend


NEW = MemberState()


def settle(facts, previous=NEW, when=SETTLED, rules=R):
    return settle_member(MEMBER, facts, rules, previous, when, ZONE)


def test_a_first_settlement():
    out = settle(gold_facts())
    assert (out.period, out.ruleset_version, out.score.total) == ("2026-10", 1, 3_598)
    assert (out.tier_before, out.tier) == (Tier.REGISTERED, Tier.GOLD)
    assert out.change is not None and out.change.reason is ChangeReason.SETTLED_UP
    assert [g.reference for g in out.gifts] == [
        f"growth:tier_upgrade:{MEMBER}:bronze:2026-10",
        f"growth:tier_upgrade:{MEMBER}:silver:2026-10",
        f"growth:tier_upgrade:{MEMBER}:gold:2026-10",
    ]
    # 4 orders of 400 CNY in each category: 1,600 CNY, 4 orders → level 1 (level 2 needs 5)
    assert out.badges == tuple(Badge(c, 1) for c in sorted(FIVE))
    assert out.awarded == out.badges
    assert out.passes_risk_gate  # reputation 90 → 450 ≥ 250
    assert out.state == MemberState(
        TierState(Tier.GOLD),
        {Tier.BRONZE: "2026-10", Tier.SILVER: "2026-10", Tier.GOLD: "2026-10"},
        {c: 1 for c in FIVE},
        "2026-10",
    )


def test_a_rerun_gives_the_same_outcome_whatever_the_order_of_facts():
    facts = gold_facts()
    first = settle(facts)
    shuffled = facts + facts[:7]
    random.Random(7).shuffle(shuffled)
    assert settle(shuffled) == first


def test_the_next_settlement_carries_the_state():
    first = settle(gold_facts())
    second = settle(gold_facts(), first.state, at(2026, 12, 1))
    assert (second.period, second.tier, second.change, second.gifts, second.awarded) == (
        "2026-11",
        Tier.GOLD,
        None,
        (),
        (),
    )


def test_a_refund_after_a_settlement_lowers_the_next_not_the_past():
    facts = gold_facts()
    first = settle(facts)
    big = order(at(2026, 10, 20), ("books", 3_000 * YUAN))
    with_big = settle([*facts, big])
    late = refund(big, at(2026, 11, 5), ("l0", 3_000 * YUAN))
    # re-running the October settlement with the refund recorded changes nothing
    assert settle([*facts, big, late]) == with_big
    assert with_big.score.total > first.score.total
    nov = settle([*facts, big, late], with_big.state, at(2026, 12, 1))
    nov_without_big = settle(facts, first.state, at(2026, 12, 1))
    assert nov.score.total == nov_without_big.score.total


def test_a_settlement_is_on_the_first_at_local_midnight_after_the_state_given():
    with pytest.raises(ValueError):
        settle([], when=at(2026, 11, 2))
    settled = settle([])
    with pytest.raises(ValueError):
        settle([], settled.state)


def test_grace_across_settlements():
    rules = dataclasses.replace(R, policy=TierPolicy(grace_months=1))
    gold = settle(gold_facts(), rules=rules)
    # a year later, nothing new: the score falls with the window; gold is kept one settlement
    later = at(2027, 10, 1)
    kept = settle(gold_facts(), gold.state, later, rules)
    assert (kept.tier, kept.state.tier.months_below, kept.change) == (Tier.GOLD, 1, None)
    dropped = settle(gold_facts(), kept.state, at(2027, 11, 1), rules)
    assert dropped.change is not None and dropped.change.reason is ChangeReason.SETTLED_DOWN
    assert dropped.tier is Tier.REGISTERED and dropped.gifts == ()


def test_never_keeps_the_tier_however_far_the_score_falls():
    rules = dataclasses.replace(R, policy=TierPolicy(downgrade=DowngradePolicy.NEVER))
    gold = settle(gold_facts(), rules=rules)
    later = settle(gold_facts(), gold.state, at(2028, 1, 1), rules)
    assert (later.score.total, later.tier, later.change) == (400, Tier.GOLD, None)


def test_a_climb_back_within_the_year_pays_no_second_pack():
    facts = gold_facts()
    gold = settle(facts)
    spend = facts[len(good_standing()) :]
    refunds = [refund(o, at(2026, 11, 2), ("l0", 400 * YUAN)) for o in spend[:12]]
    down = settle([*facts, *refunds], gold.state, at(2026, 12, 1))
    assert down.tier.rank < Tier.GOLD.rank
    more = [order(at(2026, 12, 5 + i), ("books", 1_000 * YUAN)) for i in range(5)]
    back = settle([*facts, *refunds, *more], down.state, at(2027, 1, 1))
    assert back.tier is Tier.GOLD
    assert [g.tier for g in back.gifts] == []  # every pack on the way was paid in 2026-10


def test_provisional_under_at_settlement_changes_nothing():
    state = settle(good_standing()).state
    p = provisional_member(MEMBER, gold_facts(), R, state, at(2026, 11, 20), ZONE)
    assert (p.score.total, p.change, p.gifts, p.state) == (3_598, None, (), state)


def test_provisional_under_immediate_moves_up_with_its_packs_once():
    rules = dataclasses.replace(R, policy=TierPolicy(upgrade=UpgradePolicy.IMMEDIATE))
    first = settle(good_standing(), rules=rules)
    facts = [*gold_facts(), order(at(2026, 11, 10), ("books", 100 * YUAN))]
    p = provisional_member(MEMBER, facts, rules, first.state, at(2026, 11, 20), ZONE)
    assert p.change is not None and p.change.reason is ChangeReason.PROVISIONAL_UP
    assert (p.period, p.state.tier.tier) == ("2026-11", Tier.GOLD)
    assert [g.reference for g in p.gifts][-1] == f"growth:tier_upgrade:{MEMBER}:gold:2026-11"
    # the settlement of November finds gold held: no change, no second pack
    dec = settle(facts, p.state, at(2026, 12, 1), rules)
    assert (dec.tier, dec.change, dec.gifts) == (Tier.GOLD, None, ())


def test_the_risk_gate_in_a_settlement():
    # the latest assessment, 60: 100 + ⌊10 × 200 / 30⌋ = 166 instead of 450; another 2,000 CNY
    # (spend 2125 → 2500, 21 orders 363 → 371) keeps it gold: 3,598 − 284 + 383 = 3,697
    low = [
        *gold_facts(),
        reputation(at(2026, 10, 1), 60),
        order(at(2026, 10, 2), ("books", 2_000 * YUAN)),
    ]
    out = settle(low)
    assert (out.score.risk_standing, out.score.total) == (166, 3_697)
    assert not out.passes_risk_gate
    assert out.tier is Tier.GOLD  # the gate takes benefits, not the tier


def test_activity_alone_is_settled_too():
    out = settle([activity(at(2026, 10, 31, 23, 59), ActivityKind.PHOTO_REVIEW)])
    assert (out.score.total, out.tier, out.change) == (30, Tier.REGISTERED, None)
