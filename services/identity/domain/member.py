"""Member rules: statuses, profile validation, lockout, tags."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

ACTIVE, FROZEN, CLOSED = "active", "frozen", "closed"
CHANNELS = {"app", "web", "mini_program", "store_desk", "bulk_import"}
GENDERS = {"", "female", "male", "other"}
PROVIDERS = {"wechat", "qq", "alipay", "apple"}
TAG = re.compile(r"^[a-z0-9][a-z0-9_:.-]{0,63}$")
# fromisoformat alone also takes 19900307 and 1990-W10-3; the contract is YYYY-MM-DD.
BIRTHDAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_TAGS = 64
PASSWORD_MIN, PASSWORD_MAX = 8, 128
NICKNAME_MAX = 64
REGION_MAX = 64
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes


@dataclass(frozen=True)
class LockoutPolicy:
    """Repeated failed logins lock the credential for a while."""

    max_failures: int = 5
    lock_minutes: int = 15

    def after_failure(self, failures: int, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        """New failure count and, when the limit is reached, when the lock ends."""
        failures += 1
        if failures >= self.max_failures:
            return 0, now + dt.timedelta(minutes=self.lock_minutes)
        return failures, None

    @staticmethod
    def is_locked(locked_until: dt.datetime | None, now: dt.datetime) -> bool:
        return locked_until is not None and locked_until > now


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


def tag_problem(tag: str) -> str | None:
    if not TAG.fullmatch(tag):
        return "lower-case letters, digits and _:.- only, 1 to 64 characters"
    return None


def can_transition(current: str, target: str) -> bool:
    """active ⇄ frozen; either → closed; closed is final."""
    allowed = {ACTIVE: {FROZEN, CLOSED}, FROZEN: {ACTIVE, CLOSED}, CLOSED: set()}
    return target in allowed.get(current, set())
