"""Redemption codes (兑换码): drawn, printed, typed back, kept only as keyed hashes, used once.

Format: 16 characters of Crockford's base 32 (digits and upper-case letters without I, L, O,
U), printed in four groups of four: `7KQ2-M9XD-HR4T-WZ3E`. Fifteen are random (32^15 = 2^75,
above the 64 bits asked for) and the last is a Luhn mod 32 check character, which catches every
single mistyped character and most swapped neighbours before any look-up, so a typo is told
as a typo (`CODE_FORMAT`) rather than spending one of the member's limited attempts. Letters
and digits (not digits only, as giftcard PINs): codes reach members as text (an airline's
e-mail, a bank app) and are pasted or typed on phones with a full keyboard, where 16
characters beat 20 digits. Typed input is forgiving: full-width characters, lower case, spaces
and dashes are accepted, and the look-alikes map as Crockford says (O → 0, I and L → 1).

Storage: HMAC-SHA256 under a server key, with the key id beside the digest. The code itself is
what is looked up, so the store finds a code by digest: `lookup_hashes` gives one digest per
live key (the current and the retired ones still verifying), and a code found under a retired
key is rehashed under the current one. 75 random bits need no slow hash: the key, kept outside
the database, makes a stolen table worthless.

Redemption: unknown, already used, expired and withdrawn codes are all refused with one reason,
`CODE_INVALID`, one message and no metadata, so that an attempt tells a guesser nothing about
which codes exist; attempts are limited per member and per client by the service (the kit's
shared rate limits).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from services.kit.refusals import FieldProblem, Refusal

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
RANDOM_LENGTH = 15
LENGTH = RANDOM_LENGTH + 1  # and the check character
GROUP = 4
MIN_ENTROPY_BITS = 64
MIN_KEY_BYTES = 32
MAX_BATCH = 100_000
MAX_VALIDITY = dt.timedelta(days=3 * 366)
_MAX_RAW = 64  # longer input is not a code, whatever it holds
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_]+")
_CODE = re.compile(f"[{ALPHABET}]{{{LENGTH}}}")
_KEY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
# Versioned, so that a change of what is hashed can never verify against old hashes by chance.
_CONTEXT = b"loyalty.subscription.code.v1\x00"

RandomBelow = Callable[[int], int]


def combinations() -> int:
    """How many codes there are: the guessing space."""
    return len(ALPHABET) ** RANDOM_LENGTH


def entropy_bits() -> float:
    return math.log2(combinations())


def _check_character(payload: str) -> str:
    """Luhn mod N (N = 32): from the right, every second value doubled and its two base-N
    digits added."""
    n, total = len(ALPHABET), 0
    for i, char in enumerate(reversed(payload)):
        value = ALPHABET.index(char) * (2 if i % 2 == 0 else 1)
        total += value // n + value % n
    return ALPHABET[(n - total % n) % n]


def new_code(randbelow: RandomBelow = secrets.randbelow) -> str:
    """A new code (canonical: 16 characters, no separators), from one draw of the whole space."""
    number = randbelow(combinations())
    chars = []
    for _ in range(RANDOM_LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    payload = "".join(reversed(chars))
    return payload + _check_character(payload)


def printed(code: str) -> str:
    """As handed to partners: 7KQ2-M9XD-HR4T-WZ3E."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise(raw: str) -> str:
    """Typed input as a code would read: NFKC (full-width to ASCII), upper case, separators
    removed, look-alikes mapped."""
    text = unicodedata.normalize("NFKC", raw).upper()
    return _SEPARATORS.sub("", text).translate(_LOOK_ALIKES)


def parse(raw: str, field: str = "code") -> str | FieldProblem:
    """The code in `raw`, or why it cannot be one. A format problem tells a guesser nothing
    about any code, so it is precise; a well-formed code gets `redeem_refusal`'s answer."""
    if len(raw) <= _MAX_RAW:
        code = normalise(raw)
        if _CODE.fullmatch(code) and _check_character(code[:-1]) == code[-1]:
            return code
    return FieldProblem(field, f"a code has {LENGTH} letters and digits, as printed", "CODE_FORMAT")


# --- keyed hashes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeKey:
    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("a key id is 1-32 lower-case letters, digits, '.', '_' or '-'")
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"a code key has at least {MIN_KEY_BYTES} bytes")


@dataclass(frozen=True)
class CodeHash:
    key_id: str
    digest: bytes


class UnknownCodeKey(LookupError):
    """A stored hash names a key the keyring no longer has: a deployment fault."""


@dataclass(frozen=True)
class CodeKeyring:
    current: CodeKey
    retired: tuple[CodeKey, ...] = ()

    def __post_init__(self) -> None:
        ids = [self.current.key_id, *(k.key_id for k in self.retired)]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must differ")

    def key(self, key_id: str) -> CodeKey:
        for key in (self.current, *self.retired):
            if key.key_id == key_id:
                return key
        raise UnknownCodeKey(key_id)


def hash_code(code: str, key: CodeKey) -> CodeHash:
    return CodeHash(key.key_id, hmac.new(key.secret, _CONTEXT + code.encode(), "sha256").digest())


def lookup_hashes(keyring: CodeKeyring, code: str) -> tuple[CodeHash, ...]:
    """The digests to look a code up by: under the current key first, then each retired one."""
    return tuple(hash_code(code, k) for k in (keyring.current, *keyring.retired))


def verify(keyring: CodeKeyring, code: str, stored: CodeHash | None) -> bool:
    """Whether `code` is the one `stored` was made from, compared in constant time. With
    nothing stored a hash is computed and compared all the same, so that an unknown code costs
    what a known one does."""
    if stored is None:
        stand_in = hash_code(code, keyring.current)
        hmac.compare_digest(stand_in.digest, bytes(hashlib.sha256().digest_size))
        return False
    actual = hash_code(code, keyring.key(stored.key_id))
    return hmac.compare_digest(actual.digest, stored.digest)


def needs_rehash(stored: CodeHash, keyring: CodeKeyring) -> bool:
    return stored.key_id != keyring.current.key_id


# --- batches and redemption -----------------------------------------------------------------------
@dataclass(frozen=True)
class CodeRecord:
    """What the store knows of a code (found by its digest)."""

    batch_id: str
    expires_at: dt.datetime  # exclusive
    redeemed_at: dt.datetime | None = None
    withdrawn: bool = False  # its batch was withdrawn by an operator


CODE_INVALID = Refusal("CODE_INVALID", "the code is not valid")


def redeem_refusal(record: CodeRecord | None, now: dt.datetime) -> Refusal | None:
    """Single use, before expiry, batch not withdrawn: else the one generic refusal."""
    if record is None or record.redeemed_at is not None or record.withdrawn:
        return CODE_INVALID
    return CODE_INVALID if now >= record.expires_at else None


def batch_problems(count: int, expires_at: dt.datetime, now: dt.datetime) -> list[FieldProblem]:
    """A batch: 1 to 100,000 codes (one store `COPY`), expiring after now and within 3 years
    (a partner's promotion, not a currency)."""
    problems = []
    if not 1 <= count <= MAX_BATCH:
        problems.append(FieldProblem("count", f"must be 1 to {MAX_BATCH}"))
    if expires_at <= now:
        problems.append(FieldProblem("expire_time", "must be in the future"))
    elif expires_at > now + MAX_VALIDITY:
        problems.append(FieldProblem("expire_time", "at most 3 years ahead"))
    return problems
