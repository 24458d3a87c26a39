"""The score: five capped components computed from the facts a window sees, and the
breakdown that explains it.

    account     = verified + linked(accounts linked) + profile(fields filled)       (as of `at`)
    consumption = spend(net fen) + orders(orders counting) + breadth(categories)
                  + platform(net fen paid with the platform's own payment)          (window)
    activity    = Σ over business months of min(monthly_cap, Σ points per activity) (window)
    reputation  = reputation(latest assessment)                                      (window)
    credit      = credit(latest credit score)                                        (window)
    value       = min(cap, raw × weight_bp ÷ 10,000);   score = Σ values

Net spend is the window's orders net of their refunds (facts.py); an order counts when
something of it is left; breadth counts the rule set's categories with net spend, so a
storefront's typo or a new category code adds nothing until the rule set names it. Activity is
capped per business month so a burst of reviews in one month cannot buy a year's activity: the
component rewards coming back, which is what the score is for.

Every figure is an integer computed with floors of non-negative numbers, the same in SQL. The
breakdown keeps each component's inputs (`Part`) and the keys of the facts behind it, so a
member can be shown why, and a settlement re-run over the same facts gives the same breakdown.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from .facts import FactBook, NetOrder
from .periods import DEFAULT_ZONE, Window, month_key, window_ending
from .rules import Component, RuleSet, capped

SPEND, ORDERS, BREADTH, PLATFORM = "spend", "orders", "breadth", "platform_payment"
VERIFIED, LINKED, PROFILE = "verified", "linked", "profile"
ASSESSMENT = "assessment"


@dataclass(frozen=True)
class Part:
    """One input of a component: `input` (fen, a count, a month's raw points, an assessment)
    and the points it gives before weight and cap. Activity has one part per month, named
    "YYYY-MM", whose `input` is the month's points before the monthly cap."""

    name: str
    input: int
    points: int


@dataclass(frozen=True)
class ComponentScore:
    component: Component
    raw: int  # Σ parts' points
    value: int  # what the score counts: weighted, capped
    cap: int
    parts: tuple[Part, ...]
    facts: tuple[str, ...]  # keys of the facts behind it

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)


@dataclass(frozen=True)
class CategoryTotal:
    """What a rule-set category adds up to in the window (badges are earned on this)."""

    category: str
    net_minor: int
    orders: int


@dataclass(frozen=True)
class Score:
    at: dt.datetime
    window: Window
    ruleset_version: int
    components: tuple[ComponentScore, ...]  # in Component order
    categories: tuple[CategoryTotal, ...]  # the rule set's categories with net spend
    # the earliest window fact that adds points: when it leaves, the score may fall
    earliest_counted: dt.datetime | None

    @property
    def total(self) -> int:
        return sum(c.value for c in self.components)

    def component(self, component: Component) -> ComponentScore:
        return next(c for c in self.components if c.component is component)

    @property
    def risk_standing(self) -> int:
        """What the risk gate compares with the threshold: reputation + credit values."""
        return self.component(Component.REPUTATION).value + self.component(Component.CREDIT).value


def _component(
    rules: RuleSet, component: Component, parts: list[Part], facts: list[str]
) -> ComponentScore:
    limit = rules.limit(component)
    raw = sum(p.points for p in parts)
    return ComponentScore(component, raw, capped(raw, limit), limit.cap, tuple(parts), tuple(facts))


def _account(book: FactBook, rules: RuleSet, end: dt.datetime) -> ComponentScore:
    account = rules.account
    verified = book.verification(end)
    links = book.linked(end)
    profile = book.profile(end)
    filled = len(set(account.profile_fields) & profile.filled) if profile else 0
    parts = [
        Part(VERIFIED, int(verified is not None), account.verified if verified else 0),
        Part(LINKED, len(links), account.linked(len(links))),
        Part(PROFILE, filled, account.profile(filled)),
    ]
    facts = [f.key for f in (verified, *links, profile) if f is not None]
    return _component(rules, Component.ACCOUNT, parts, facts)


def consumption_points(
    rules: RuleSet, net_minor: int, orders: int, breadth: int, platform_minor: int
) -> list[Part]:
    c = rules.consumption
    return [
        Part(SPEND, net_minor, c.spend(net_minor)),
        Part(ORDERS, orders, c.orders(orders)),
        Part(BREADTH, breadth, c.breadth(breadth)),
        Part(PLATFORM, platform_minor, c.platform(platform_minor)),
    ]


def category_totals(orders: tuple[NetOrder, ...], rules: RuleSet) -> tuple[CategoryTotal, ...]:
    net: dict[str, int] = defaultdict(int)
    count: Counter[str] = Counter()
    for order in orders:
        for category, amount in order.net_by_category:
            net[category] += amount
            count[category] += 1
    return tuple(CategoryTotal(c, net[c], count[c]) for c in sorted(rules.categories) if net[c] > 0)


def _activity(book: FactBook, rules: RuleSet, window: Window, zone: str) -> ComponentScore:
    by_month: dict[str, int] = defaultdict(int)
    facts = []
    for activity in book.activities(window):
        points = rules.activity.points_for(activity.activity)
        if points:
            by_month[month_key(activity.occurred_at, zone)] += points
            facts.append(activity.key)
    cap = rules.activity.monthly_cap
    parts = [Part(month, points, min(cap, points)) for month, points in sorted(by_month.items())]
    return _component(rules, Component.ACTIVITY, parts, facts)


def score(book: FactBook, rules: RuleSet, at: dt.datetime, zone: str = DEFAULT_ZONE) -> Score:
    """The score at `at` from the facts dated before it (a settlement passes the settlement
    instant; a provisional score, now)."""
    window = window_ending(at, zone)
    orders = book.net_orders(window, rules.currency)
    counting = [o for o in orders if o.counts]
    categories = category_totals(orders, rules)
    net = sum(o.net_minor for o in orders)
    consumption = _component(
        rules,
        Component.CONSUMPTION,
        consumption_points(
            rules, net, len(counting), len(categories), sum(o.platform_minor for o in orders)
        ),
        [key for o in orders for key in o.keys],
    )
    reputation = book.reputation(window)
    credit = book.credit(window)
    risk = rules.risk
    components = (
        _account(book, rules, window.end),
        consumption,
        _activity(book, rules, window, zone),
        _component(
            rules,
            Component.REPUTATION,
            [Part(ASSESSMENT, reputation.score, risk.reputation(reputation.score))]
            if reputation
            else [],
            [reputation.key] if reputation else [],
        ),
        _component(
            rules,
            Component.CREDIT,
            [Part(ASSESSMENT, credit.score, risk.credit(credit.score))] if credit else [],
            [credit.key] if credit else [],
        ),
    )
    dated = [o.order.occurred_at for o in counting]
    dated += [
        a.occurred_at for a in book.activities(window) if rules.activity.points_for(a.activity)
    ]
    dated += [f.occurred_at for f in (reputation, credit) if f is not None]
    return Score(
        window.end,
        window,
        rules.version,
        components,
        categories,
        min(dated) if dated else None,
    )
