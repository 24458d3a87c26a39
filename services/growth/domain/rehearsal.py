"""Rehearsal: what a candidate rule set would do compared with the current one, over the same
facts and the same member states, changing nothing.

Both sides are settlements of the same period (`settle_member` or the SQL that agrees with it),
paired by member. A member *moves up* when the candidate gives a higher tier than the baseline
and *down* when lower; moves are counted by the tier the candidate gives, with the full
from → to table besides. The gift cost of each side is what its upgrades would grant, so an
operator sees what the candidate adds (or saves) before publishing it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .gifts import GiftCost, gift_cost, packs_cost
from .rules import RuleSet, Tier
from .settlement import Outcome


@dataclass(frozen=True)
class Rehearsal:
    members: int
    up: Mapping[Tier, int]  # by the candidate's tier
    down: Mapping[Tier, int]
    moves: Mapping[tuple[Tier, Tier], int]  # (baseline, candidate) → members, moves only
    baseline_tiers: Mapping[Tier, int]
    candidate_tiers: Mapping[Tier, int]
    baseline_gifts: GiftCost = field(default_factory=GiftCost)
    candidate_gifts: GiftCost = field(default_factory=GiftCost)

    @property
    def moved_up(self) -> int:
        return sum(self.up.values())

    @property
    def moved_down(self) -> int:
        return sum(self.down.values())


def _by_tier(counter: Counter[Tier]) -> dict[Tier, int]:
    return {tier: counter[tier] for tier in Tier}


def compare(baseline: Iterable[Outcome], candidate: Iterable[Outcome]) -> Rehearsal:
    """Pair the outcomes by member (each side has every member once) and count the moves."""
    before = {o.member_id: o for o in baseline}
    after = {o.member_id: o for o in candidate}
    if before.keys() != after.keys():
        raise ValueError("both sides settle the same members")
    up: Counter[Tier] = Counter()
    down: Counter[Tier] = Counter()
    moves: Counter[tuple[Tier, Tier]] = Counter()
    for member_id, old in before.items():
        new = after[member_id]
        if new.tier.rank > old.tier.rank:
            up[new.tier] += 1
        elif new.tier.rank < old.tier.rank:
            down[new.tier] += 1
        if new.tier is not old.tier:
            moves[(old.tier, new.tier)] += 1
    return Rehearsal(
        len(before),
        _by_tier(up),
        _by_tier(down),
        dict(sorted(moves.items(), key=lambda m: (m[0][0].rank, m[0][1].rank))),
        _by_tier(Counter(o.tier for o in before.values())),
        _by_tier(Counter(o.tier for o in after.values())),
        gift_cost(g for o in before.values() for g in o.gifts),
        gift_cost(g for o in after.values() for g in o.gifts),
    )


def from_counts(
    tiers: Mapping[tuple[Tier, Tier], int],
    baseline_packs: Mapping[Tier, int],
    candidate_packs: Mapping[Tier, int],
    baseline: RuleSet,
    candidate: RuleSet,
) -> Rehearsal:
    """The rehearsal from what a set-based run counts: members per (baseline tier, candidate
    tier), every pair (staying ones too), and packs per side and tier; the same figures
    `compare` gives for those members."""
    up: Counter[Tier] = Counter()
    down: Counter[Tier] = Counter()
    moves: dict[tuple[Tier, Tier], int] = {}
    before: Counter[Tier] = Counter()
    after: Counter[Tier] = Counter()
    for (old, new), n in tiers.items():
        before[old] += n
        after[new] += n
        if new.rank > old.rank:
            up[new] += n
        elif new.rank < old.rank:
            down[new] += n
        if new is not old and n:
            moves[(old, new)] = n
    return Rehearsal(
        sum(tiers.values()),
        _by_tier(up),
        _by_tier(down),
        dict(sorted(moves.items(), key=lambda m: (m[0][0].rank, m[0][1].rank))),
        _by_tier(before),
        _by_tier(after),
        packs_cost(baseline_packs, baseline),
        packs_cost(candidate_packs, candidate),
    )
