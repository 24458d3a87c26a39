"""PINs: entropy, format, keyed hashes with rotation; wrong PINs lock the card for a while."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from services.giftcard.domain import lockout, pins
from services.giftcard.domain.lockout import LockPolicy, PinAttempts
from services.giftcard.domain.pins import PinHash, PinKey, PinKeyring
from services.giftcard.domain.refusals import FieldProblem

CARD = "9001230000000000425"
OTHER_CARD = "9001230000000000433"
K1 = PinKey("k1", b"1" * 32)
K2 = PinKey("k2", b"2" * 32)
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def test_the_pin_space_holds_at_least_64_bits():
    assert pins.combinations() == len(pins.ALPHABET) ** pins.LENGTH
    assert pins.combinations() >= 2**pins.MIN_ENTROPY_BITS
    assert math.log2(pins.combinations()) > 66  # 20 digits ≈ 66.4 bits
    # Digits only: nothing a person could misread.
    assert set(pins.ALPHABET) == set("0123456789")


def test_a_new_pin_draws_from_the_whole_space():
    calls = []

    def randbelow(n):
        calls.append(n)
        return 7

    assert pins.new_pin(randbelow) == "00000000000000000007"
    assert calls == [10**20]


def test_new_pins_are_twenty_digits_and_differ():
    drawn = {pins.new_pin() for _ in range(200)}
    assert len(drawn) == 200 and all(len(p) == 20 and p.isdigit() for p in drawn)


def test_printed_groups_in_fours_and_parses_back():
    pin = pins.new_pin(random.Random(3).randrange)
    printed = pins.printed(pin)
    assert [len(g) for g in printed.split(" ")] == [4, 4, 4, 4, 4]
    assert pins.parse(printed) == pin
    assert pins.parse(printed.replace(" ", "-")) == pin
    assert pins.parse("１２３４" * 5) == "1234" * 5


@pytest.mark.parametrize(
    "raw", ["", "1234", "1" * 19, "1" * 21, "1234 5678 9012 3456 789O", "1" * 100]
)
def test_a_malformed_pin_is_a_format_problem(raw):
    problem = pins.parse(raw)
    assert isinstance(problem, FieldProblem)
    assert problem.reason == "PIN_FORMAT" and problem.field == "pin"


def test_verify_accepts_the_right_pin_only():
    keyring = PinKeyring(K1)
    stored = pins.hash_pin("1" * 20, CARD, K1)
    assert stored.key_id == "k1" and len(stored.digest) == 32
    assert pins.verify(keyring, CARD, "1" * 20, stored)
    assert not pins.verify(keyring, CARD, "1" * 19 + "2", stored)


def test_a_hash_is_bound_to_its_card_and_its_key():
    stored = pins.hash_pin("1" * 20, CARD, K1)
    assert not pins.verify(PinKeyring(K1), OTHER_CARD, "1" * 20, stored)
    assert pins.hash_pin("1" * 20, OTHER_CARD, K1).digest != stored.digest
    assert pins.hash_pin("1" * 20, CARD, K2).digest != stored.digest
    # The key is the secret: the same id with another key verifies nothing.
    assert not pins.verify(PinKeyring(PinKey("k1", b"x" * 32)), CARD, "1" * 20, stored)


def test_an_unknown_card_answers_false_after_the_same_work():
    assert not pins.verify(PinKeyring(K1), CARD, "1" * 20, None)


def test_rotation_old_hashes_verify_and_ask_for_a_rehash():
    stored = pins.hash_pin("1" * 20, CARD, K1)
    rotated = PinKeyring(K2, retired=(K1,))
    assert pins.verify(rotated, CARD, "1" * 20, stored)
    assert pins.needs_rehash(stored, rotated)
    fresh = pins.hash_pin("1" * 20, CARD, rotated.current)
    assert not pins.needs_rehash(fresh, rotated)
    assert pins.verify(rotated, CARD, "1" * 20, fresh)


def test_a_hash_under_a_dropped_key_is_a_deployment_fault_not_a_wrong_pin():
    stored = PinHash("gone", b"\0" * 32)
    with pytest.raises(pins.UnknownPinKey):
        pins.verify(PinKeyring(K1), CARD, "1" * 20, stored)


@pytest.mark.parametrize(
    ("key_id", "secret"), [("k1", b"short"), ("", b"1" * 32), ("K1", b"1" * 32), ("a b", b"1" * 32)]
)
def test_weak_keys_and_bad_key_ids_are_refused(key_id, secret):
    with pytest.raises(ValueError):
        PinKey(key_id, secret)


def test_a_keyring_with_two_keys_of_one_id_is_refused():
    with pytest.raises(ValueError):
        PinKeyring(K1, retired=(PinKey("k1", b"3" * 32),))


def test_a_key_never_shows_in_its_repr():
    assert "1111" not in repr(K1)


def test_the_card_locks_after_the_last_allowed_failure():
    policy = LockPolicy(max_failures=3, lock_for=dt.timedelta(minutes=15))
    attempts = PinAttempts()
    for expected in (1, 2):
        attempts = lockout.after_failure(attempts, NOW, policy)
        assert attempts == PinAttempts(expected, None)
        assert lockout.refusal_while_locked(attempts, NOW) is None
    attempts = lockout.after_failure(attempts, NOW, policy)
    assert attempts == PinAttempts(0, NOW + dt.timedelta(minutes=15))


def test_during_a_lock_even_the_right_pin_is_refused_until_it_ends():
    attempts = PinAttempts(0, NOW + dt.timedelta(minutes=15))
    refusal = lockout.refusal_while_locked(attempts, NOW + dt.timedelta(seconds=30))
    assert refusal.reason == "CARD_LOCKED" and refusal.quota
    assert refusal.metadata["retry_after_seconds"] == "870"
    almost = lockout.refusal_while_locked(
        attempts, NOW + dt.timedelta(minutes=15) - dt.timedelta(milliseconds=1)
    )
    assert almost.metadata["retry_after_seconds"] == "1"  # rounded up, never 0
    assert lockout.refusal_while_locked(attempts, NOW + dt.timedelta(minutes=15)) is None


def test_a_success_clears_the_count():
    assert lockout.after_success() == PinAttempts()


def test_failures_after_a_lock_count_again_from_zero():
    policy = LockPolicy(max_failures=2)
    attempts = PinAttempts(0, NOW)
    later = NOW + dt.timedelta(hours=1)
    attempts = lockout.after_failure(attempts, later, policy)
    assert attempts == PinAttempts(1, NOW)  # the old lock, long over
    assert lockout.refusal_while_locked(attempts, later) is None
    assert lockout.after_failure(attempts, later, policy) == PinAttempts(0, later + policy.lock_for)


@pytest.mark.parametrize("policy", [dict(max_failures=0), dict(lock_for=dt.timedelta(0))])
def test_a_lock_policy_that_never_locks_is_refused(policy):
    with pytest.raises(ValueError):
        LockPolicy(**policy)
