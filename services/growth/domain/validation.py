"""Validation of a rule set on upload: every field the rules refuse, each named by its path
("bands[3].min_score", "limits[1].weight_bp"), so an operator fixes them all in one go.

Besides ranges, what a rule set must make sense as: one band per tier rising with the tiers and
reachable under the caps; concave (diminishing) consumption curves; badge levels that ask more
as they go up, for categories the rule set has; one meaning per benefit code.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.kit.refusals import FieldProblem

from .curves import curve_problems
from .facts import ActivityKind
from .rules import (
    CODE,
    CURRENCY,
    MAX_BADGE_LEVELS,
    MAX_CAP,
    MAX_COUPON_VALUE_MINOR,
    MAX_COUPONS,
    MAX_GIFT_POINTS,
    MAX_GRACE_MONTHS,
    MAX_WEIGHT_BP,
    BadgeLevel,
    Benefit,
    Component,
    DowngradePolicy,
    Limit,
    RuleSet,
    Tier,
)


def _codes(codes: Iterable[str], path: str, what: str) -> list[FieldProblem]:
    problems, seen = [], set()
    for i, code in enumerate(codes):
        if not CODE.fullmatch(code):
            problems.append(FieldProblem(f"{path}[{i}]", "2-64 of a-z, 0-9, _; a letter first"))
        elif code in seen:
            problems.append(FieldProblem(f"{path}[{i}]", f"{what} listed twice", "DUPLICATE"))
        seen.add(code)
    return problems


def _limit_problems(limits: tuple[Limit, ...]) -> list[FieldProblem]:
    problems = []
    seen: set[Component] = set()
    for i, limit in enumerate(limits):
        if limit.component in seen:
            problems.append(FieldProblem(f"limits[{i}].component", "listed twice", "DUPLICATE"))
        seen.add(limit.component)
        if not 0 <= limit.weight_bp <= MAX_WEIGHT_BP:
            reason = "NEGATIVE_WEIGHT" if limit.weight_bp < 0 else "INVALID_ARGUMENT"
            problems.append(FieldProblem(f"limits[{i}].weight_bp", f"0 to {MAX_WEIGHT_BP}", reason))
        if not 0 <= limit.cap <= MAX_CAP:
            reason = "NEGATIVE_CAP" if limit.cap < 0 else "INVALID_ARGUMENT"
            problems.append(FieldProblem(f"limits[{i}].cap", f"0 to {MAX_CAP}", reason))
    for component in Component:
        if component not in seen:
            problems.append(FieldProblem("limits", f"{component.value}: no weight and cap"))
    return problems


def _score_rule_problems(r: RuleSet) -> list[FieldProblem]:
    problems = []
    if not 0 <= r.account.verified <= MAX_CAP:
        problems.append(FieldProblem("account.verified", f"0 to {MAX_CAP}"))
    problems += curve_problems(r.account.linked, "account.linked", concave=True)
    problems += curve_problems(r.account.profile, "account.profile", concave=False)
    problems += _codes(r.account.profile_fields, "account.profile_fields", "a field")
    for name in ("spend", "orders", "breadth", "platform"):
        problems += curve_problems(
            getattr(r.consumption, name), f"consumption.{name}", concave=True
        )
    seen: set[ActivityKind] = set()
    for i, (kind, points) in enumerate(r.activity.points):
        if kind in seen:
            problems.append(FieldProblem(f"activity.points[{i}]", "listed twice", "DUPLICATE"))
        seen.add(kind)
        if not 0 <= points <= MAX_CAP:
            problems.append(FieldProblem(f"activity.points[{i}].points", f"0 to {MAX_CAP}"))
    if not 0 <= r.activity.monthly_cap <= MAX_CAP:
        reason = "NEGATIVE_CAP" if r.activity.monthly_cap < 0 else "INVALID_ARGUMENT"
        problems.append(FieldProblem("activity.monthly_cap", f"0 to {MAX_CAP}", reason))
    problems += curve_problems(r.risk.reputation, "risk.reputation", concave=False)
    problems += curve_problems(r.risk.credit, "risk.credit", concave=False)
    if r.risk.threshold < 0:
        problems.append(FieldProblem("risk.threshold", "not negative"))
    return problems


def _band_problems(r: RuleSet) -> list[FieldProblem]:
    tiers = [band.tier for band in r.bands]
    if tiers != list(Tier):
        names = ", ".join(t.value for t in Tier)
        return [FieldProblem("bands", f"one band per tier, in order: {names}", "UNSORTED_BANDS")]
    problems = []
    if r.bands[0].min_score != 0:
        problems.append(FieldProblem("bands[0].min_score", "the first tier starts at 0"))
    for i in range(1, len(r.bands)):
        if r.bands[i].min_score <= r.bands[i - 1].min_score:
            problems.append(
                FieldProblem(
                    f"bands[{i}].min_score",
                    f"above {r.bands[i - 1].tier.value}'s {r.bands[i - 1].min_score}",
                    "OVERLAPPING_BANDS",
                )
            )
        elif r.bands[i].min_score > r.max_score:
            problems.append(
                FieldProblem(
                    f"bands[{i}].min_score",
                    f"unreachable: the caps add up to {r.max_score}",
                    "UNREACHABLE_BAND",
                )
            )
    return problems


def _policy_problems(r: RuleSet) -> list[FieldProblem]:
    policy = r.policy
    if not 0 <= policy.grace_months <= MAX_GRACE_MONTHS:
        return [FieldProblem("policy.grace_months", f"0 to {MAX_GRACE_MONTHS}")]
    if policy.downgrade is DowngradePolicy.NEVER and policy.grace_months:
        return [FieldProblem("policy.grace_months", "0 when tiers are never lowered")]
    return []


def _badge_problems(r: RuleSet) -> list[FieldProblem]:
    problems = []
    seen: set[str] = set()
    for i, rule in enumerate(r.badges):
        at = f"badges[{i}]"
        if rule.category not in r.categories:
            problems.append(FieldProblem(f"{at}.category", "not a category", "UNKNOWN_CATEGORY"))
        elif rule.category in seen:
            problems.append(FieldProblem(f"{at}.category", "listed twice", "DUPLICATE"))
        seen.add(rule.category)
        if not 1 <= len(rule.levels) <= MAX_BADGE_LEVELS:
            problems.append(FieldProblem(f"{at}.levels", f"1 to {MAX_BADGE_LEVELS} levels"))
        previous: BadgeLevel | None = None
        for j, level in enumerate(rule.levels):
            lat = f"{at}.levels[{j}]"
            if level.level != j + 1:
                problems.append(FieldProblem(f"{lat}.level", f"levels count 1, 2, …: {j + 1}"))
            if level.min_spend_minor < 0 or level.min_orders < 0:
                problems.append(FieldProblem(lat, "thresholds are not negative"))
            if previous and (
                level.min_spend_minor < previous.min_spend_minor
                or level.min_orders < previous.min_orders
                or (level.min_spend_minor, level.min_orders)
                == (previous.min_spend_minor, previous.min_orders)
            ):
                problems.append(FieldProblem(lat, "asks more than the level below", "UNSORTED"))
            previous = level
    return problems


def _gift_problems(r: RuleSet) -> list[FieldProblem]:
    problems = []
    seen: set[Tier] = set()
    for i, pack in enumerate(r.gift_packs):
        at = f"gift_packs[{i}]"
        if pack.tier is Tier.REGISTERED:
            problems.append(FieldProblem(f"{at}.tier", "nobody is upgraded to registered"))
        elif pack.tier in seen:
            problems.append(FieldProblem(f"{at}.tier", "listed twice", "DUPLICATE"))
        seen.add(pack.tier)
        if not 0 <= pack.points <= MAX_GIFT_POINTS:
            problems.append(FieldProblem(f"{at}.points", f"0 to {MAX_GIFT_POINTS}"))
        problems += _codes((c.code for c in pack.coupons), f"{at}.coupons", "a coupon")
        for j, coupon in enumerate(pack.coupons):
            if not 1 <= coupon.quantity <= MAX_COUPONS:
                problems.append(FieldProblem(f"{at}.coupons[{j}].quantity", f"1 to {MAX_COUPONS}"))
            if not 0 <= coupon.value_minor <= MAX_COUPON_VALUE_MINOR:
                problems.append(
                    FieldProblem(f"{at}.coupons[{j}].value_minor", f"0 to {MAX_COUPON_VALUE_MINOR}")
                )
    return problems


def _offer_problems(r: RuleSet) -> list[FieldProblem]:
    problems = []
    meaning: dict[str, Benefit] = {}
    offers = [(f"tier_offers[{i}]", o.benefit) for i, o in enumerate(r.tier_offers)]
    offers += [(f"badge_offers[{i}]", o.benefit) for i, o in enumerate(r.badge_offers)]
    for at, benefit in offers:
        if not CODE.fullmatch(benefit.code):
            problems.append(FieldProblem(f"{at}.benefit.code", "2-64 of a-z, 0-9, _"))
        if not 0 <= benefit.monthly_quantity <= MAX_COUPONS:
            problems.append(FieldProblem(f"{at}.benefit.monthly_quantity", f"0 to {MAX_COUPONS}"))
        first = meaning.setdefault(benefit.code, benefit)
        if (first.kind, first.high_cost) != (benefit.kind, benefit.high_cost):
            problems.append(
                FieldProblem(f"{at}.benefit", "one code, one kind and one cost", "CONFLICT")
            )
    seen: set[tuple[Tier, str]] = set()
    for i, tier_offer in enumerate(r.tier_offers):
        key = (tier_offer.min_tier, tier_offer.benefit.code)
        if key in seen:
            problems.append(FieldProblem(f"tier_offers[{i}]", "listed twice", "DUPLICATE"))
        seen.add(key)
    for i, badge_offer in enumerate(r.badge_offers):
        rule = r.badge_rule(badge_offer.category)
        if badge_offer.category not in r.categories:
            problems.append(
                FieldProblem(f"badge_offers[{i}].category", "not a category", "UNKNOWN_CATEGORY")
            )
        elif rule is None or not 1 <= badge_offer.min_level <= len(rule.levels):
            problems.append(
                FieldProblem(f"badge_offers[{i}].min_level", "not a level of the badge")
            )
    return problems


def rule_problems(r: RuleSet) -> list[FieldProblem]:
    """Every field of `r` the rules refuse (empty when it can be published)."""
    problems = []
    if r.version < 1:
        problems.append(FieldProblem("version", "versions count from 1"))
    if not CURRENCY.fullmatch(r.currency):
        problems.append(FieldProblem("currency", "an ISO 4217 code such as CNY"))
    problems += _limit_problems(r.limits)
    problems += _score_rule_problems(r)
    problems += _band_problems(r)
    problems += _policy_problems(r)
    problems += _codes(r.categories, "categories", "a category")
    problems += _badge_problems(r)
    problems += _gift_problems(r)
    problems += _offer_problems(r)
    return problems
