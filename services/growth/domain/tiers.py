"""Tiers: the band a score falls in, and the tier a member holds once the upgrade and
downgrade policies have had their say.

The tier a member *holds* is state carried from settlement to settlement (`TierState`); the
tier a score *gives* is `tier_for`. They differ while a member is in grace or under `never`.

At a settlement (the default, and the only time a tier can fall):
- the score gives a higher tier → the member moves up to it, however many tiers that is;
- it gives the held tier → nothing changes, and any grace count restarts;
- it gives a lower tier → under `never`, nothing changes. Under `at_settlement`, the member
  keeps the held tier for `grace_months` settlements in a row below it and moves down at the
  next one, straight to the tier the score then gives (not one step: a grace that ends on a
  bronze score ends in bronze). A settlement back in the held band ends the grace.

Between settlements (a provisional score): under `immediate`, a score giving a higher tier moves
the member up at once (the grace count restarts, as at a settlement); a lower score never moves
anyone down, whatever the policy: a tier falls only on a settled score, so a refund on the 10th
cannot take away a tier the member was settled into on the 1st. Under `at_settlement`, a
provisional score changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .rules import Band, DowngradePolicy, RuleSet, Tier, UpgradePolicy


class ChangeReason(StrEnum):
    """The values are the tier_changed event's."""

    SETTLED_UP = "settled_up"
    PROVISIONAL_UP = "provisional_up"  # under `immediate`
    SETTLED_DOWN = "settled_down"  # at once or when the grace ran out


@dataclass(frozen=True)
class TierState:
    tier: Tier = Tier.REGISTERED
    # consecutive settlements whose score gave less than `tier` (grace used so far)
    months_below: int = 0


@dataclass(frozen=True)
class TierChange:
    before: Tier
    after: Tier
    reason: ChangeReason

    @property
    def up(self) -> bool:
        return self.after.rank > self.before.rank


def tier_for(score: int, bands: tuple[Band, ...]) -> Tier:
    """The tier of the highest band whose minimum the score reaches (bands are validated to
    start at 0 and rise with the tiers)."""
    reached = [band.tier for band in bands if score >= band.min_score]
    return reached[-1] if reached else Tier.REGISTERED


def settle_tier(
    state: TierState, score: int, rules: RuleSet
) -> tuple[TierState, TierChange | None]:
    """The tier held after a settlement with `score` (module doc)."""
    given = tier_for(score, rules.bands)
    held = state.tier
    if given.rank > held.rank:
        return TierState(given), TierChange(held, given, ChangeReason.SETTLED_UP)
    if given is held or rules.policy.downgrade is DowngradePolicy.NEVER:
        return TierState(held), None
    below = state.months_below + 1
    if below <= rules.policy.grace_months:
        return TierState(held, below), None
    return TierState(given), TierChange(held, given, ChangeReason.SETTLED_DOWN)


def provisional_tier(
    state: TierState, score: int, rules: RuleSet
) -> tuple[TierState, TierChange | None]:
    """The tier held after a provisional `score` between settlements (module doc)."""
    given = tier_for(score, rules.bands)
    if rules.policy.upgrade is UpgradePolicy.IMMEDIATE and given.rank > state.tier.rank:
        return TierState(given), TierChange(state.tier, given, ChangeReason.PROVISIONAL_UP)
    return state, None


def next_tier(tier: Tier) -> Tier | None:
    tiers = list(Tier)
    return tiers[tier.rank + 1] if tier.rank + 1 < len(tiers) else None
