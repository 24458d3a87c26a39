"""The growth contract's `RuleSet` message ⇄ the domain's `RuleSet`, and its stored JSON.

`rule_set_from_proto` turns an uploaded rule set into the domain's with every problem at once,
named by the proto's field path under "rule_set." (`rule_set.bands[3].min_score`). The domain's
validation (domain/validation.py) decides what the rules refuse; this module adds only what is
the wire's: enums left UNSPECIFIED (or outside the enum), list sizes, the description, control
characters. Where the wire and the domain disagree on a problem's path, the path is the proto's.

Reading the stored form back (`rule_set_from_json`) is here too; writing it, with the domain →
proto conversion and the enum tables, is in rules_wire.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from google.protobuf import json_format

from loyalty.growth.v1 import resources_pb2 as res
from services.growth.domain import curves, rules
from services.growth.domain.facts import ActivityKind
from services.growth.domain.rules import (
    AccountRules,
    ActivityRules,
    BadgeLevel,
    BadgeOffer,
    BadgeRule,
    Band,
    Benefit,
    BenefitKind,
    Component,
    ConsumptionRules,
    Coupon,
    DowngradePolicy,
    GiftPack,
    Limit,
    RiskRules,
    RuleSet,
    Tier,
    TierOffer,
    TierPolicy,
    UpgradePolicy,
)
from services.growth.domain.validation import rule_problems
from services.kit.errors import Violations
from services.kit.refusals import FieldProblem

from .rules_wire import (
    ACTIVITY_KINDS,
    BENEFIT_KINDS,
    COMPONENTS,
    DOWNGRADES,
    TIERS,
    UPGRADES,
)

_E = TypeVar("_E", bound=Enum)
PREFIX = "rule_set."
MAX_DESCRIPTION = 1024
MAX_CODE = 64  # codes are 2-64 characters (rules.CODE); longer is refused before the pattern

# The most items each list may hold, checked from its length before anything walks it. The
# contract bounds curves (100 points) and badge levels (10); the other bounds are far above any
# real rule set (5 components and tiers, 4 activity kinds, 21 default categories, 3 offers per
# badge) and only keep one request from costing a million conversions and descriptions.
MAX_ITEMS = 16  # limits, activity points, bands, gift packs
MAX_PROFILE_FIELDS = 64
MAX_CATEGORIES = 256  # and badges, tier offers
MAX_BADGE_OFFERS = MAX_CATEGORIES * rules.MAX_BADGE_LEVELS
MAX_PACK_COUPONS = 32

# A domain problem's path that names a different field than the proto's for the same thing.
_RENAMES = (
    (re.compile(r"activity\.points\[\d+\]"), ".kind"),  # a kind listed twice
    (re.compile(r"gift_packs\[\d+\]\.coupons\[\d+\]"), ".code"),  # a malformed or repeated code
)


def rule_set_from_proto(
    msg: res.RuleSet, version: int
) -> tuple[RuleSet | None, list[FieldProblem]]:
    """The domain rule set `version` of an uploaded `rule_set`, or None with every problem
    (fields under "rule_set."). Version, state, description, authors and times of `msg` are
    not the rules and are ignored, except that the description (the caller stores it) is
    checked. Policies left UNSPECIFIED are AT_SETTLEMENT, as the contract says.

    A list over its bound is refused from its length alone, before anything walks it: then
    the answer names the lists too long (and a bad description) and nothing else."""
    if version < 1:
        raise ValueError(f"rule set versions count from 1, not {version}")
    texts = Violations()
    texts.text("description", msg.description, maximum=MAX_DESCRIPTION, required=False)
    own = [FieldProblem(f, d) for f, d in texts.items]
    sizes = _size_problems(msg)
    if sizes:
        return None, _prefixed(own + sizes)
    own += _code_text_problems(msg)
    built, structural = _build(msg, version)
    own += structural
    checked = [_renamed(p) for p in rule_problems(built)]
    # A field the wire already refused (an enum not set, a control character) is named once,
    # for that; and the domain's verdict on an item whose enum was not set (a placeholder
    # stands in for it) says nothing about the request.
    named = [p.field for p in own]
    checked = [p for p in checked if not any(_covers(p.field, n) for n in named)]
    problems = own + checked
    if problems:
        return None, _prefixed(problems)
    return built, []


def rule_set_from_json(body: Mapping[str, Any]) -> RuleSet:
    """The rule set stored as `body`. Not validated again: a stored version never changes, so
    it stays readable whatever later versions of the rules refuse. A body that is not a rule
    set at all (unknown fields, enums not set) raises ValueError."""
    msg = res.RuleSet()
    try:
        json_format.ParseDict(dict(body), msg)
    except json_format.ParseError as exc:
        raise ValueError(f"stored rule set unreadable: {exc}") from exc
    if msg.version < 1:
        raise ValueError(f"stored rule set without a version: {msg.version}")
    built, structural = _build(msg, msg.version)
    if structural:
        found = "; ".join(f"{p.field}: {p.description}" for p in structural)
        raise ValueError(f"stored rule set {msg.version} unreadable: {found}")
    return built


# ---------------------------------------------------------------------------------------------
# proto → domain


def _size_problems(msg: res.RuleSet) -> list[FieldProblem]:
    problems: list[FieldProblem] = []

    def bound(path: str, items: Sequence[object], maximum: int) -> bool:
        if len(items) > maximum:
            problems.append(FieldProblem(path, f"at most {maximum} items"))
            return False
        return True

    bound("limits", msg.limits, MAX_ITEMS)
    bound("account.profile_fields", msg.account.profile_fields, MAX_PROFILE_FIELDS)
    bound("activity.points", msg.activity.points, MAX_ITEMS)
    bound("bands", msg.bands, MAX_ITEMS)
    bound("categories", msg.categories, MAX_CATEGORIES)
    for path, c in _curves(msg):
        bound(f"{path}.points", c.points, curves.MAX_POINTS)
    if bound("badges", msg.badges, MAX_CATEGORIES):
        for i, badge in enumerate(msg.badges):
            bound(f"badges[{i}].levels", badge.levels, rules.MAX_BADGE_LEVELS)
    if bound("gift_packs", msg.gift_packs, MAX_ITEMS):
        for i, pack in enumerate(msg.gift_packs):
            bound(f"gift_packs[{i}].coupons", pack.coupons, MAX_PACK_COUPONS)
    bound("tier_offers", msg.tier_offers, MAX_CATEGORIES)
    bound("badge_offers", msg.badge_offers, MAX_BADGE_OFFERS)
    return problems


def _curves(msg: res.RuleSet) -> list[tuple[str, res.Curve]]:
    return [
        ("account.linked", msg.account.linked),
        ("account.profile", msg.account.profile),
        ("consumption.spend", msg.consumption.spend),
        ("consumption.orders", msg.consumption.orders),
        ("consumption.breadth", msg.consumption.breadth),
        ("consumption.platform", msg.consumption.platform),
        ("risk.reputation", msg.risk.reputation),
        ("risk.credit", msg.risk.credit),
    ]


def _code_text_problems(msg: res.RuleSet) -> list[FieldProblem]:
    """Control characters (and overlong values) in the codes, which the domain would only
    call malformed or unknown: named as what they are."""
    v = Violations()
    texts: list[tuple[str, str]] = [
        (f"account.profile_fields[{i}]", f) for i, f in enumerate(msg.account.profile_fields)
    ]
    texts += [(f"categories[{i}]", c) for i, c in enumerate(msg.categories)]
    texts += [(f"badges[{i}].category", b.category) for i, b in enumerate(msg.badges)]
    for i, pack in enumerate(msg.gift_packs):
        texts += [
            (f"gift_packs[{i}].coupons[{j}].code", c.code) for j, c in enumerate(pack.coupons)
        ]
    texts += [
        (f"tier_offers[{i}].benefit.code", o.benefit.code) for i, o in enumerate(msg.tier_offers)
    ]
    for i, offer in enumerate(msg.badge_offers):
        texts += [
            (f"badge_offers[{i}].category", offer.category),
            (f"badge_offers[{i}].benefit.code", offer.benefit.code),
        ]
    for path, value in texts:
        v.text(path, value, maximum=MAX_CODE, required=False)
    return [FieldProblem(f, d) for f, d in v.items]


def _enum(
    value: int, table: Mapping[int, _E], path: str, problems: list[FieldProblem]
) -> _E | None:
    if value in table:
        return table[value]
    problems.append(FieldProblem(path, "required" if value == 0 else f"unknown value {value}"))
    return None


def _first_missing(candidates: Iterable[_E], named: Iterable[_E | None]) -> _E | None:
    taken = set(named)
    return next((c for c in candidates if c not in taken), None)


def _curve(c: res.Curve) -> curves.Curve:
    return curves.Curve(tuple((p.x, p.y) for p in c.points))


def _build(msg: res.RuleSet, version: int) -> tuple[RuleSet, list[FieldProblem]]:
    """The domain rule set of `msg` and the enums it leaves unset or unknown. An item whose
    enum is missing gets a placeholder, chosen so as not to clash with the other items, so
    the rest of the rule set is still checked (the placeholder never leaves this module: a
    rule set with problems is refused)."""
    problems: list[FieldProblem] = []

    components = [COMPONENTS.get(limit.component) for limit in msg.limits]
    limits = []
    for i, limit in enumerate(msg.limits):
        component = _enum(limit.component, COMPONENTS, f"limits[{i}].component", problems)
        component = component or _first_missing(Component, components) or Component.ACCOUNT
        limits.append(Limit(component, limit.weight_bp, limit.cap))

    kinds = [ACTIVITY_KINDS.get(p.kind) for p in msg.activity.points]
    points = []
    for i, p in enumerate(msg.activity.points):
        kind = _enum(p.kind, ACTIVITY_KINDS, f"activity.points[{i}].kind", problems)
        kind = kind or _first_missing(ActivityKind, kinds) or ActivityKind.REVIEW
        points.append((kind, p.points))

    bands = []
    for i, band in enumerate(msg.bands):
        tier = _enum(band.tier, TIERS, f"bands[{i}].tier", problems)
        # Bands go in Tier order: the tier expected at i cannot make an order problem up.
        bands.append(Band(tier or list(Tier)[min(i, len(Tier) - 1)], band.min_score))

    upgrade = UpgradePolicy.AT_SETTLEMENT  # the contract's default for UNSPECIFIED
    if msg.policy.upgrade:
        upgrade = _enum(msg.policy.upgrade, UPGRADES, "policy.upgrade", problems) or upgrade
    downgrade = DowngradePolicy.AT_SETTLEMENT
    if msg.policy.downgrade:
        downgrade = (
            _enum(msg.policy.downgrade, DOWNGRADES, "policy.downgrade", problems) or downgrade
        )

    pack_tiers = [TIERS.get(pack.tier) for pack in msg.gift_packs]
    packs = []
    for i, pack in enumerate(msg.gift_packs):
        tier = _enum(pack.tier, TIERS, f"gift_packs[{i}].tier", problems)
        tier = tier or _first_missing(list(Tier)[1:], pack_tiers) or Tier.BRONZE
        coupons = tuple(Coupon(c.code, c.quantity, c.value_minor) for c in pack.coupons)
        packs.append(GiftPack(tier, pack.points, coupons))

    # A benefit kind not set takes the kind its code has elsewhere, so that it makes up no
    # CONFLICT for the offers that do name one.
    known_kinds: dict[str, BenefitKind] = {}
    for b in [o.benefit for o in msg.tier_offers] + [o.benefit for o in msg.badge_offers]:
        if b.kind in BENEFIT_KINDS:
            known_kinds.setdefault(b.code, BENEFIT_KINDS[b.kind])

    def benefit(b: res.Benefit, path: str) -> Benefit:
        kind = _enum(b.kind, BENEFIT_KINDS, f"{path}.kind", problems)
        kind = kind or known_kinds.get(b.code, BenefitKind.PRICE)
        return Benefit(b.code, kind, b.high_cost, b.monthly_quantity)

    offer_keys = {(TIERS.get(o.min_tier), o.benefit.code) for o in msg.tier_offers}
    tier_offers = []
    for i, offer in enumerate(msg.tier_offers):
        min_tier = _enum(offer.min_tier, TIERS, f"tier_offers[{i}].min_tier", problems)
        if min_tier is None:
            free = [t for t in Tier if (t, offer.benefit.code) not in offer_keys]
            min_tier = free[0] if free else Tier.REGISTERED
        tier_offers.append(TierOffer(min_tier, benefit(offer.benefit, f"tier_offers[{i}].benefit")))
    badge_offers = tuple(
        BadgeOffer(o.category, o.min_level, benefit(o.benefit, f"badge_offers[{i}].benefit"))
        for i, o in enumerate(msg.badge_offers)
    )

    account, consumption, activity, risk = msg.account, msg.consumption, msg.activity, msg.risk
    built = RuleSet(
        version=version,
        currency=msg.currency,
        limits=tuple(limits),
        account=AccountRules(
            verified=account.verified,
            linked=_curve(account.linked),
            profile=_curve(account.profile),
            profile_fields=tuple(account.profile_fields),
        ),
        consumption=ConsumptionRules(
            spend=_curve(consumption.spend),
            orders=_curve(consumption.orders),
            breadth=_curve(consumption.breadth),
            platform=_curve(consumption.platform),
        ),
        activity=ActivityRules(points=tuple(points), monthly_cap=activity.monthly_cap),
        risk=RiskRules(
            reputation=_curve(risk.reputation),
            credit=_curve(risk.credit),
            threshold=risk.threshold,
        ),
        bands=tuple(bands),
        policy=TierPolicy(upgrade, downgrade, msg.policy.grace_months),
        categories=tuple(msg.categories),
        badges=tuple(
            BadgeRule(
                b.category,
                tuple(BadgeLevel(x.level, x.min_spend_minor, x.min_orders) for x in b.levels),
            )
            for b in msg.badges
        ),
        gift_packs=tuple(packs),
        tier_offers=tuple(tier_offers),
        badge_offers=badge_offers,
    )
    return built, problems


def _renamed(problem: FieldProblem) -> FieldProblem:
    for pattern, suffix in _RENAMES:
        if pattern.fullmatch(problem.field):
            return FieldProblem(problem.field + suffix, problem.description, problem.reason)
    return problem


def _covers(path: str, named: str) -> bool:
    """Whether a problem at `path` is about the field `named` or the item holding it
    (`tier_offers[2]` holds `tier_offers[2].min_tier`); a whole list (`bands`) is not."""
    return named == path or named.startswith(path + ".")


def _prefixed(problems: list[FieldProblem]) -> list[FieldProblem]:
    return [FieldProblem(PREFIX + p.field, p.description, p.reason) for p in problems]
