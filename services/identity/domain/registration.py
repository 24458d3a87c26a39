"""Registration channels: who may register a member through each, and what each needs (a
password, codes proving the contacts, a provider's assertion)."""

from __future__ import annotations

import enum


class Channel(enum.StrEnum):
    """How a member registered; the values are what the members table stores."""

    APP = "app"
    WEB = "web"
    MINI_PROGRAM = "mini_program"
    STORE_DESK = "store_desk"
    BULK_IMPORT = "bulk_import"


# A member at a store desk or in an import file is registered by staff, who need a scope for it.
OPERATOR_ONLY = frozenset({Channel.STORE_DESK, Channel.BULK_IMPORT})
# The mini program signs in through the linked WeChat account; staff-registered members may set
# a password later. Everyone else signs in with a password from the start.
PASSWORD_OPTIONAL = OPERATOR_ONLY | {Channel.MINI_PROGRAM}


def operator_only(channel: Channel) -> bool:
    return channel in OPERATOR_ONLY


def needs_password(channel: Channel | None) -> bool:
    """Whether registering through `channel` requires a password; an unknown channel (already
    refused) is held to the strictest rule so that its password is checked too."""
    return channel not in PASSWORD_OPTIONAL


def needs_assertion(channel: Channel | None) -> bool:
    """Whether registering through `channel` needs the provider's word for the account the
    member comes with: the mini program runs inside WeChat (QQ, Alipay), which vouches for it."""
    return channel is Channel.MINI_PROGRAM


def proves_contacts(channel: Channel) -> bool:
    """Whether a registration through `channel` proves its phone number and e-mail address
    with one-time codes: self-service does; staff channels do not (the operator vouches for
    them, and is audited)."""
    return not operator_only(channel)
