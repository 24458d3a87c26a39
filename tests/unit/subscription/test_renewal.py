"""When the renewal job charges, for how much (the version bought), retries and grace."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.kit.refusals import Refusal
from services.subscription.domain import changes, renewal
from services.subscription.domain import subscriptions as subs
from services.subscription.domain.lifecycle import MemberStatus, State
from services.subscription.domain.renewal import Charge, RenewalPolicy
from services.subscription.domain.terms import Channel
from tests.unit.subscription.samples import MONTHLY, MONTHLY_V2, TRIAL, YEARLY, ZONE, at, days

ACTIVE = MemberStatus.ACTIVE
T0 = at(2025, 1, 31, 10)  # the cycle is anchored on the 31st
END = at(2025, 2, 28, 10)
POLICY = RenewalPolicy()


def bought(plan=MONTHLY):
    return subs.activate(subs.new_order("m1", plan, T0), plan.price_minor, "CNY", T0, ZONE)


def charge(sub, now, member=ACTIVE, policy=POLICY):
    return renewal.charge(sub, member, now, ZONE, policy)


def reason(result):
    assert isinstance(result, Refusal), result
    return result.reason


def test_the_defaults():
    assert POLICY == RenewalPolicy(days(1), days(3), days(1), 3)


def test_a_charge_is_due_a_day_before_the_period_end():
    sub = bought()
    assert renewal.due_at(sub, POLICY) == END - days(1)
    got = charge(sub, END - days(1) - dt.timedelta(seconds=1))
    assert reason(got) == "RENEWAL_NOT_DUE"
    assert got.metadata == {"due_at": (END - days(1)).isoformat()}
    assert charge(sub, END - days(1)) == Charge(MONTHLY, 1_500, "CNY", END, at(2025, 3, 31, 10), 1)


def test_the_charge_is_the_version_bought_not_the_newest():
    # Version 2 costs 1,800 now; the subscriber bought version 1 at 1,500 and keeps it.
    assert MONTHLY_V2.price_minor == 1_800
    got = charge(bought(), END - days(1))
    assert got.plan == MONTHLY and got.amount_minor == 1_500


def test_a_scheduled_change_is_what_the_renewal_charges():
    sub = changes.schedule_change(bought(), YEARLY, T0)
    got = charge(sub, END - days(1))
    assert (got.plan, got.amount_minor, got.new_end) == (YEARLY, 19_800, at(2026, 2, 28, 10))


def test_each_attempt_is_counted_and_retried_a_day_later():
    sub = bought()
    first = charge(sub, END - days(1))
    sub = renewal.record_attempt(sub, END - days(1))
    assert (sub.attempts, sub.last_attempt_at) == (1, END - days(1))
    # No answer yet: not asked again before a day has passed …
    assert reason(charge(sub, END - days(0.5))) == "RENEWAL_NOT_DUE"
    # … the answer is a failure: grace, and a retry a day after the first attempt.
    sub = renewal.fail_renewal(sub, END, END - days(0.9))
    assert sub.state is State.GRACE and sub.grace_until == END + days(3)
    second = charge(sub, END)
    assert (second.attempt, second.renews_end) == (2, first.renews_end)
    sub = renewal.record_attempt(sub, END)
    third = charge(sub, END + days(1))
    sub = renewal.record_attempt(sub, END + days(1))
    assert third.attempt == 3
    got = charge(sub, END + days(2))
    assert reason(got) == "RENEWAL_ATTEMPTS_EXHAUSTED" and got.metadata == {"attempts": "3"}


def test_grace_entered_without_a_charge_is_charged_at_once():
    # A frozen member was not charged; the period ended unpaid → grace; unfrozen on day 1.
    sub = bought()
    assert reason(charge(sub, END - days(1), MemberStatus.FROZEN)) == "MEMBER_FROZEN"
    sub = renewal.on_clock(sub, END)
    assert sub.state is State.GRACE and renewal.due_at(sub, POLICY) == END
    assert charge(sub, END + days(1)).attempt == 1


def test_no_charge_after_grace_ends():
    sub = renewal.on_clock(bought(), END)
    assert reason(charge(sub, END + days(3))) == "SUBSCRIPTION_ENDED"


def test_a_successful_renewal_starts_the_count_again():
    sub = renewal.record_attempt(bought(), END - days(1))
    sub = renewal.renew(sub, END, END - days(1), ZONE)
    assert sub.attempts == 0 and sub.period_end == at(2025, 3, 31, 10)
    assert renewal.due_at(sub, POLICY) == at(2025, 3, 30, 10)


@pytest.mark.parametrize(
    ("make", "member", "expected"),
    [
        (lambda: subs.cancel(bought(), T0), MemberStatus.ACTIVE, "AUTO_RENEW_OFF"),
        (lambda: subs.start_free("m1", TRIAL, Channel.TRIAL, T0, ZONE), ACTIVE, "NOT_RENEWABLE"),
        (lambda: subs.start_free("m1", YEARLY, Channel.CODE, T0, ZONE), ACTIVE, "NOT_RENEWABLE"),
        (bought, MemberStatus.FROZEN, "MEMBER_FROZEN"),
        (bought, MemberStatus.CLOSED, "MEMBER_CLOSED"),
        (lambda: subs.new_order("m1", MONTHLY, T0), ACTIVE, "SUBSCRIPTION_PENDING_PAYMENT"),
        (lambda: subs.refund(bought(), [], T0)[0], ACTIVE, "SUBSCRIPTION_REFUNDED"),
    ],
)
def test_no_charge(make, member, expected):
    assert reason(charge(make(), END - days(1), member)) == expected


def test_due_at_is_none_outside_active_and_grace():
    assert renewal.due_at(subs.new_order("m1", MONTHLY, T0), POLICY) is None
    assert renewal.due_at(subs.refund(bought(), [], T0)[0], POLICY) is None


def test_the_new_end_keeps_the_anchor():
    # Renewing the period that ends 28 Feb (anchored on the 31st) ends 31 March.
    assert charge(bought(), END - days(1)).new_end == at(2025, 3, 31, 10)


def test_a_zero_lead_charges_at_the_end():
    policy = RenewalPolicy(lead=dt.timedelta(0))
    assert reason(charge(bought(), END - dt.timedelta(seconds=1), policy=policy)) == (
        "RENEWAL_NOT_DUE"
    )
    assert charge(bought(), END, policy=policy).attempt == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"lead": dt.timedelta(-1)},
        {"grace": dt.timedelta(0)},
        {"retry_every": dt.timedelta(0)},
        {"max_attempts": 0},
    ],
)
def test_a_policy_is_checked(bad):
    with pytest.raises(ValueError):
        dataclasses.replace(POLICY, **bad)
