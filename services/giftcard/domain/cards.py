"""Card numbers: 16–19 digits ending in a Luhn check digit, random within an issuer prefix,
parsed from what a person types and masked for display.

The number is an identifier, not a secret (the PIN is the secret). It is random rather than
sequential so that one card in hand tells nothing about its neighbours in the batch: with the
default 6-digit prefix and 19 digits, 12 digits (about 40 bits) are drawn independently for
every card, so a batch cannot be enumerated from one of its cards.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Container

from .refusals import FieldProblem

MIN_LENGTH, MAX_LENGTH = 16, 19
DEFAULT_LENGTH = 19
# Fewer random digits would make a batch of 100,000 cards a noticeable share of the space,
# so a guess near a known number would hit a real card too often.
MIN_RANDOM_DIGITS = 9
VISIBLE = 4  # digits shown at each end of a masked number
_DIGITS = re.compile(r"[0-9]+")
# Bounds the work done on caller input before it is looked at: no real number is this long
# even with spaces between every digit.
_MAX_RAW = 64
# Ways a printed number is typed: spaces between groups, dashes, and (through NFKC)
# full-width digits and the ideographic space of a Chinese input method.
_SEPARATORS = str.maketrans("", "", " -")

# A source of uniform random integers in [0, n): `secrets.randbelow` in production, a seeded
# generator in tests.
RandomBelow = Callable[[int], int]


def check_digit(partial: str) -> str:
    """The Luhn digit that makes `partial` + digit valid."""
    total = 0
    # The digit appended will be the rightmost, so the rightmost of `partial` is doubled.
    for position, char in enumerate(reversed(partial)):
        digit = ord(char) - ord("0")
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str(-total % 10)


def luhn_valid(number: str) -> bool:
    """Whether an all-ASCII-digit `number` ends in its Luhn check digit."""
    if len(number) < 2 or not _DIGITS.fullmatch(number):
        return False
    return check_digit(number[:-1]) == number[-1]


def random_digits(prefix: str, length: int) -> int:
    """How many digits of a number of `length` are drawn at random after `prefix`."""
    return length - len(prefix) - 1


def number_problem(prefix: str, length: int) -> str | None:
    """Why numbers of `length` digits under `prefix` cannot be generated (None: they can)."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        return f"a card number has {MIN_LENGTH} to {MAX_LENGTH} digits"
    if not _DIGITS.fullmatch(prefix):
        return "the issuer prefix must be digits"
    if random_digits(prefix, length) < MIN_RANDOM_DIGITS:
        return f"the prefix must leave at least {MIN_RANDOM_DIGITS} random digits"
    return None


def new_number(
    prefix: str, length: int = DEFAULT_LENGTH, randbelow: RandomBelow = secrets.randbelow
) -> str:
    """A number of `length` digits: `prefix`, random digits, the Luhn digit."""
    problem = number_problem(prefix, length)
    if problem:
        raise ValueError(problem)
    n = random_digits(prefix, length)
    partial = prefix + f"{randbelow(10**n):0{n}d}"
    return partial + check_digit(partial)


def new_numbers(
    count: int,
    prefix: str,
    length: int = DEFAULT_LENGTH,
    taken: Container[str] = frozenset(),
    randbelow: RandomBelow = secrets.randbelow,
) -> list[str]:
    """`count` distinct numbers, none of them in `taken` (numbers already issued). The store's
    unique constraint stays the last word; this only keeps a batch from colliding with itself
    and with what the caller knows."""
    problem = number_problem(prefix, length)
    if problem:
        raise ValueError(problem)
    if count < 0 or count > 10 ** random_digits(prefix, length) // 1000:
        # Past a thousandth of the space, collisions would make generation slow and the
        # numbers easy to hit by guessing near a known one.
        raise ValueError(f"cannot draw {count} numbers under prefix {prefix}")
    numbers: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(numbers) < count:
        attempts += 1
        if attempts > 2 * count + 100:
            raise ValueError("the random source keeps repeating itself")
        number = new_number(prefix, length, randbelow)
        if number in seen or number in taken:
            continue
        seen.add(number)
        numbers.append(number)
    return numbers


def parse(raw: str, field: str = "card_number") -> str | FieldProblem:
    """The number in `raw` as stored (digits only), or why it is not one. Spaces and dashes
    between groups are dropped; full-width digits count as digits."""
    if len(raw) > _MAX_RAW:
        return FieldProblem(field, f"at most {_MAX_RAW} characters", "CARD_NUMBER_FORMAT")
    number = unicodedata.normalize("NFKC", raw).translate(_SEPARATORS)
    if not number:
        return FieldProblem(field, "a card number is required", "CARD_NUMBER_FORMAT")
    if not _DIGITS.fullmatch(number):
        return FieldProblem(field, "a card number has digits only", "CARD_NUMBER_FORMAT")
    if not MIN_LENGTH <= len(number) <= MAX_LENGTH:
        return FieldProblem(
            field, f"a card number has {MIN_LENGTH} to {MAX_LENGTH} digits", "CARD_NUMBER_LENGTH"
        )
    if not luhn_valid(number):
        # A typo is almost always caught here, before any look-up or PIN attempt is counted.
        return FieldProblem(field, "the check digit does not match", "CARD_NUMBER_CHECK_DIGIT")
    return number


def mask(number: str) -> str:
    """6212345678901234567 → 6212***********4567: enough to tell one's cards apart, not
    enough to use one (and useless without the PIN anyway)."""
    hidden = len(number) - 2 * VISIBLE
    if hidden <= 0:
        return "*" * len(number)
    return number[:VISIBLE] + "*" * hidden + number[-VISIBLE:]


def grouped(text: str, size: int = 4) -> str:
    """Digits in groups of `size` separated by spaces, as printed on a card (and as `parse`
    reads them back)."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))
