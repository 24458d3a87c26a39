"""What giftcard's servicers, use cases and jobs may use: the kit's deps, the PIN keyring and
the shared rate limiter."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from services.kit import errors
from services.kit.deps import Deps
from services.kit.ratelimit import RateLimiter

from .config import GiftcardSettings
from .domain import pins


@dataclass
class GiftcardDeps(Deps[GiftcardSettings]):
    """The keyring and the limiter are built by `GiftcardApp.setup` (the limiter needs the
    pool; `migrate` needs neither)."""

    keyring: pins.PinKeyring = field(init=False, repr=False)
    limiter: RateLimiter = field(init=False, repr=False)


def keyring(settings: GiftcardSettings) -> pins.PinKeyring:
    """The PIN keys from the settings; missing or malformed keys stop the service (one line)."""
    current = _key(settings.pin_key_id, settings.pin_key.get_secret_value(), "GIFTCARD_PIN_KEY")
    retired = []
    for item in filter(None, settings.retired_pin_keys.get_secret_value().split(",")):
        key_id, _, encoded = item.strip().partition(":")
        retired.append(_key(key_id, encoded, "GIFTCARD_RETIRED_PIN_KEYS"))
    try:
        return pins.PinKeyring(current, tuple(retired))
    except ValueError as exc:
        raise errors.Misconfigured(f"GIFTCARD_RETIRED_PIN_KEYS: {exc}") from None


def _key(key_id: str, encoded: str, name: str) -> pins.PinKey:
    if not encoded:
        raise errors.Misconfigured(f"{name} is required: base64 of 32 random bytes")
    try:
        secret = base64.b64decode(encoded, validate=True)
        return pins.PinKey(key_id, secret)
    except (binascii.Error, ValueError) as exc:
        raise errors.Misconfigured(f"{name}: {exc}") from None
