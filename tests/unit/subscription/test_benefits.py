"""Quota windows (calendar months and years of the business zone), remaining quota, the claim
decision and its refusals, inventory warnings, what storefronts read."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.kit.refusals import Refusal
from services.subscription.domain import benefits, renewal
from services.subscription.domain import subscriptions as subs
from services.subscription.domain.benefits import InventoryLevel, MemberTerms
from services.subscription.domain.lifecycle import MemberStatus
from services.subscription.domain.plans import QuotaWindow
from services.subscription.domain.terms import Channel
from tests.unit.subscription.samples import MONTHLY, TRIAL, YEARLY, ZONE, at, days

ACTIVE = MemberStatus.ACTIVE
T0 = at(2025, 6, 10, 12)


def bought(plan=MONTHLY, now=T0):
    return subs.activate(subs.new_order("m1", plan, now), plan.price_minor, "CNY", now, ZONE)


def claim(sub, benefit_id="free_shipping", used=0, left=None, now=T0, member=ACTIVE):
    return benefits.claim(sub, member, benefit_id, used, left, now, ZONE)


def reason(result):
    assert isinstance(result, Refusal), result
    return result.reason


# --- windows -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "month", "year"),
    [
        (at(2025, 6, 10, 12), "2025-06", "2025"),
        (at(2025, 6, 1, 0, 0), "2025-06", "2025"),
        (at(2025, 5, 31, 23, 59), "2025-05", "2025"),
        (at(2025, 12, 31, 23, 59), "2025-12", "2025"),
        (at(2026, 1, 1), "2026-01", "2026"),
    ],
)
def test_period_keys_follow_the_business_calendar(instant, month, year):
    assert benefits.period_key(instant, QuotaWindow.MONTH, ZONE) == month
    assert benefits.period_key(instant, QuotaWindow.YEAR, ZONE) == year


def test_a_window_is_the_business_zones_not_utc():
    # 16:30 UTC on 31 May is 00:30 on 1 June in Shanghai: June's window already.
    instant = dt.datetime(2025, 5, 31, 16, 30, tzinfo=dt.UTC)
    assert benefits.period_key(instant, QuotaWindow.MONTH, ZONE) == "2025-06"
    assert benefits.period_key(instant, QuotaWindow.MONTH, "UTC") == "2025-05"


@pytest.mark.parametrize(
    ("instant", "window", "end"),
    [
        (at(2025, 6, 10, 12), QuotaWindow.MONTH, at(2025, 7, 1)),
        (at(2025, 12, 31, 23), QuotaWindow.MONTH, at(2026, 1, 1)),
        (at(2025, 6, 10), QuotaWindow.YEAR, at(2026, 1, 1)),
        (at(2025, 6, 30, 23, 59), QuotaWindow.MONTH, at(2025, 7, 1)),
    ],
)
def test_window_end_is_the_reset(instant, window, end):
    assert benefits.window_end(instant, window, ZONE) == end


def test_quotas_show_what_is_left_per_benefit():
    got = benefits.quotas(YEARLY, {"free_shipping": 3, "video_vip": 1}, T0, ZONE)
    assert [(q.benefit_id, q.limit, q.used, q.remaining, q.period_key) for q in got] == [
        ("free_shipping", 4, 3, 1, "2025-06"),
        ("video_vip", 1, 1, 0, "2025"),
        ("return_pickup", 2, 0, 2, "2025-06"),
    ]
    assert got[0].resets_at == at(2025, 7, 1) and got[1].resets_at == at(2026, 1, 1)
    # Claims counted under a larger limit of an older plan never show a negative remainder.
    assert benefits.quotas(MONTHLY, {"free_shipping": 9}, T0, ZONE)[0].remaining == 0
    assert benefits.window_keys(YEARLY, T0, ZONE) == {
        "free_shipping": "2025-06",
        "video_vip": "2025",
        "return_pickup": "2025-06",
    }


# --- claims --------------------------------------------------------------------------------------------
def test_a_claim_within_quota_is_granted():
    got = claim(bought(), used=2)
    assert not isinstance(got, Refusal)
    assert (got.benefit.benefit_id, got.period_key, got.remaining) == (
        "free_shipping",
        "2025-06",
        1,
    )
    assert not got.takes_inventory


def test_the_last_claim_of_a_window_and_the_one_after():
    assert claim(bought(), used=3).remaining == 0
    refusal = claim(bought(), used=4)
    assert reason(refusal) == "QUOTA_EXHAUSTED" and refusal.quota  # RESOURCE_EXHAUSTED
    # Retry when June ends: from 10 June 12:00 to 1 July 00:00 is 20.5 days.
    assert refusal.metadata == {
        "benefit_id": "free_shipping",
        "period_key": "2025-06",
        "limit": "4",
        "retry_after_seconds": str(int(days(20.5).total_seconds())),
    }


def test_a_new_month_brings_a_new_quota():
    sub = bought(now=at(2025, 6, 30, 12))
    assert reason(claim(sub, used=4, now=at(2025, 6, 30, 23, 59))) == "QUOTA_EXHAUSTED"
    # The caller counts the July window (a fresh counter): the claim passes.
    assert claim(sub, used=0, now=at(2025, 7, 1)).period_key == "2025-07"


def test_a_partner_perk_takes_from_inventory():
    sub = bought(YEARLY)
    got = claim(sub, "video_vip", left=1)
    assert got.takes_inventory and got.period_key == "2025"
    assert reason(claim(sub, "video_vip", left=0)) == "PERK_OUT_OF_STOCK"
    assert not claim(sub, "video_vip", left=0).quota
    # The member's own quota is told first: it says when to come back.
    assert reason(claim(sub, "video_vip", used=1, left=0)) == "QUOTA_EXHAUSTED"
    with pytest.raises(ValueError):
        claim(sub, "video_vip", left=None)


def test_service_perks_have_quotas_without_inventory():
    assert claim(bought(), "return_pickup", used=1).remaining == 0
    assert reason(claim(bought(), "return_pickup", used=2)) == "QUOTA_EXHAUSTED"


def test_claims_are_refused_without_a_subscription_giving_benefits():
    assert reason(claim(None)) == "NO_ACTIVE_SUBSCRIPTION"
    assert claim(None).metadata == {}
    pending = subs.new_order("m1", MONTHLY, T0)
    assert reason(claim(pending)) == "NO_ACTIVE_SUBSCRIPTION"
    assert claim(pending).metadata == {"state": "pending_payment"}
    sub = bought()
    # Past the period end before the expiry job ran: refused all the same.
    assert reason(claim(sub, now=sub.period_end)) == "NO_ACTIVE_SUBSCRIPTION"
    refunded, _ = subs.refund(sub, [], T0)
    assert reason(claim(refunded)) == "NO_ACTIVE_SUBSCRIPTION"


def test_claims_in_grace_are_granted_until_grace_ends():
    sub = renewal.fail_renewal(bought(), bought().period_end, T0 + days(29))
    assert claim(sub, now=T0 + days(32)).period_key == "2025-07"
    assert reason(claim(sub, now=T0 + days(33))) == "NO_ACTIVE_SUBSCRIPTION"


def test_a_frozen_or_closed_member_cannot_claim():
    assert reason(claim(bought(), member=MemberStatus.FROZEN)) == "MEMBER_FROZEN"
    assert reason(claim(bought(), member=MemberStatus.CLOSED)) == "MEMBER_CLOSED"


def test_a_benefit_not_in_the_current_plan():
    assert reason(claim(bought(), "video_vip", left=5)) == "BENEFIT_NOT_IN_PLAN"
    # After a stacked yearly term starts, its benefits apply.
    sub = subs.extend(bought(), YEARLY, Channel.PURCHASE, 19_800, T0, ZONE)
    assert claim(sub, "video_vip", left=5, now=T0 + days(31)).takes_inventory


def test_a_trials_own_smaller_quota_applies():
    sub = subs.start_free("m1", TRIAL, Channel.TRIAL, T0, ZONE)
    assert reason(claim(sub, used=1)) == "QUOTA_EXHAUSTED"


# --- inventory ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("left", "level"),
    [(100, "ok"), (21, "ok"), (20, "low"), (1, "low"), (0, "empty"), (-1, "empty")],
)
def test_inventory_levels(left, level):
    assert benefits.inventory_level(left) is InventoryLevel(level)


def test_operators_are_warned_once_per_crossing():
    assert benefits.inventory_warning(22, 21) is None
    assert benefits.inventory_warning(21, 20) is InventoryLevel.LOW
    assert benefits.inventory_warning(20, 19) is None  # still low: no second warning
    assert benefits.inventory_warning(1, 0) is InventoryLevel.EMPTY
    assert benefits.inventory_warning(21, 0) is InventoryLevel.EMPTY  # straight to empty
    assert benefits.inventory_warning(0, 500) is None  # an upload lifts it
    assert benefits.inventory_warning(6, 5, threshold=5) is InventoryLevel.LOW


def test_a_level_worse_than_the_one_remembered_is_warned_of():
    ok, low, empty = InventoryLevel.OK, InventoryLevel.LOW, InventoryLevel.EMPTY
    assert benefits.level_warning(ok, 21) is None
    assert benefits.level_warning(ok, 20) is InventoryLevel.LOW
    assert benefits.level_warning(low, 3) is None  # told already
    assert benefits.level_warning(low, 0) is InventoryLevel.EMPTY
    assert benefits.level_warning(empty, 0) is None
    assert benefits.level_warning(empty, 10) is None  # an upload lifting it warns of nothing
    assert benefits.level_warning(ok, 50, threshold=100) is InventoryLevel.LOW  # raised


# --- storefronts ---------------------------------------------------------------------------------------
def test_member_terms_while_entitled_and_after():
    sub = bought()
    assert benefits.member_terms(sub, T0) == MemberTerms(10, 500)
    assert benefits.member_terms(sub, sub.period_end) == MemberTerms(1, 0)
    assert benefits.member_terms(None, T0) == MemberTerms(1, 0)
    plain = dataclasses.replace(MONTHLY, points_multiplier=5, member_discount_bp=0)
    assert benefits.member_terms(bought(plain), T0) == MemberTerms(5, 0)


def test_a_frozen_or_closed_member_has_no_member_price_nor_multiplier():
    sub = bought()
    for status in (MemberStatus.FROZEN, MemberStatus.CLOSED):
        assert benefits.member_terms(sub, T0, status) == MemberTerms(1, 0)
