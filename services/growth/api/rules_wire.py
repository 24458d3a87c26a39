"""The domain's `RuleSet` → the growth contract's `RuleSet` message and its stored JSON, and
the enum tables between the two (rules_convert.py reads an upload the other way).

The stored form (the `rule_sets.body` jsonb) is the message's proto3 JSON, so the database and
the API hold one shape.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, TypeVar

from google.protobuf import json_format

from loyalty.growth.v1 import resources_pb2 as res
from services.growth.domain import curves
from services.growth.domain.facts import ActivityKind
from services.growth.domain.rules import (
    Benefit,
    BenefitKind,
    Component,
    DowngradePolicy,
    RuleSet,
    Tier,
    UpgradePolicy,
)
from services.kit import timestamps

_E = TypeVar("_E", bound=Enum)


def _from_wire(enum: type[_E], prefix: str, wrapper: Any) -> dict[int, _E]:
    """Proto value → domain member, by name (TIER_GOLD → Tier.GOLD); a domain member the
    contract lacks fails at import, not on a request."""
    return {wrapper.Value(f"{prefix}_{member.name}"): member for member in enum}


TIERS = _from_wire(Tier, "TIER", res.Tier)
COMPONENTS = _from_wire(Component, "COMPONENT", res.Component)
ACTIVITY_KINDS = _from_wire(ActivityKind, "ACTIVITY_KIND", res.ActivityKind)
UPGRADES = _from_wire(UpgradePolicy, "UPGRADE_POLICY", res.UpgradePolicy)
DOWNGRADES = _from_wire(DowngradePolicy, "DOWNGRADE_POLICY", res.DowngradePolicy)
BENEFIT_KINDS = _from_wire(BenefitKind, "BENEFIT_KIND", res.BenefitKind)
_TO_WIRE: dict[Enum, int] = {
    member: value
    for table in (TIERS, COMPONENTS, ACTIVITY_KINDS, UPGRADES, DOWNGRADES, BENEFIT_KINDS)
    for value, member in table.items()
}
# The rule_sets.state column's values.
STATES: dict[str, res.RuleSetState.ValueType] = {
    "": res.RULE_SET_STATE_UNSPECIFIED,
    "draft": res.RULE_SET_STATE_DRAFT,
    "active": res.RULE_SET_STATE_ACTIVE,
    "retired": res.RULE_SET_STATE_RETIRED,
}
# Fields of the message that are not the rules themselves: the stored JSON leaves them to the
# table's own columns.
_NOT_RULES = ("description", "state", "createdBy", "activatedBy")


def rule_set_to_proto(
    r: RuleSet,
    *,
    description: str = "",
    state: str = "",
    created_by: str = "",
    create_time: dt.datetime | None = None,
    activated_by: str = "",
    activate_time: dt.datetime | None = None,
    retire_time: dt.datetime | None = None,
) -> res.RuleSet:
    """The resource message of `r`; `state` is the rule_sets.state column's value ("draft",
    "active", "retired"; "" leaves it unset). ValidateRuleSet clears `version` itself."""
    msg = _rules_proto(r)
    msg.description = description
    msg.state = STATES[state]
    msg.created_by = created_by
    msg.activated_by = activated_by
    for name, value in (
        ("create_time", create_time),
        ("activate_time", activate_time),
        ("retire_time", retire_time),
    ):
        stamp = timestamps.to_proto(value)
        if stamp is not None:
            getattr(msg, name).CopyFrom(stamp)
    return msg


def rule_set_to_json(r: RuleSet) -> dict[str, Any]:
    """`r` as stored (rule_sets.body): the message's proto3 JSON, version and rules only, zeros
    written out so the stored rows read (and query) without knowing proto3's defaults."""
    body = json_format.MessageToDict(_rules_proto(r), always_print_fields_with_no_presence=True)
    for name in _NOT_RULES:
        body.pop(name, None)
    return body


# ---------------------------------------------------------------------------------------------
# domain → proto


def _wire(member: Enum) -> Any:
    return _TO_WIRE[member]


def _curve_proto(c: curves.Curve) -> res.Curve:
    return res.Curve(points=[res.CurvePoint(x=x, y=y) for x, y in c.points])


def _benefit_proto(b: Benefit) -> res.Benefit:
    return res.Benefit(
        code=b.code, kind=_wire(b.kind), high_cost=b.high_cost, monthly_quantity=b.monthly_quantity
    )


def _rules_proto(r: RuleSet) -> res.RuleSet:
    """The rules of `r` and its version; nothing of the resource's state."""
    return res.RuleSet(
        version=r.version,
        currency=r.currency,
        limits=[
            res.ComponentLimit(component=_wire(x.component), weight_bp=x.weight_bp, cap=x.cap)
            for x in r.limits
        ],
        account=res.AccountRules(
            verified=r.account.verified,
            linked=_curve_proto(r.account.linked),
            profile=_curve_proto(r.account.profile),
            profile_fields=r.account.profile_fields,
        ),
        consumption=res.ConsumptionRules(
            spend=_curve_proto(r.consumption.spend),
            orders=_curve_proto(r.consumption.orders),
            breadth=_curve_proto(r.consumption.breadth),
            platform=_curve_proto(r.consumption.platform),
        ),
        activity=res.ActivityRules(
            points=[res.ActivityPoints(kind=_wire(k), points=n) for k, n in r.activity.points],
            monthly_cap=r.activity.monthly_cap,
        ),
        risk=res.RiskRules(
            reputation=_curve_proto(r.risk.reputation),
            credit=_curve_proto(r.risk.credit),
            threshold=r.risk.threshold,
        ),
        bands=[res.TierBand(tier=_wire(b.tier), min_score=b.min_score) for b in r.bands],
        policy=res.TierPolicy(
            upgrade=_wire(r.policy.upgrade),
            downgrade=_wire(r.policy.downgrade),
            grace_months=r.policy.grace_months,
        ),
        categories=r.categories,
        badges=[
            res.BadgeRule(
                category=b.category,
                levels=[
                    res.BadgeLevel(
                        level=x.level, min_spend_minor=x.min_spend_minor, min_orders=x.min_orders
                    )
                    for x in b.levels
                ],
            )
            for b in r.badges
        ],
        gift_packs=[
            res.GiftPack(
                tier=_wire(p.tier),
                points=p.points,
                coupons=[
                    res.GiftCoupon(code=c.code, quantity=c.quantity, value_minor=c.value_minor)
                    for c in p.coupons
                ],
            )
            for p in r.gift_packs
        ],
        tier_offers=[
            res.TierOffer(min_tier=_wire(o.min_tier), benefit=_benefit_proto(o.benefit))
            for o in r.tier_offers
        ],
        badge_offers=[
            res.BadgeOffer(
                category=o.category, min_level=o.min_level, benefit=_benefit_proto(o.benefit)
            )
            for o in r.badge_offers
        ],
    )
