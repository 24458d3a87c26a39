"""Wrong PINs lock a card for a while.

The per-card count sits beside the per-client throttle (the kit's shared rate limits): the
lock stops many clients guessing one card, the throttle one client guessing many cards. The
use case counts failures for unknown numbers too (keyed by the number's hash), so that a lock
does not reveal that a number exists.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from .refusals import Refusal


@dataclass(frozen=True)
class LockPolicy:
    max_failures: int = 5
    lock_for: dt.timedelta = dt.timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.lock_for <= dt.timedelta(0):
            raise ValueError("a lock policy needs at least one failure and a positive lock")


@dataclass(frozen=True)
class PinAttempts:
    """Wrong PINs since the last success or lock, and the end of the current lock."""

    failures: int = 0
    locked_until: dt.datetime | None = None


def refusal_while_locked(attempts: PinAttempts, now: dt.datetime) -> Refusal | None:
    """Checked before the PIN: during a lock even the right PIN is refused, else a lock would
    only slow down a guesser who keeps going."""
    if attempts.locked_until is None or now >= attempts.locked_until:
        return None
    seconds = math.ceil((attempts.locked_until - now).total_seconds())
    return Refusal(
        "CARD_LOCKED",
        "too many wrong PINs; try again later",
        metadata={"retry_after_seconds": str(seconds)},
        quota=True,
    )


def after_failure(attempts: PinAttempts, now: dt.datetime, policy: LockPolicy) -> PinAttempts:
    failures = attempts.failures + 1
    if failures >= policy.max_failures:
        return PinAttempts(0, now + policy.lock_for)
    return PinAttempts(failures, attempts.locked_until)


def after_success() -> PinAttempts:
    return PinAttempts()
