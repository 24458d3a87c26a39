"""Resident ID numbers (GB 11643): 17 digits and an ISO 7064 MOD 11-2 check character."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"
# ASCII only: `\d` would also take other scripts' digits, and the same number written in them
# would hash differently and verify a second account.
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def check_character(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def normalize(raw: str) -> str:
    """Full-width digits and X (as a Chinese IME types them) become ASCII; case and spaces go."""
    return unicodedata.normalize("NFKC", raw).strip().upper()


def problem(number: str) -> str | None:
    """Why `number` is not a valid resident ID number, or None when it is."""
    if not _SHAPE.fullmatch(number):
        return "must be 17 digits followed by a digit or X"
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth date is not a real date"
    if check_character(number[:17]) != number[17]:
        return "check character does not match"
    return None


def mask(number: str) -> str:
    """1101**********123X: the region prefix and the last four only."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
