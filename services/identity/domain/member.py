"""Member rules: statuses, profile validation and changes, passwords, referral codes."""

from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass


class MemberStatus(enum.StrEnum):
    """The values are what the members table stores."""

    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


GENDERS = {"", "female", "male", "other"}
PROFILE_FIELDS = ("nickname", "gender", "birthday", "region")
# fromisoformat alone also takes 19900307 and 1990-W10-3; the contract is YYYY-MM-DD.
BIRTHDAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
NICKNAME_MAX = 64
REGION_MAX = 64
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes


@dataclass(frozen=True)
class Profile:
    """What a member declares about itself; every field is optional."""

    nickname: str = ""
    gender: str = ""
    birthday: dt.date | None = None
    region: str = ""

    def filled_fields(self, changes: Mapping[str, object] | None = None) -> list[str]:
        """The names of the fields holding a value, once `changes` are made (what growth's
        profile completeness counts; never the values)."""
        values = {**{name: getattr(self, name) for name in PROFILE_FIELDS}, **(changes or {})}
        return [name for name in PROFILE_FIELDS if values[name]]


def profile_changes(current: Profile, wanted: Mapping[str, object]) -> dict[str, object]:
    """The wanted fields whose value differs from the current one, in the order asked; an empty
    result means nothing is written or published."""
    return {name: value for name, value in wanted.items() if getattr(current, name) != value}


def new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))


def password_problem(password: str) -> str | None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"
    if password.isdigit() or password.isalpha():
        return "must mix letters with digits or symbols"
    return None


def birthday_problem(value: str, today: dt.date) -> str | None:
    if not value:
        return None
    if not BIRTHDAY.fullmatch(value):
        return "must be a date YYYY-MM-DD"
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return "must be a date YYYY-MM-DD"
    if day > today or day.year < 1900:
        return "must be a past date after 1900"
    return None


def is_open(status: str) -> bool:
    """Closing is final: a closed member signs in no more and nothing about it changes."""
    return status != MemberStatus.CLOSED


_NEXT: dict[str, set[MemberStatus]] = {
    MemberStatus.ACTIVE: {MemberStatus.FROZEN, MemberStatus.CLOSED},
    MemberStatus.FROZEN: {MemberStatus.ACTIVE, MemberStatus.CLOSED},
    MemberStatus.CLOSED: set(),
}


def can_transition(current: str, target: str) -> bool:
    """active ⇄ frozen; either → closed; closed is final."""
    return target in _NEXT.get(current, set())


class StatusChange(enum.Enum):
    UNCHANGED = "unchanged"  # already there: nothing is written or published
    APPLY = "apply"
    REFUSED = "refused"


def status_change(current: str, target: str) -> StatusChange:
    """What asking a member in `current` to become `target` does."""
    if current == target:
        return StatusChange.UNCHANGED
    return StatusChange.APPLY if can_transition(current, target) else StatusChange.REFUSED
