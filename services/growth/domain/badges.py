"""Badges (勋章): per product category, a level earned by the category's net spend and orders
in the window.

A level is reached when both thresholds are (spend alone would let one big order make an
"expert"; orders alone would reward splitting baskets). The badge is the highest level reached,
recomputed at every settlement from the window like the score: a category the member stopped
buying in loses its level as its orders leave the window. Only a rise is announced
(`growth.badge_awarded`); a fall is silent, shown by the next read.

An order counts for a category when something of its lines in that category is left after
refunds, the same rule as the order count of the score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .rules import BadgeRule, RuleSet
from .score import CategoryTotal


@dataclass(frozen=True)
class Badge:
    category: str
    level: int


def badge_level(rule: BadgeRule, total: CategoryTotal) -> int:
    """The highest level whose thresholds `total` reaches; 0 for none (levels rise, so the
    first miss ends the climb)."""
    reached = 0
    for level in rule.levels:
        if total.net_minor < level.min_spend_minor or total.orders < level.min_orders:
            break
        reached = level.level
    return reached


def badges(totals: Iterable[CategoryTotal], rules: RuleSet) -> tuple[Badge, ...]:
    """The member's badges, by category, leaving out categories without a level."""
    found = []
    for total in totals:
        rule = rules.badge_rule(total.category)
        level = badge_level(rule, total) if rule else 0
        if level:
            found.append(Badge(total.category, level))
    return tuple(sorted(found, key=lambda b: b.category))


def awarded(previous: Mapping[str, int], current: Iterable[Badge]) -> tuple[Badge, ...]:
    """The badges to announce: a category's level above the one held before."""
    return tuple(b for b in current if b.level > previous.get(b.category, 0))
