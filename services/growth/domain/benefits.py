"""Benefits (权益): what a member's tier and badges give, after the risk gate.

Offers come from the rule set: a tier offer is for its tier and those above, a badge offer for
its category's badge at its level and above. One benefit code means one benefit (validation
checks its kind and cost agree everywhere); when several offers of a code apply, the largest
monthly quantity wins, ties going to the tier offer, then to the higher tier or level. So "2
free-shipping vouchers from bronze, 5 from gold" gives a gold member 5, not 7.

**The risk gate**: a member whose risk standing (reputation + credit component values) is below
the rule set's threshold gets no high-cost benefit (free return pickup, flash refund, replace
instead of repair…), whatever the tier or badge. Those benefits cost the platform money on
trust; a high score bought with spending says nothing about that trust.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .badges import Badge
from .rules import Benefit, BenefitKind, RuleSet, Tier


class Source(StrEnum):
    TIER = "tier"
    BADGE = "badge"


@dataclass(frozen=True)
class CurrentBenefit:
    benefit: Benefit
    source: Source
    source_detail: str  # the tier, or "<category>:<level>"


@dataclass(frozen=True)
class Entitlement:
    """What one call gives a storefront: the benefits now and what the gate removed."""

    benefits: tuple[CurrentBenefit, ...]
    gated: tuple[str, ...]  # codes the risk gate removed

    def by_kind(self, kind: BenefitKind) -> tuple[CurrentBenefit, ...]:
        return tuple(b for b in self.benefits if b.benefit.kind is kind)


def passes_risk_gate(risk_standing: int, rules: RuleSet) -> bool:
    return risk_standing >= rules.risk.threshold


def _offered(tier: Tier, badges: Iterable[Badge], rules: RuleSet) -> dict[str, CurrentBenefit]:
    best: dict[str, tuple[tuple[int, int, int], CurrentBenefit]] = {}

    def offer(rank: tuple[int, int, int], current: CurrentBenefit) -> None:
        code = current.benefit.code
        if code not in best or rank > best[code][0]:
            best[code] = (rank, current)

    for tier_offer in rules.tier_offers:
        if tier.rank >= tier_offer.min_tier.rank:
            b = tier_offer.benefit
            rank = (b.monthly_quantity, 1, tier_offer.min_tier.rank)
            offer(rank, CurrentBenefit(b, Source.TIER, tier_offer.min_tier.value))
    levels = {badge.category: badge.level for badge in badges}
    for badge_offer in rules.badge_offers:
        level = levels.get(badge_offer.category, 0)
        if level >= badge_offer.min_level:
            b = badge_offer.benefit
            detail = f"{badge_offer.category}:{badge_offer.min_level}"
            offer(
                (b.monthly_quantity, 0, badge_offer.min_level),
                CurrentBenefit(b, Source.BADGE, detail),
            )
    return {code: current for code, (_, current) in best.items()}


def entitlement(
    tier: Tier, badges: Iterable[Badge], risk_standing: int, rules: RuleSet
) -> Entitlement:
    """The member's current benefits (sorted by kind, then code) and the gated codes."""
    offered = _offered(tier, badges, rules)
    gate = not passes_risk_gate(risk_standing, rules)
    kept = [c for c in offered.values() if not (gate and c.benefit.high_cost)]
    gated = sorted(code for code, c in offered.items() if gate and c.benefit.high_cost)
    order = list(BenefitKind)
    kept.sort(key=lambda c: (order.index(c.benefit.kind), c.benefit.code))
    return Entitlement(tuple(kept), tuple(gated))
