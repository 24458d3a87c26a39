"""What subscription's servicers, use cases and jobs may use: the kit's deps, the
redemption-code keyring and the shared rate limiter."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from services.kit import errors
from services.kit.deps import Deps
from services.kit.ratelimit import RateLimiter

from .config import SubscriptionSettings
from .domain import codes


@dataclass
class SubscriptionDeps(Deps[SubscriptionSettings]):
    """The keyring and the limiter are built by `SubscriptionApp.setup` (the limiter needs the
    pool; `migrate` needs neither)."""

    keyring: codes.CodeKeyring = field(init=False, repr=False)
    limiter: RateLimiter = field(init=False, repr=False)


def keyring(settings: SubscriptionSettings) -> codes.CodeKeyring:
    """The code keys from the settings; missing or malformed keys stop the service (one
    line)."""
    current = _key(
        settings.code_key_id, settings.code_key.get_secret_value(), "SUBSCRIPTION_CODE_KEY"
    )
    retired = []
    for item in filter(None, settings.retired_code_keys.get_secret_value().split(",")):
        key_id, _, encoded = item.strip().partition(":")
        retired.append(_key(key_id, encoded, "SUBSCRIPTION_RETIRED_CODE_KEYS"))
    try:
        return codes.CodeKeyring(current, tuple(retired))
    except ValueError as exc:
        raise errors.Misconfigured(f"SUBSCRIPTION_RETIRED_CODE_KEYS: {exc}") from None


def _key(key_id: str, encoded: str, name: str) -> codes.CodeKey:
    if not encoded:
        raise errors.Misconfigured(f"{name} is required: base64 of 32 random bytes")
    try:
        secret = base64.b64decode(encoded, validate=True)
        return codes.CodeKey(key_id, secret)
    except (binascii.Error, ValueError) as exc:
        raise errors.Misconfigured(f"{name}: {exc}") from None
