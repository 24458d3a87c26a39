"""Member rules: lockout, passwords, tags, birthdays, status transitions."""

from __future__ import annotations

import datetime as dt

import pytest

from services.identity.domain import member as rules

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_lockout_counts_failures_then_locks_and_resets_the_count():
    policy = rules.LockoutPolicy(max_failures=5, lock_minutes=15)
    failures = 0
    for expected in range(1, 5):
        failures, until = policy.after_failure(failures, NOW)
        assert (failures, until) == (expected, None)
    failures, until = policy.after_failure(failures, NOW)
    assert failures == 0  # the lock ends with a fresh set of attempts
    assert until == NOW + dt.timedelta(minutes=15)


def test_lockout_limits_come_from_configuration():
    policy = rules.LockoutPolicy(max_failures=2, lock_minutes=1)
    assert policy.after_failure(0, NOW) == (1, None)
    assert policy.after_failure(1, NOW) == (0, NOW + dt.timedelta(minutes=1))


def test_is_locked_only_before_the_lock_ends():
    policy = rules.LockoutPolicy()
    until = NOW + dt.timedelta(minutes=15)
    assert policy.is_locked(until, NOW)
    assert policy.is_locked(until, until - dt.timedelta(seconds=1))
    assert not policy.is_locked(until, until)
    assert not policy.is_locked(until, until + dt.timedelta(seconds=1))
    assert not policy.is_locked(None, NOW)


@pytest.mark.parametrize("password", ["abcd1234", "s3cret-pass", "pass word!", "x1" * 64])
def test_good_passwords(password):
    assert rules.password_problem(password) is None


@pytest.mark.parametrize(
    "password",
    [
        "",
        "abc123",  # too short
        "abcd123",  # 7 characters
        "a1" * 64 + "x",  # 129 characters
        "12345678",  # digits only
        "abcdefgh",  # letters only
        "密码密码密码密码",  # letters only, in any script
    ],
)
def test_weak_passwords(password):
    assert rules.password_problem(password) is not None


@pytest.mark.parametrize("tag", ["vip", "a", "b2b", "segment:2026.q1", "x_y-z", "a" * 64, "0day"])
def test_good_tags(tag):
    assert rules.tag_problem(tag) is None


@pytest.mark.parametrize(
    "tag",
    ["", "VIP", "-vip", "_vip", "vip tag", "a" * 65, "vip\n", "\nvip", "vip/1", "标签", "ｖｉｐ"],
)
def test_bad_tags(tag):
    assert rules.tag_problem(tag) is not None


TODAY = dt.date(2026, 5, 1)


@pytest.mark.parametrize("value", ["", "1990-03-07", "1900-01-01", "2026-05-01", "2000-02-29"])
def test_good_birthdays(value):
    assert rules.birthday_problem(value, TODAY) is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-05-02",  # tomorrow
        "2999-01-01",
        "1899-12-31",
        "1990-13-01",
        "1990-02-30",
        "2001-02-29",
        "07/03/1990",
        "1990-3-7",
        "19900307",  # ISO basic format: the contract says YYYY-MM-DD
        "1990-W10-3",  # ISO week date
        "1990-03-07T00:00",
        "not a date",
    ],
)
def test_bad_birthdays(value):
    assert rules.birthday_problem(value, TODAY) is not None


STATUSES = [rules.ACTIVE, rules.FROZEN, rules.CLOSED]
ALLOWED = {
    (rules.ACTIVE, rules.FROZEN),
    (rules.FROZEN, rules.ACTIVE),
    (rules.ACTIVE, rules.CLOSED),
    (rules.FROZEN, rules.CLOSED),
}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_status_transitions(current, target):
    assert rules.can_transition(current, target) == ((current, target) in ALLOWED)


def test_unknown_status_goes_nowhere():
    assert not rules.can_transition("deleted", rules.ACTIVE)


def test_referral_codes_avoid_look_alike_characters():
    codes = {rules.new_referral_code() for _ in range(200)}
    assert len(codes) > 190
    for code in codes:
        assert len(code) == 8
        assert not set(code) & set("0O1I")
