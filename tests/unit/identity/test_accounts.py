"""Linked accounts: the last way to sign in cannot be unlinked."""

from __future__ import annotations

import pytest

from services.identity.domain import accounts


@pytest.mark.parametrize(
    ("has_password", "linked_before", "keeps"),
    [
        (True, 1, True),  # the password remains
        (True, 3, True),
        (False, 2, True),  # another linked account remains
        (False, 4, True),
        (False, 1, False),  # nothing would remain
    ],
)
def test_unlinking_keeps_a_sign_in_method(has_password, linked_before, keeps):
    assert (
        accounts.keeps_a_sign_in_method(has_password=has_password, linked_before=linked_before)
        is keeps
    )


def test_providers():
    assert accounts.PROVIDERS == {"wechat", "qq", "alipay", "apple"}
