"""One-time codes that prove a phone number or an e-mail address: what they prove and what one
looks like."""

from __future__ import annotations

import enum
import re
import secrets


class Purpose(enum.StrEnum):
    """What a code proves its address for; a code serves its purpose only. The values are what
    the verification_codes table stores."""

    REGISTER = "register"
    SIGN_IN = "sign_in"
    CLOSE_MEMBER = "close_member"


LENGTH = 6
_CODE = re.compile(r"[0-9]{6}")
CODE_RULE = f"{LENGTH} digits"


def new_code() -> str:
    """Six random digits: with a few tries per code, guessing one is a matter of luck at
    one in a million a try."""
    return f"{secrets.randbelow(10**LENGTH):0{LENGTH}d}"


def code_problem(code: str) -> str | None:
    return None if _CODE.fullmatch(code) else CODE_RULE
