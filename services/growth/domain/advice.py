"""What would raise the score to the next tier: the smallest extra spend, how long that figure
holds, and the one-off steps (verify, link, complete the profile) with what each adds.

The target is the tier above the one the current score gives (the diamond member gets no advice).
The extra spend is for the *next settlement*: the least X (fen) such that the member's facts
so far, plus one more order of X in a category they already buy in (a first known category if
they have none), score the target at the next settlement. One more order also adds to the order
count (and, for a first category, to breadth): that is what "spend X more" does. The order is
assumed paid by other means than the platform's own (paying with it only adds points).

Facts leave the window month by month, so the same target costs more later. `months` is how
many settlements in a row, from the next one, the same X still reaches the target: "spend 320
CNY more in the next 4 months" means an order of 320 CNY made before the 4th settlement from now
is settled into the target tier then. `months` is at most 12: after that the order itself has
left the window.

Integer search: the score with X is non-decreasing in X (every curve is), so a binary search
between 1 fen and the end of the spend curve finds the least X; none when even the curve's end
falls short (the consumption cap or the other components stand in the way).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .facts import FactBook
from .periods import (
    DEFAULT_ZONE,
    WINDOW_MONTHS,
    add_months,
    local_day,
    midnight,
)
from .rules import Component, RuleSet, Tier, capped
from .score import BREADTH, LINKED, ORDERS, PLATFORM, PROFILE, SPEND, VERIFIED, Score, score
from .tiers import next_tier, tier_for

MINOR_PER_UNIT = 100


@dataclass(frozen=True)
class OneOff:
    action: str  # "verify", "link_account", "complete_profile"
    points: int  # what it adds to the score now


@dataclass(frozen=True)
class Advice:
    target: Tier
    points_short: int  # target band minus the current score
    extra_spend_minor: int | None  # None: spending alone cannot reach it at the next settlement
    months: int  # settlements in a row the same extra spend reaches the target (0 with None)
    deadline: dt.datetime | None  # the last of those settlements
    one_offs: tuple[OneOff, ...]


def _with_extra(s: Score, rules: RuleSet, extra_minor: int) -> int:
    c = s.component(Component.CONSUMPTION)
    parts = {p.name: p.input for p in c.parts}
    raw = (
        rules.consumption.spend(parts[SPEND] + extra_minor)
        + rules.consumption.orders(parts[ORDERS] + 1)
        + rules.consumption.breadth(max(parts[BREADTH], 1))
        + rules.consumption.platform(parts[PLATFORM])
    )
    return s.total - c.value + capped(raw, rules.limit(Component.CONSUMPTION))


def extra_spend(s: Score, rules: RuleSet, target_score: int) -> int | None:
    """The least extra fen in one more order that lifts `s` to `target_score`."""
    part = s.component(Component.CONSUMPTION).part(SPEND)
    spent = part.input if part else 0
    high = max(1, rules.consumption.spend.last_x - spent)
    if _with_extra(s, rules, high) < target_score:
        return None
    low = 1
    while low < high:
        middle = (low + high) // 2
        if _with_extra(s, rules, middle) >= target_score:
            high = middle
        else:
            low = middle + 1
    return low


def _one_offs(s: Score, rules: RuleSet) -> tuple[OneOff, ...]:
    account = s.component(Component.ACCOUNT)
    inputs = {p.name: p for p in account.parts}
    a = rules.account
    limit = rules.limit(Component.ACCOUNT)
    found = []

    def gain(action: str, name: str, points: int) -> None:
        more = capped(account.raw - inputs[name].points + points, limit) - account.value
        if more > 0:
            found.append(OneOff(action, more))

    if not inputs[VERIFIED].input:
        gain("verify", VERIFIED, a.verified)
    gain("link_account", LINKED, a.linked(inputs[LINKED].input + 1))
    gain("complete_profile", PROFILE, a.profile(len(a.profile_fields)))
    return tuple(found)


def advice(
    book: FactBook, rules: RuleSet, at: dt.datetime, zone: str = DEFAULT_ZONE
) -> Advice | None:
    """What would lift the score at `at` to the next tier (module doc); None at the top."""
    now = score(book, rules, at, zone)
    target = next_tier(tier_for(now.total, rules.bands))
    if target is None:
        return None
    target_score = rules.band_min(target)
    known = FactBook(tuple(f for f in book.facts if f.occurred_at < at))
    first = add_months(local_day(at, zone).replace(day=1), 1)
    needed: int | None = None
    months, deadline = 0, None
    for h in range(WINDOW_MONTHS):
        settlement = midnight(add_months(first, h), zone)
        extra = extra_spend(score(known, rules, settlement, zone), rules, target_score)
        if h == 0:
            needed = extra
        if needed is None or extra != needed:
            break
        months, deadline = h + 1, settlement
    return Advice(
        target,
        target_score - now.total,
        needed,
        months,
        deadline,
        _one_offs(now, rules),
    )


def advice_text(a: Advice, currency: str = "CNY") -> str:
    """ "spend 320 CNY more in the next 4 months to reach gold" (whole units, rounded up)."""
    if a.extra_spend_minor is None:
        return f"{a.points_short} more points to reach {a.target.value}"
    units = -(-a.extra_spend_minor // MINOR_PER_UNIT)
    when = "this month" if a.months == 1 else f"in the next {a.months} months"
    return f"spend {units} {currency} more {when} to reach {a.target.value}"
