"""The subscription record through each operation: starting, paying, stacking, renewing, grace,
the clock, cancel/resume, plan changes, closing."""

from __future__ import annotations

import dataclasses

import pytest

from services.kit.refusals import Refusal
from services.subscription.domain import changes, renewal
from services.subscription.domain import subscriptions as subs
from services.subscription.domain.lifecycle import MemberStatus, State
from services.subscription.domain.subscriptions import Acquisition, Subscription
from services.subscription.domain.terms import Channel, contiguous
from tests.unit.subscription.samples import (
    MONTHLY,
    MONTHLY_USD,
    MONTHLY_V2,
    QUARTERLY,
    TRIAL,
    YEARLY,
    ZONE,
    at,
    days,
)

ACTIVE, FROZEN, CLOSED = MemberStatus.ACTIVE, MemberStatus.FROZEN, MemberStatus.CLOSED
T0 = at(2025, 6, 1)  # June has 30 days: T0 + 1 month = T0 + 30 days


def ok(result):
    assert not isinstance(result, Refusal), result
    return result


def refused(result, reason):
    assert isinstance(result, Refusal), result
    assert result.reason == reason, result
    return result


def bought(plan=MONTHLY, now=T0) -> Subscription:
    return ok(subs.activate(subs.new_order("m1", plan, now), plan.price_minor, "CNY", now, ZONE))


def trial(now=T0) -> Subscription:
    return subs.start_free("m1", TRIAL, Channel.TRIAL, now, ZONE)


def in_grace() -> Subscription:
    """Its renewal failed a day before the period end: grace to T0 + 33 days."""
    sub = bought()
    return ok(renewal.fail_renewal(sub, sub.period_end, T0 + days(29)))


# --- acquisition ---------------------------------------------------------------------------------
def test_a_new_member_buys_a_new_subscription():
    assert subs.acquisition(ACTIVE, None, MONTHLY, Channel.PURCHASE, had_trial=False) is (
        Acquisition.NEW
    )
    assert subs.acquisition(ACTIVE, None, TRIAL, Channel.TRIAL, had_trial=False) is (
        Acquisition.NEW
    )


def test_buying_while_active_or_in_grace_extends():
    for current in (bought(), in_grace()):
        got = subs.acquisition(ACTIVE, current, YEARLY, Channel.PURCHASE, had_trial=True)
        assert got is Acquisition.EXTEND
        got = subs.acquisition(ACTIVE, current, YEARLY, Channel.CODE, had_trial=True)
        assert got is Acquisition.EXTEND


def test_buying_after_the_end_starts_afresh():
    expired = renewal.on_clock(dataclasses.replace(bought(), auto_renew=False), T0 + days(30))
    assert expired is not None and expired.state is State.EXPIRED
    got = subs.acquisition(ACTIVE, expired, MONTHLY, Channel.PURCHASE, had_trial=False)
    assert got is Acquisition.NEW


@pytest.mark.parametrize(
    ("member", "current", "plan", "channel", "had_trial", "reason"),
    [
        (FROZEN, None, MONTHLY, Channel.PURCHASE, False, "MEMBER_FROZEN"),
        (FROZEN, None, MONTHLY, Channel.CODE, False, "MEMBER_FROZEN"),
        (CLOSED, None, MONTHLY, Channel.PURCHASE, False, "MEMBER_CLOSED"),
        (ACTIVE, None, TRIAL, Channel.TRIAL, True, "TRIAL_ALREADY_USED"),
        (ACTIVE, "active", TRIAL, Channel.TRIAL, False, "SUBSCRIPTION_ALREADY_ACTIVE"),
        (ACTIVE, "pending", TRIAL, Channel.TRIAL, False, "SUBSCRIPTION_ALREADY_ACTIVE"),
        (ACTIVE, "pending", MONTHLY, Channel.PURCHASE, False, "SUBSCRIPTION_PENDING_PAYMENT"),
        (ACTIVE, "pending", MONTHLY, Channel.CODE, False, "SUBSCRIPTION_PENDING_PAYMENT"),
        (ACTIVE, "active", MONTHLY_USD, Channel.PURCHASE, False, "CURRENCY_MISMATCH"),
    ],
)
def test_acquisition_refusals(member, current, plan, channel, had_trial, reason):
    sub = {"active": bought(), "pending": subs.new_order("m1", MONTHLY, T0), None: None}[current]
    refused(subs.acquisition(member, sub, plan, channel, had_trial=had_trial), reason)


def test_the_trial_channel_and_trial_plans_go_together():
    with pytest.raises(ValueError):
        subs.acquisition(ACTIVE, None, TRIAL, Channel.PURCHASE, had_trial=False)
    with pytest.raises(ValueError):
        subs.acquisition(ACTIVE, None, MONTHLY, Channel.TRIAL, had_trial=False)
    with pytest.raises(ValueError):
        subs.new_order("m1", TRIAL, T0)
    with pytest.raises(ValueError):
        subs.start_free("m1", MONTHLY, Channel.PURCHASE, T0, ZONE)


# --- first payment -----------------------------------------------------------------------------------
def test_payment_activates_from_now():
    pending = subs.new_order("m1", MONTHLY, T0)
    assert pending.state is State.PENDING_PAYMENT and pending.period_end is None
    assert not pending.entitled(T0) and pending.benefits_end is None
    paid_at = T0 + days(0.01)
    sub = ok(subs.activate(pending, 1_500, "CNY", paid_at, ZONE))
    assert sub.state is State.ACTIVE and sub.auto_renew and sub.renewal_plan == MONTHLY
    (term,) = sub.terms
    assert (term.start, term.end, term.paid_minor) == (paid_at, paid_at + days(30), 1_500)
    assert term.paid_at == paid_at and term.channel is Channel.PURCHASE
    assert sub.anchor_day == 1 and sub.paid_minor == 1_500
    assert sub.entitled(paid_at) and not sub.entitled(sub.period_end)


def test_a_payment_is_confirmed_once_and_for_the_price():
    pending = subs.new_order("m1", MONTHLY, T0)
    refused(subs.activate(pending, 1_499, "CNY", T0, ZONE), "PAYMENT_MISMATCH")
    refused(subs.activate(pending, 1_500, "USD", T0, ZONE), "PAYMENT_MISMATCH")
    sub = ok(subs.activate(pending, 1_500, "CNY", T0, ZONE))
    refused(subs.activate(sub, 1_500, "CNY", T0, ZONE), "PAYMENT_ALREADY_CONFIRMED")
    refused(subs.fail_payment(sub, T0), "PAYMENT_ALREADY_CONFIRMED")
    refused(subs.abandon(sub, T0), "PAYMENT_ALREADY_CONFIRMED")


def test_a_failed_or_abandoned_order_is_cancelled():
    for end in (subs.fail_payment, subs.abandon):
        sub = ok(end(subs.new_order("m1", MONTHLY, T0), T0 + days(0.5)))
        assert sub.state is State.CANCELLED and sub.ended_at == T0 + days(0.5)
        refused(subs.activate(sub, 1_500, "CNY", T0, ZONE), "SUBSCRIPTION_CANCELLED")


# --- free starts -----------------------------------------------------------------------------------
def test_a_trial_is_active_at_once_and_never_renews():
    sub = trial()
    assert sub.state is State.ACTIVE and sub.period_end == T0 + days(7)
    assert not sub.auto_renew and sub.renewal_plan is None and sub.paid_minor == 0
    assert sub.anchor_day is None  # days have no anchor
    refused(subs.cancel(sub, T0), "NOT_RENEWABLE")
    refused(subs.resume(sub, T0), "NOT_RENEWABLE")
    refused(changes.schedule_change(sub, MONTHLY, T0), "NOT_RENEWABLE")
    refused(renewal.renew(sub, sub.period_end, T0, ZONE), "NOT_RENEWABLE")


def test_a_code_starts_a_subscription_that_does_not_renew():
    sub = subs.start_free("m1", YEARLY, Channel.CODE, T0, ZONE)
    assert sub.period_end == at(2026, 6, 1) and sub.paid_minor == 0
    assert sub.terms[0].channel is Channel.CODE and not sub.auto_renew


# --- stacking ------------------------------------------------------------------------------------------
def test_buying_while_active_extends_the_period_end():
    sub = bought(now=at(2025, 1, 31, 10))
    assert sub.period_end == at(2025, 2, 28, 10)
    sub = ok(subs.extend(sub, MONTHLY, Channel.PURCHASE, 1_500, at(2025, 2, 10), ZONE))
    # The new term follows the old one and keeps the cycle's anchor (31): ends 31 March.
    assert [t.end for t in sub.terms] == [at(2025, 2, 28, 10), at(2025, 3, 31, 10)]
    assert sub.terms[1].paid_at == at(2025, 2, 10)
    sub = ok(subs.extend(sub, YEARLY, Channel.PURCHASE, 19_800, at(2025, 2, 11), ZONE))
    assert sub.period_end == at(2026, 3, 31, 10)
    assert sub.renewal_plan == YEARLY  # renewals charge what was bought last
    assert contiguous(sub.terms) and sub.paid_minor == 1_500 * 2 + 19_800


def test_buying_after_a_trial_stacks_and_turns_auto_renew_on():
    sub = ok(subs.extend(trial(), MONTHLY, Channel.PURCHASE, 1_500, T0 + days(2), ZONE))
    assert sub.terms[1].start == T0 + days(7)  # the paid month starts when the trial ends
    assert sub.terms[1].end == at(2025, 7, 8)
    assert sub.anchor_day == 8 and sub.auto_renew and sub.renewal_plan == MONTHLY


def test_a_code_stacks_without_changing_the_renewal():
    sub = ok(subs.extend(bought(), QUARTERLY, Channel.CODE, 0, T0 + days(1), ZONE))
    assert sub.period_end == at(2025, 10, 1) and sub.renewal_plan == MONTHLY and sub.auto_renew
    on_trial = ok(subs.extend(trial(), MONTHLY, Channel.GIFT, 0, T0, ZONE))
    assert not on_trial.auto_renew and on_trial.renewal_plan is None


def test_buying_in_grace_settles_the_failed_renewal():
    sub = in_grace()
    end = sub.period_end
    sub = ok(subs.extend(sub, MONTHLY, Channel.PURCHASE, 1_500, end + days(1), ZONE))
    assert sub.state is State.ACTIVE and sub.grace_until is None and sub.attempts == 0
    assert sub.terms[-1].start == end  # the grace day belongs to the new term


def test_extend_refusals():
    sub = bought()
    refused(subs.extend(sub, MONTHLY_USD, Channel.PURCHASE, 299, T0, ZONE), "CURRENCY_MISMATCH")
    pending = subs.new_order("m1", MONTHLY, T0)
    refused(
        subs.extend(pending, MONTHLY, Channel.PURCHASE, 1_500, T0, ZONE),
        "SUBSCRIPTION_PENDING_PAYMENT",
    )
    ended = ok(subs.refund(sub, [], T0))[0]
    refused(subs.extend(ended, MONTHLY, Channel.PURCHASE, 1_500, T0, ZONE), "SUBSCRIPTION_REFUNDED")
    with pytest.raises(ValueError):
        subs.extend(sub, MONTHLY, Channel.RENEWAL, 1_500, T0, ZONE)


# --- renewal ----------------------------------------------------------------------------------------------
def test_a_renewal_adds_a_term_of_the_renewal_plan_from_the_old_end():
    sub = dataclasses.replace(bought(), attempts=1, last_attempt_at=T0 + days(29))
    renewed = ok(renewal.renew(sub, sub.period_end, T0 + days(29), ZONE))
    assert renewed.terms[-1].start == T0 + days(30) and renewed.period_end == at(2025, 8, 1)
    assert renewed.terms[-1].paid_minor == 1_500 and renewed.terms[-1].channel is Channel.RENEWAL
    assert renewed.attempts == 0 and renewed.last_attempt_at is None


def test_a_renewal_for_another_period_changes_nothing():
    sub = bought()
    refused(renewal.renew(sub, T0, T0, ZONE), "RENEWAL_NOT_CURRENT")
    refused(renewal.fail_renewal(sub, T0, T0), "RENEWAL_NOT_CURRENT")
    renewed = ok(renewal.renew(sub, sub.period_end, T0, ZONE))
    # The same success again names the old end: not applied twice.
    refused(renewal.renew(renewed, sub.period_end, T0, ZONE), "RENEWAL_NOT_CURRENT")


def test_a_failure_before_the_end_keeps_the_paid_time_and_three_days_more():
    sub = bought()
    grace = ok(renewal.fail_renewal(sub, sub.period_end, T0 + days(29)))
    assert grace.state is State.GRACE and grace.grace_until == T0 + days(33)
    assert grace.entitled(T0 + days(32)) and not grace.entitled(T0 + days(33))
    assert grace.benefits_end == T0 + days(33)
    # Another failed retry does not restart grace.
    assert ok(renewal.fail_renewal(grace, sub.period_end, T0 + days(31))) == grace


def test_the_failure_of_a_charge_cancelled_meanwhile_changes_nothing():
    sub = ok(subs.cancel(bought(), T0 + days(29)))
    assert ok(renewal.fail_renewal(sub, sub.period_end, T0 + days(29.5))) == sub


def test_a_failure_after_the_end_runs_grace_from_the_failure():
    sub = bought()
    grace = ok(renewal.fail_renewal(sub, sub.period_end, T0 + days(30.5)))
    assert grace.grace_until == T0 + days(33.5)


def test_a_renewal_paid_in_grace_reactivates_from_the_old_end():
    sub = in_grace()
    renewed = ok(renewal.renew(sub, sub.period_end, T0 + days(31), ZONE))
    assert renewed.state is State.ACTIVE and renewed.grace_until is None
    assert renewed.terms[-1].start == T0 + days(30)


# --- the clock ----------------------------------------------------------------------------------------------
def test_an_unpaid_order_is_abandoned_after_its_window():
    pending = subs.new_order("m1", MONTHLY, T0)
    assert renewal.on_clock(pending, T0 + days(1) - days(0.001)) is None
    gone = renewal.on_clock(pending, T0 + days(5))
    assert gone.state is State.CANCELLED and gone.ended_at == T0 + days(1)


def test_a_period_ending_unpaid_goes_to_grace():
    sub = bought()
    assert renewal.on_clock(sub, T0 + days(29)) is None
    grace = renewal.on_clock(sub, T0 + days(30))
    assert grace.state is State.GRACE and grace.grace_until == T0 + days(33)
    assert renewal.on_clock(grace, T0 + days(32)) is None
    expired = renewal.on_clock(grace, T0 + days(40))
    assert expired.state is State.EXPIRED and expired.ended_at == T0 + days(33)
    assert not expired.auto_renew


def test_a_cancelled_subscription_expires_at_its_period_end():
    sub = ok(subs.cancel(bought(), T0 + days(3)))
    expired = renewal.on_clock(sub, T0 + days(31))
    assert expired.state is State.EXPIRED and expired.ended_at == T0 + days(30)


def test_a_late_job_records_the_dates_the_rules_name():
    expired = renewal.on_clock(bought(), T0 + days(60))
    assert expired.state is State.EXPIRED and expired.ended_at == T0 + days(33)
    assert renewal.on_clock(trial(), T0 + days(7)).ended_at == T0 + days(7)


# --- cancel and resume ---------------------------------------------------------------------------------------
def test_cancel_turns_auto_renew_off_and_keeps_the_benefits():
    sub = ok(subs.cancel(bought(), T0 + days(3)))
    assert sub.state is State.ACTIVE and not sub.auto_renew and sub.entitled(T0 + days(29))
    refused(subs.cancel(sub, T0 + days(4)), "AUTO_RENEW_ALREADY_OFF")
    sub = ok(subs.resume(sub, T0 + days(5)))
    assert sub.auto_renew
    refused(subs.resume(sub, T0 + days(5)), "AUTO_RENEW_ALREADY_ON")


def test_resume_only_before_the_end():
    sub = ok(subs.cancel(bought(), T0))
    refused(subs.resume(sub, T0 + days(30)), "SUBSCRIPTION_ENDED")  # before the job ran
    expired = renewal.on_clock(sub, T0 + days(30))
    refused(subs.resume(expired, T0 + days(30)), "SUBSCRIPTION_EXPIRED")
    refused(subs.cancel(bought(), T0 + days(30)), "SUBSCRIPTION_ENDED")


def test_cancel_in_grace_stops_the_retries_and_runs_to_the_grace_end():
    sub = ok(subs.cancel(in_grace(), T0 + days(30)))
    assert sub.state is State.GRACE and not sub.auto_renew
    assert renewal.on_clock(sub, T0 + days(33)).state is State.EXPIRED
    refused(subs.resume(sub, T0 + days(33)), "SUBSCRIPTION_ENDED")
    assert ok(subs.resume(sub, T0 + days(32))).auto_renew


def test_cancel_a_pending_order_is_refused():
    refused(subs.cancel(subs.new_order("m1", MONTHLY, T0), T0), "SUBSCRIPTION_PENDING_PAYMENT")


# --- plan changes --------------------------------------------------------------------------------------------
def test_a_change_at_renewal_changes_only_what_renewals_charge():
    sub = ok(changes.schedule_change(bought(), QUARTERLY, T0 + days(3)))
    assert sub.renewal_plan == QUARTERLY and sub.terms == bought().terms
    renewed = ok(renewal.renew(sub, sub.period_end, T0 + days(29), ZONE))
    assert renewed.terms[-1].plan == QUARTERLY and renewed.period_end == at(2025, 10, 1)
    assert renewed.terms[-1].paid_minor == 4_000


@pytest.mark.parametrize(
    ("sub", "plan", "reason"),
    [
        ("active", MONTHLY, "PLAN_UNCHANGED"),
        ("active", TRIAL, "PLAN_IS_TRIAL"),
        ("active", MONTHLY_USD, "CURRENCY_MISMATCH"),
        ("grace", YEARLY, "SUBSCRIPTION_IN_GRACE"),
        ("pending", YEARLY, "SUBSCRIPTION_PENDING_PAYMENT"),
        ("trial", YEARLY, "NOT_RENEWABLE"),
        ("past_end", YEARLY, "SUBSCRIPTION_ENDED"),
    ],
)
def test_change_at_renewal_refusals(sub, plan, reason):
    now = T0 + days(30) if sub == "past_end" else T0 + days(1)
    current = {
        "active": bought(),
        "past_end": bought(),
        "grace": in_grace(),
        "pending": subs.new_order("m1", MONTHLY, T0),
        "trial": trial(),
    }[sub]
    refused(changes.schedule_change(current, plan, now), reason)


def test_a_new_version_of_the_same_plan_is_a_change():
    assert ok(changes.schedule_change(bought(), MONTHLY_V2, T0)).renewal_plan == MONTHLY_V2


def test_an_upgrade_now_credits_the_unused_time():
    # Monthly 1,500 bought 1 June (30 days); on 16 June, 15 days used: credit
    # 1,500 − ⌊1,500 × 15/30⌋ = 750; the yearly plan costs 19,800: charge 19,050.
    sub = bought()
    now = T0 + days(15)
    quote = ok(changes.quote_change(sub, YEARLY, ACTIVE, now, ZONE))
    assert (quote.credit_minor, quote.charge_minor) == (750, 19_050)
    assert (quote.start, quote.end) == (now, at(2026, 6, 16))
    changed = ok(changes.change_now(sub, YEARLY, 19_050, now, ZONE))
    first, new = changed.terms
    assert (first.start, first.end, first.paid_minor) == (T0, now, 750)  # the used half
    assert (new.start, new.end, new.paid_minor) == (now, at(2026, 6, 16), 19_800)
    assert new.channel is Channel.PLAN_CHANGE and changed.renewal_plan == YEARLY
    assert changed.paid_minor == sub.paid_minor + 19_050  # only the charge is new money
    assert changed.anchor_day == 16


def test_an_upgrade_credits_stacked_terms_whole():
    sub = ok(subs.extend(bought(), MONTHLY, Channel.PURCHASE, 1_500, T0 + days(1), ZONE))
    now = T0 + days(15)
    quote = ok(changes.quote_change(sub, YEARLY, ACTIVE, now, ZONE))
    assert quote.credit_minor == 750 + 1_500
    changed = ok(changes.change_now(sub, YEARLY, quote.charge_minor, now, ZONE))
    assert len(changed.terms) == 2 and changed.paid_minor == 3_000 + quote.charge_minor
    assert contiguous(changed.terms)


def test_an_upgrade_starts_the_count_of_renewal_charges_again():
    # A charge was counted for the old period end: the new end is another.
    sub = bought()
    asked = renewal.record_attempt(sub, T0 + days(14))
    changed = ok(changes.change_now(asked, YEARLY, 19_050, T0 + days(15), ZONE))
    assert (changed.attempts, changed.last_attempt_at) == (0, None)


def test_a_change_at_a_term_start_credits_it_whole():
    sub = bought()
    changed = ok(changes.change_now(sub, YEARLY, 18_300, T0, ZONE))
    assert [t.paid_minor for t in changed.terms] == [19_800]


def test_change_now_refusals():
    yearly = bought(YEARLY)
    # 100 days into a 19,800 year, the credit is far above a month's 1,500: not an upgrade.
    got = refused(
        changes.quote_change(yearly, MONTHLY, ACTIVE, T0 + days(100), ZONE),
        "PLAN_CHANGE_NOT_UPGRADE",
    )
    assert got.metadata == {"credit_minor": "14376", "price_minor": "1500"}
    refused(changes.quote_change(trial(), MONTHLY, ACTIVE, T0, ZONE), "PLAN_CHANGE_ON_FREE_TERM")
    coded = ok(subs.extend(bought(), QUARTERLY, Channel.CODE, 0, T0, ZONE))
    refused(changes.quote_change(coded, YEARLY, ACTIVE, T0, ZONE), "PLAN_CHANGE_ON_FREE_TERM")
    refused(changes.quote_change(bought(), YEARLY, FROZEN, T0, ZONE), "MEMBER_FROZEN")
    refused(changes.quote_change(bought(), MONTHLY, ACTIVE, T0, ZONE), "PLAN_UNCHANGED")
    refused(changes.quote_change(in_grace(), YEARLY, ACTIVE, T0, ZONE), "SUBSCRIPTION_IN_GRACE")
    with pytest.raises(ValueError):
        changes.change_now(bought(), YEARLY, -1, T0, ZONE)


def test_a_change_already_paid_is_applied_even_if_the_member_was_frozen():
    # change_now takes no member status: the charge was taken.
    assert (
        ok(changes.change_now(bought(), YEARLY, 18_300, T0 + days(1), ZONE)).renewal_plan == YEARLY
    )


# --- refund and close -----------------------------------------------------------------------------------------
def test_a_refund_ends_the_subscription_and_is_refused_twice():
    ended, quote = ok(subs.refund(bought(), [], T0 + days(2)))
    assert quote.amount_minor == 1_500
    assert ended.state is State.REFUNDED and ended.refunded_minor == 1_500
    assert ended.ended_at == T0 + days(2) and not ended.auto_renew
    assert not ended.entitled(T0 + days(2))
    refused(subs.refund(ended, [], T0 + days(2)), "SUBSCRIPTION_ALREADY_REFUNDED")


def test_a_refund_of_nothing_is_refused_and_changes_nothing():
    refused(subs.refund(trial(), [], T0), "NOTHING_TO_REFUND")
    refused(subs.refund(subs.new_order("m1", MONTHLY, T0), [], T0), "SUBSCRIPTION_PENDING_PAYMENT")


def test_closing_the_member_cancels_with_the_formulas_refund():
    ended, amount = ok(subs.close(bought(), [], T0 + days(10)))
    # Past the cooling-off: 1,500 − ⌊1,500 × 10/30⌋ = 1,000.
    assert (ended.state, amount, ended.refunded_minor) == (State.CANCELLED, 1_000, 1_000)
    refused(subs.close(ended, [], T0), "SUBSCRIPTION_CANCELLED")
    refused(subs.refund(ended, [], T0), "SUBSCRIPTION_CANCELLED")  # refunded at closing
    ended, amount = ok(subs.close(subs.new_order("m1", MONTHLY, T0), [], T0))
    assert ended.state is State.CANCELLED and amount == 0
    ended, amount = ok(subs.close(trial(), [], T0))
    assert amount == 0
    expired = renewal.on_clock(trial(), T0 + days(8))
    refused(subs.close(expired, [], T0 + days(8)), "SUBSCRIPTION_EXPIRED")


# --- reading ---------------------------------------------------------------------------------------------------
def test_plan_at_names_the_current_terms_plan():
    sub = ok(subs.extend(bought(), YEARLY, Channel.PURCHASE, 19_800, T0, ZONE))
    assert sub.plan_at(T0) == MONTHLY and sub.plan_at(T0 + days(31)) == YEARLY
    assert sub.current_term(T0 + days(30)).plan == YEARLY
    assert sub.plan_at(at(2030, 1, 1)) == YEARLY  # past the end (grace): the last term's
    assert subs.new_order("m1", QUARTERLY, T0).plan_at(T0) == QUARTERLY
