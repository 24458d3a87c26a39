"""The resources GrowthAdminService answers with: a stored rule set version and a settlement.
Every RPC returning one builds it here, so GetSettlement shows what RunSettlement answered."""

from __future__ import annotations

from loyalty.growth.v1 import resources_pb2 as res
from services.kit import timestamps

from ..domain.rules import Tier
from ..usecases.rules import Version
from ..usecases.settlements import Figures
from .rules_wire import TIERS, rule_set_to_proto

SETTLEMENT_STATES = {
    "running": res.SETTLEMENT_STATE_RUNNING,
    "completed": res.SETTLEMENT_STATE_COMPLETED,
}
_TIER_WIRE: dict[Tier, res.Tier.ValueType] = {
    tier: res.Tier.ValueType(value) for value, tier in TIERS.items()
}


def rule_set_view(v: Version) -> res.RuleSet:
    return rule_set_to_proto(
        v.rules,
        description=v.description,
        state=v.state,
        created_by=v.created_by,
        create_time=v.created_at,
        activated_by=v.activated_by,
        activate_time=v.activated_at,
        retire_time=v.retired_at,
    )


def _stamp(target, value) -> None:
    stamp = timestamps.to_proto(value)
    if stamp is not None:
        target.CopyFrom(stamp)


def settlement_view(f: Figures) -> res.Settlement:
    msg = res.Settlement(
        period=f.period,
        state=SETTLEMENT_STATES[f.state],
        rule_set_version=f.rule_set_version,
        member_count=f.member_count,
        settled_count=f.settled,
        run_count=f.run_count,
        badges_awarded=f.badges_awarded,
        started_by=f.started_by,
        gifts=res.GiftCost(
            grants=f.gift_packs,
            points=f.gift_points,
            coupons=[res.CouponCount(code=c, quantity=n) for c, n in f.coupons.items()],
            coupon_value_minor=f.coupon_value_minor,
            currency_code=f.currency,
        ),
        tiers=[res.TierCount(tier=_TIER_WIRE[t], members=n) for t, n in f.tiers.items()],
        moves=[
            res.TierMove(from_tier=_TIER_WIRE[a], to_tier=_TIER_WIRE[b], members=n)
            for (a, b), n in f.moves.items()
        ],
    )
    _stamp(msg.settle_time, f.settle_time)
    _stamp(msg.window_start_time, f.window_start)
    _stamp(msg.start_time, f.started_at)
    _stamp(msg.complete_time, f.completed_at)
    return msg
