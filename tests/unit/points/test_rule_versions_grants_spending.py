"""Decisions behind UpsertEarningRule, Grant, caps, holds' order share and insufficient points."""

from __future__ import annotations

import datetime as dt

import pytest

from services.points.domain import rules, spending
from services.points.domain.refusals import FieldProblem, Refusal
from services.points.domain.rules import EarningRule

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def rule(**fields) -> EarningRule:
    return EarningRule(**{"rule_code": "task", "kind": "task", **fields})


def test_the_first_version_is_1_and_effective_now_unless_it_says_when():
    first = rules.next_version(None, rule(version=0), NOW)
    assert (first.version, first.effective_at) == (1, NOW)
    later = NOW + dt.timedelta(days=3)
    assert rules.next_version(None, rule(effective_at=later), NOW).effective_at == later


def test_a_new_version_is_numbered_after_the_newest_effective_or_not():
    latest = rule(version=7, effective_at=NOW + dt.timedelta(days=10))
    assert rules.next_version(latest, rule(points=3), NOW).version == 8


def test_a_rule_code_keeps_its_kind():
    refusal = rules.next_version(rule(version=2), rule(kind="review"), NOW)
    assert refusal == Refusal("RULE_KIND_CHANGED", "rule task is a task rule")


@pytest.mark.parametrize("kind", sorted(rules.NOT_GRANTABLE))
def test_rebates_sign_ins_and_adjustments_are_not_granted(kind):
    problem = rules.grant(rule(kind=kind, points=5), None, "")
    assert problem == FieldProblem(
        "rule_code", f"{kind} rules are not credited through Grant", "RULE_NOT_GRANTABLE"
    )


def test_grant_amounts():
    assert rules.grant(rule(points=10), None, "") == 10
    assert rules.grant(rule(), 7, "") == 7
    assert rules.grant(rule(), None, "") == FieldProblem("points", "required for this rule")
    assert rules.grant(rule(points=10), 11, "").field == "points"


def test_a_merchant_funded_grant_names_its_merchant():
    funded = rule(kind="shop_visit", points=10, merchant_funded=True)
    assert rules.grant(funded, None, "") == FieldProblem(
        "merchant_id", "required: the rule is merchant-funded"
    )
    assert rules.grant(funded, None, "shop-1") == 10


def test_a_disabled_rule_refuses_credits():
    assert rules.disabled(rule()) is None
    assert rules.disabled(rule(enabled=False)).reason == "RULE_DISABLED"


def test_caps_refuse_or_cut():
    capped = rule(daily_cap=50)
    assert rules.within_caps(capped, 30, None, "", clamp=False) == 30
    assert rules.within_caps(capped, 30, 30, rules.DAILY_CAP, clamp=False) == 30
    assert rules.within_caps(capped, 30, 20, rules.DAILY_CAP, clamp=True) == 20
    refusal = rules.within_caps(capped, 30, 20, rules.DAILY_CAP, clamp=False)
    assert (refusal.reason, refusal.metadata, refusal.quota) == (
        "DAILY_CAP_REACHED",
        {"remaining": "20"},
        True,
    )
    # Events are cut to what is left; with nothing left they are refused too.
    nothing = rules.within_caps(capped, 30, 0, rules.PERIOD_CAP, clamp=True)
    assert nothing.reason == "PERIOD_CAP_REACHED"


def test_a_hold_fits_the_order_share_with_the_order_other_holds():
    # 100 CNY at 50 % and 100 points per CNY: 5,000 points at most.
    assert spending.hold_share_problem(3_000, 2_000, 10_000, 50, 100) is None
    problem = spending.hold_share_problem(3_000, 2_500, 10_000, 50, 100)
    assert problem == FieldProblem(
        "points",
        "at most 2500 more points may be deducted from this order",
        "HOLD_EXCEEDS_ORDER_SHARE",
    )
    assert "at most 0 more" in spending.hold_share_problem(1, 6_000, 10_000, 50, 100).description


def test_spending_more_than_is_available_is_refused_with_what_is():
    assert spending.shortfall(100, 100) is None
    refusal = spending.shortfall(99, 100)
    assert refusal.reason == "INSUFFICIENT_POINTS"
    assert refusal.message == "100 points needed, 99 available"
    assert refusal.metadata == {"available": "99"}
