"""Linked external accounts (WeChat, QQ, …): which providers, and which may be unlinked."""

from __future__ import annotations

PROVIDERS = frozenset({"wechat", "qq", "alipay", "apple"})
PROVIDER_RULE = f"one of {', '.join(sorted(PROVIDERS))}"
SUBJECT_MAX = 128  # a provider's id of an account (an openid, a unionid, Apple's `sub`)
# What a provider gives a client to vouch for an account (a login code, a signed token).
ASSERTION_MAX = 8192


def keeps_a_sign_in_method(*, has_password: bool, linked_before: int) -> bool:
    """Whether unlinking one of `linked_before` accounts leaves the member a way to sign in."""
    return has_password or linked_before > 1
