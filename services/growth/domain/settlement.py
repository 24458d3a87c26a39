"""Settlement: one member's month, the reference every faster settlement must agree with.

On the 1st at local midnight the previous month is settled (period "2026-10" at
2026-11-01T00:00+08:00, periods.py): every member's score over the 12 months before that
instant, from the facts dated before it, under one rule set version; then the tier with the
policies, the upgrade gift packs, the badges. `settle_member` does it for one member from plain
values, with no shortcuts, so the set-based SQL settlement can be property-tested against it
member for member: same score, components, tier, tier change, grants and badges.

A settlement depends only on (facts dated before the instant, rule set, the member's state
before the period, the instant): re-running it, on any replica, after a crash, gives the same
outcome, including the gift references. The caller keeps the state *before* each period until
the period is done, so a re-run starts from the same place.

A provisional score (`provisional_member`) is the same score at any instant between
settlements; it moves a tier only up and only under `immediate`, with the gift packs that go
with it (for the current month's period), and leaves badges to the settlement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .badges import Badge, awarded, badges
from .benefits import passes_risk_gate
from .facts import Fact, FactBook
from .gifts import GiftGrant, after_grants, upgrade_gifts
from .periods import DEFAULT_ZONE, month_key, settled_period
from .rules import RuleSet, Tier
from .score import Score, score
from .tiers import TierChange, TierState, provisional_tier, settle_tier


@dataclass(frozen=True)
class MemberState:
    """What a member carries from one settlement to the next."""

    tier: TierState = field(default_factory=TierState)
    last_gifts: Mapping[Tier, str] = field(default_factory=dict)  # tier → period granted for
    badges: Mapping[str, int] = field(default_factory=dict)  # category → level held
    settled_period: str | None = None  # the last period settled


@dataclass(frozen=True)
class Outcome:
    member_id: str
    period: str
    ruleset_version: int
    score: Score
    tier_before: Tier
    change: TierChange | None
    gifts: tuple[GiftGrant, ...]
    badges: tuple[Badge, ...]
    awarded: tuple[Badge, ...]  # badges to announce (a level up)
    passes_risk_gate: bool
    state: MemberState  # after the settlement

    @property
    def tier(self) -> Tier:
        return self.state.tier.tier


def settle_member(
    member_id: str,
    facts: Iterable[Fact],
    rules: RuleSet,
    previous: MemberState,
    at: dt.datetime,
    zone: str = DEFAULT_ZONE,
) -> Outcome:
    """Settle `member_id` at the settlement instant `at` (a 1st at local midnight), from the
    state after the previous settlement (`MemberState()` for a member never settled)."""
    period = settled_period(at, zone)
    if previous.settled_period is not None and previous.settled_period >= period:
        raise ValueError(f"the state given is after period {previous.settled_period}")
    book = FactBook.of(facts)
    result = score(book, rules, at, zone)
    tier_state, change = settle_tier(previous.tier, result.total, rules)
    grants = upgrade_gifts(member_id, change, period, previous.last_gifts, rules)
    held = badges(result.categories, rules)
    return Outcome(
        member_id,
        period,
        rules.version,
        result,
        previous.tier.tier,
        change,
        grants,
        held,
        awarded(previous.badges, held),
        passes_risk_gate(result.risk_standing, rules),
        MemberState(
            tier_state,
            after_grants(previous.last_gifts, grants),
            {b.category: b.level for b in held},
            period,
        ),
    )


@dataclass(frozen=True)
class Provisional:
    member_id: str
    period: str  # the current month: the period of any gift granted
    ruleset_version: int
    score: Score
    change: TierChange | None
    gifts: tuple[GiftGrant, ...]
    passes_risk_gate: bool
    state: MemberState  # unchanged unless `change`


def provisional_member(
    member_id: str,
    facts: Iterable[Fact],
    rules: RuleSet,
    current: MemberState,
    now: dt.datetime,
    zone: str = DEFAULT_ZONE,
) -> Provisional:
    period = month_key(now, zone)
    result = score(FactBook.of(facts), rules, now, zone)
    tier_state, change = provisional_tier(current.tier, result.total, rules)
    grants = upgrade_gifts(member_id, change, period, current.last_gifts, rules)
    state = current
    if change is not None:
        state = MemberState(
            tier_state,
            after_grants(current.last_gifts, grants),
            current.badges,
            current.settled_period,
        )
    return Provisional(
        member_id,
        period,
        rules.version,
        result,
        change,
        grants,
        passes_risk_gate(result.risk_standing, rules),
        state,
    )
