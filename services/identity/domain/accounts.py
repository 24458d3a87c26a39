"""Linked external accounts (WeChat, QQ, …): which providers, and which may be unlinked."""

from __future__ import annotations

PROVIDERS = frozenset({"wechat", "qq", "alipay", "apple"})


def keeps_a_sign_in_method(*, has_password: bool, linked_before: int) -> bool:
    """Whether unlinking one of `linked_before` accounts leaves the member a way to sign in."""
    return has_password or linked_before > 1
