"""The RuleSet message ⇄ the domain rule set: round trips, defaults, and every problem named by
the proto's field path under "rule_set."."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from loyalty.growth.v1 import resources_pb2 as res
from services.growth.api.rules_convert import rule_set_from_json, rule_set_from_proto
from services.growth.api.rules_wire import rule_set_to_json, rule_set_to_proto
from services.growth.domain.defaults import DEFAULT_RULES
from services.growth.domain.rules import DowngradePolicy, TierPolicy, UpgradePolicy

R = DEFAULT_RULES


def wire() -> res.RuleSet:
    """The default rule set as an upload would carry it."""
    return rule_set_to_proto(R)


def found(msg: res.RuleSet) -> set[tuple[str, str]]:
    rules, problems = rule_set_from_proto(msg, version=2)
    assert (rules is None) == bool(problems)
    return {(p.field, p.reason) for p in problems}


def descriptions(msg: res.RuleSet) -> dict[str, str]:
    return {p.field: p.description for p in rule_set_from_proto(msg, version=2)[1]}


def test_the_defaults_round_trip_through_the_message():
    back, problems = rule_set_from_proto(rule_set_to_proto(R), version=R.version)
    assert problems == []
    assert back == R


def test_the_upload_takes_the_version_given_not_the_message_s():
    msg = wire()
    msg.version = 40
    back, problems = rule_set_from_proto(msg, version=2)
    assert problems == []
    assert back == dataclasses.replace(R, version=2)


def test_the_defaults_round_trip_through_the_stored_json():
    body = rule_set_to_json(R)
    assert rule_set_from_json(body) == R
    # proto3 JSON: camelCase, enum names, int64 as strings, zeros written out
    assert body["version"] == 1
    assert body["bands"][0] == {"tier": "TIER_REGISTERED", "minScore": 0}
    assert body["consumption"]["spend"]["points"][0] == {"x": "0", "y": 0}
    assert body["policy"] == {
        "upgrade": "UPGRADE_POLICY_AT_SETTLEMENT",
        "downgrade": "DOWNGRADE_POLICY_AT_SETTLEMENT",
        "graceMonths": 0,
    }
    # the resource's own fields are the table's columns, not the body's
    assert not {"description", "state", "createdBy", "activatedBy", "createTime"} & body.keys()


def test_a_stored_body_that_is_no_rule_set_is_an_error_not_a_guess():
    body = rule_set_to_json(R)
    body["bands"][2]["tier"] = "TIER_UNSPECIFIED"
    with pytest.raises(ValueError, match=r"bands\[2\]\.tier"):
        rule_set_from_json(body)
    with pytest.raises(ValueError):
        rule_set_from_json({**rule_set_to_json(R), "spaceships": 1})
    with pytest.raises(ValueError, match="version"):
        rule_set_from_json({k: v for k, v in rule_set_to_json(R).items() if k != "version"})


def test_a_stored_version_stays_readable_whatever_the_rules_refuse():
    # Read back as stored, never validated again: a past version is never rewritten.
    odd = dataclasses.replace(R, activity=dataclasses.replace(R.activity, monthly_cap=-1))
    assert rule_set_from_json(rule_set_to_json(odd)) == odd


def test_the_resource_carries_state_description_and_times():
    created = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    msg = rule_set_to_proto(
        R,
        description="first rules",
        state="active",
        created_by="system",
        create_time=created,
        activated_by="operator:ops",
        activate_time=created + dt.timedelta(hours=1),
    )
    assert (msg.version, msg.state, msg.description) == (
        1,
        res.RULE_SET_STATE_ACTIVE,
        "first rules",
    )
    assert (msg.created_by, msg.activated_by) == ("system", "operator:ops")
    assert msg.create_time.ToDatetime(dt.UTC) == created
    assert msg.activate_time.ToDatetime(dt.UTC) == created + dt.timedelta(hours=1)
    assert not msg.HasField("retire_time")
    assert rule_set_to_proto(R).state == res.RULE_SET_STATE_UNSPECIFIED
    with pytest.raises(KeyError):
        rule_set_to_proto(R, state="archived")


def test_policies_left_unspecified_are_filled_with_the_contract_s_defaults():
    msg = wire()
    msg.ClearField("policy")
    rules, problems = rule_set_from_proto(msg, version=2)
    assert problems == []
    assert rules is not None and rules.policy == TierPolicy(
        UpgradePolicy.AT_SETTLEMENT, DowngradePolicy.AT_SETTLEMENT, 0
    )
    msg.policy.upgrade = res.UPGRADE_POLICY_IMMEDIATE
    rules, problems = rule_set_from_proto(msg, version=2)
    assert rules is not None and rules.policy == TierPolicy(
        UpgradePolicy.IMMEDIATE, DowngradePolicy.AT_SETTLEMENT, 0
    )
    # the stored (and validated) form names them
    assert rule_set_to_proto(rules).policy.downgrade == res.DOWNGRADE_POLICY_AT_SETTLEMENT


def test_overlapping_bands():
    msg = wire()
    msg.bands[3].min_score = 2000
    assert found(msg) == {("rule_set.bands[3].min_score", "OVERLAPPING_BANDS")}


def test_negative_weights_and_caps():
    msg = wire()
    msg.limits[2].weight_bp = -1
    msg.limits[4].cap = -5
    msg.activity.monthly_cap = -1
    assert found(msg) == {
        ("rule_set.limits[2].weight_bp", "NEGATIVE_WEIGHT"),
        ("rule_set.limits[4].cap", "NEGATIVE_CAP"),
        ("rule_set.activity.monthly_cap", "NEGATIVE_CAP"),
    }


def test_a_badge_of_a_category_the_rule_set_lacks():
    msg = wire()
    msg.badges[20].category = "spaceships"
    # and pets, left without a badge, has offers of levels it lacks
    assert found(msg) == {
        ("rule_set.badges[20].category", "UNKNOWN_CATEGORY"),
        ("rule_set.badge_offers[60].min_level", "INVALID_ARGUMENT"),
        ("rule_set.badge_offers[61].min_level", "INVALID_ARGUMENT"),
        ("rule_set.badge_offers[62].min_level", "INVALID_ARGUMENT"),
    }


def test_a_curve_whose_x_does_not_rise():
    msg = wire()
    msg.consumption.spend.points[2].x = msg.consumption.spend.points[1].x
    assert found(msg) == {("rule_set.consumption.spend.points[2].x", "UNSORTED")}


def test_a_curve_that_stops_diminishing():
    msg = wire()
    msg.consumption.orders.points[3].y = 2000
    assert found(msg) == {("rule_set.consumption.orders.points", "NOT_DIMINISHING")}


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda m: setattr(m.limits[1], "component", 0), "limits[1].component"),
        (lambda m: setattr(m.activity.points[0], "kind", 0), "activity.points[0].kind"),
        (lambda m: setattr(m.bands[2], "tier", 0), "bands[2].tier"),
        (lambda m: setattr(m.gift_packs[1], "tier", 0), "gift_packs[1].tier"),
        (lambda m: setattr(m.tier_offers[0], "min_tier", 0), "tier_offers[0].min_tier"),
        (lambda m: setattr(m.tier_offers[2].benefit, "kind", 0), "tier_offers[2].benefit.kind"),
        (lambda m: setattr(m.badge_offers[1].benefit, "kind", 0), "badge_offers[1].benefit.kind"),
    ],
)
def test_an_enum_left_unspecified_is_named_alone(spoil, field):
    msg = wire()
    spoil(msg)
    # nothing else: the item it belongs to is still checked, and makes nothing up
    assert found(msg) == {(f"rule_set.{field}", "INVALID_ARGUMENT")}
    assert descriptions(msg) == {f"rule_set.{field}": "required"}


def test_an_enum_value_the_contract_lacks():
    msg = wire()
    msg.policy.downgrade = 9  # type: ignore[assignment]
    msg.limits[0].component = 77  # type: ignore[assignment]
    assert descriptions(msg) == {
        "rule_set.policy.downgrade": "unknown value 9",
        "rule_set.limits[0].component": "unknown value 77",
    }


def test_a_kind_or_a_coupon_code_twice_is_named_by_the_proto_field():
    msg = wire()
    msg.activity.points[1].kind = msg.activity.points[0].kind
    msg.gift_packs[0].coupons.add(code="upgrade_coupon_5", quantity=1, value_minor=0)
    msg.gift_packs[1].coupons[0].code = "Upgrade"
    assert found(msg) == {
        ("rule_set.activity.points[1].kind", "DUPLICATE"),
        ("rule_set.gift_packs[0].coupons[1].code", "DUPLICATE"),
        ("rule_set.gift_packs[1].coupons[0].code", "INVALID_ARGUMENT"),
    }


def test_control_characters_in_codes_are_named_as_such():
    msg = wire()
    msg.gift_packs[0].coupons[0].code = "upgrade\x00coupon"
    msg.tier_offers[1].benefit.code = "birthday\ngift"
    msg.badge_offers[0].category = "appliances\x7f"
    assert descriptions(msg) == {
        "rule_set.gift_packs[0].coupons[0].code": "must not contain control characters",
        "rule_set.tier_offers[1].benefit.code": "must not contain control characters",
        "rule_set.badge_offers[0].category": "must not contain control characters",
    }


def test_the_description():
    msg = wire()
    msg.description = "x" * 1024
    assert found(msg) == set()
    msg.description = "x" * 1025
    assert found(msg) == {("rule_set.description", "INVALID_ARGUMENT")}
    msg.description = "raise\x00silver"
    assert descriptions(msg) == {"rule_set.description": "must not contain control characters"}


def test_lists_over_their_bound_are_refused_from_their_length():
    msg = wire()
    for i in range(101):
        msg.consumption.platform.points.add(x=i, y=i)
    msg.limits[2].weight_bp = -1  # not walked: the sizes come first
    msg.description = "x" * 2000  # checked all the same (no list in it)
    assert found(msg) == {
        ("rule_set.consumption.platform.points", "INVALID_ARGUMENT"),
        ("rule_set.description", "INVALID_ARGUMENT"),
    }
    msg = wire()
    msg.badges[0].levels.extend([res.BadgeLevel(level=i) for i in range(4, 12)])
    assert descriptions(msg) == {"rule_set.badges[0].levels": "at most 10 items"}


def test_every_problem_at_once():
    msg = wire()
    msg.currency = "cny"
    msg.bands[3].min_score = 1500
    msg.limits[2].weight_bp = -10
    msg.risk.threshold = -1
    msg.policy.grace_months = 13
    msg.categories.append("Books")
    msg.badge_offers[4].min_level = 9
    msg.tier_offers[0].benefit.kind = res.BENEFIT_KIND_UNSPECIFIED
    msg.description = "\x01"
    assert found(msg) == {
        ("rule_set.description", "INVALID_ARGUMENT"),
        ("rule_set.currency", "INVALID_ARGUMENT"),
        ("rule_set.bands[3].min_score", "OVERLAPPING_BANDS"),
        ("rule_set.limits[2].weight_bp", "NEGATIVE_WEIGHT"),
        ("rule_set.risk.threshold", "INVALID_ARGUMENT"),
        ("rule_set.policy.grace_months", "INVALID_ARGUMENT"),
        ("rule_set.categories[21]", "INVALID_ARGUMENT"),
        ("rule_set.badge_offers[4].min_level", "INVALID_ARGUMENT"),
        ("rule_set.tier_offers[0].benefit.kind", "INVALID_ARGUMENT"),
    }


def test_an_empty_upload_is_refused_field_by_field():
    problems = found(res.RuleSet())
    assert ("rule_set.currency", "INVALID_ARGUMENT") in problems
    assert ("rule_set.limits", "INVALID_ARGUMENT") in problems
    assert ("rule_set.bands", "UNSORTED_BANDS") in problems
    assert ("rule_set.consumption.spend.points", "INVALID_ARGUMENT") in problems
    assert all(field.startswith("rule_set.") for field, _ in problems)


def test_a_version_below_one_is_the_caller_s_mistake():
    with pytest.raises(ValueError):
        rule_set_from_proto(wire(), version=0)


def test_bands_out_of_order_hide_no_other_problem():
    msg = wire()
    msg.bands[1].tier, msg.bands[2].tier = msg.bands[2].tier, msg.bands[1].tier
    msg.policy.grace_months = 13
    assert found(msg) == {
        ("rule_set.bands", "UNSORTED_BANDS"),
        ("rule_set.policy.grace_months", "INVALID_ARGUMENT"),
    }
