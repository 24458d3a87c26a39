"""The kit's double-entry postings (pure): transfers, balance, an account's change."""

from __future__ import annotations

import uuid

import pytest

from services.kit.postings import Entries


def test_a_transfer_is_two_postings_that_balance():
    card = uuid.uuid4()
    entries = Entries()
    entries.move(("card_value", card), ("redemption", ""), 150, "capture")
    assert entries.is_balanced()
    assert entries.account_delta("card_value", card) == -150
    assert entries.account_delta("redemption", "") == 150


def test_nothing_posted_is_not_a_transaction_and_zero_posts_nothing():
    entries = Entries()
    entries.add("a", "", 0, "k")
    assert entries.postings == [] and not entries.is_balanced()


def test_one_sided_postings_do_not_balance():
    entries = Entries()
    entries.add("a", "", 5, "k")
    assert not entries.is_balanced()


@pytest.mark.parametrize("amount", [0, -1])
def test_a_transfer_moves_a_positive_amount(amount):
    with pytest.raises(ValueError):
        Entries().move(("a", ""), ("b", ""), amount, "k")
