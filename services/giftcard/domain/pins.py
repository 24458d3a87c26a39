"""Card secrets (PINs): how they are drawn, printed, typed back, and kept only as keyed hashes.

Format: 20 decimal digits, printed in five groups of four. 10^20 ≈ 2^66.4, above the 64 bits
asked for. Digits rather than letters because the PIN is typed from a scratch-off panel on
POS pin pads and phone number pads, by shoppers who may not read Latin letters: digits have
no look-alikes (0/O, 1/l/I), no case, and one keyboard layout everywhere. The cost is length
(20 characters instead of 13 in base32), which the grouping makes bearable.

Storage: HMAC-SHA256 under a server key, bound to the card number. A slow password hash is
not needed: 66 random bits cannot be brute-forced offline even without the key, and with the
key kept outside the database a stolen table is worthless. HMAC keeps a PIN check cheap enough
for checkout throughput. The key id is stored beside each hash so keys can rotate: a hash
under a retired key still verifies, and the caller rehashes it under the current key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from .refusals import FieldProblem

ALPHABET = "0123456789"
LENGTH = 20
GROUP = 4
MIN_ENTROPY_BITS = 64
MIN_KEY_BYTES = 32
_PIN = re.compile(r"[0-9]{20}")
_KEY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_MAX_RAW = 64
_SEPARATORS = str.maketrans("", "", " -")
# Versioned, so that a change of what is hashed can never verify against old hashes by chance.
_CONTEXT = b"loyalty.giftcard.pin.v1\x00"

RandomBelow = Callable[[int], int]


def combinations() -> int:
    """How many PINs there are: the guessing space, len(ALPHABET) ** LENGTH."""
    return len(ALPHABET) ** LENGTH


def new_pin(randbelow: RandomBelow = secrets.randbelow) -> str:
    return f"{randbelow(combinations()):0{LENGTH}d}"


def printed(pin: str) -> str:
    """As printed on the card: 1234 5678 9012 3456 7890."""
    return " ".join(pin[i : i + GROUP] for i in range(0, len(pin), GROUP))


def parse(raw: str, field: str = "pin") -> str | FieldProblem:
    """The PIN in `raw` as hashed, or why it is not one. Saying that the *format* is wrong
    tells a guesser nothing about any card, so it is precise; a well-formed wrong PIN gets
    the generic refusal of the caller."""
    if len(raw) <= _MAX_RAW:
        pin = unicodedata.normalize("NFKC", raw).translate(_SEPARATORS)
        if _PIN.fullmatch(pin):
            return pin
    return FieldProblem(field, f"a PIN has {LENGTH} digits", "PIN_FORMAT")


@dataclass(frozen=True)
class PinKey:
    """A server key for PIN hashes and the id stored beside each hash made with it."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("a key id is 1-32 lower-case letters, digits, '.', '_' or '-'")
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"a PIN key has at least {MIN_KEY_BYTES} bytes")


@dataclass(frozen=True)
class PinHash:
    key_id: str
    digest: bytes


class UnknownPinKey(LookupError):
    """A stored hash names a key the keyring no longer has: a deployment fault (a key was
    dropped while hashes made with it remain), not a wrong PIN."""


@dataclass(frozen=True)
class PinKeyring:
    """The key new hashes are made with, and the retired ones old hashes may still name."""

    current: PinKey
    retired: tuple[PinKey, ...] = ()

    def __post_init__(self) -> None:
        ids = [self.current.key_id, *(k.key_id for k in self.retired)]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must differ")

    def key(self, key_id: str) -> PinKey:
        for key in (self.current, *self.retired):
            if key.key_id == key_id:
                return key
        raise UnknownPinKey(key_id)


def hash_pin(pin: str, card_number: str, key: PinKey) -> PinHash:
    """Bound to the card number: a hash copied onto another card's row verifies nothing, and
    two cards with the same PIN (possible, if unlikely) have different hashes."""
    message = _CONTEXT + card_number.encode() + b"\x00" + pin.encode()
    return PinHash(key.key_id, hmac.new(key.secret, message, hashlib.sha256).digest())


def verify(keyring: PinKeyring, card_number: str, pin: str, stored: PinHash | None) -> bool:
    """Whether `pin` is the card's, compared in constant time. With nothing stored (no such
    card) a hash is computed and compared all the same, so an unknown number answers as
    slowly as a wrong PIN."""
    if stored is None:
        stand_in = hash_pin(pin, card_number, keyring.current)
        hmac.compare_digest(stand_in.digest, bytes(len(stand_in.digest)))
        return False
    actual = hash_pin(pin, card_number, keyring.key(stored.key_id))
    return hmac.compare_digest(actual.digest, stored.digest)


def needs_rehash(stored: PinHash, keyring: PinKeyring) -> bool:
    """After a successful check: whether the hash was made with a retired key."""
    return stored.key_id != keyring.current.key_id
