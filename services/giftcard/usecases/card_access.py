"""A card by its number and PIN. An unknown number and a wrong PIN get one answer, in the same
time. Wrong PINs lock the number for a while (known or not, so a lock tells nothing) — during a
lock even the right PIN is refused — and count against the caller across cards (the kit's
shared rate limits). Each attempt is judged in a transaction of its own, so a failure is
recorded even when the caller's own work then fails."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

from services.kit import errors
from services.kit.ratelimit import Limit

from ..deps import GiftcardDeps
from ..domain import lockout, pins
from ..store import cards as card_store
from ..store import pin_locks

CREDENTIALS_INVALID = "CARD_CREDENTIALS_INVALID"
_THROTTLED = "too many wrong card secrets from this caller; try again later"


class CardAccess:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    def _policy(self) -> lockout.LockPolicy:
        s = self.deps.settings
        return lockout.LockPolicy(
            s.pin_failures_before_lock, dt.timedelta(seconds=s.pin_lock_seconds)
        )

    def _caller_limit(self) -> Limit:
        s = self.deps.settings
        return Limit(
            "giftcard.pin_failures", s.pin_failures_per_caller, s.pin_failure_window_seconds
        )

    def number_hash(self, card_number: str) -> bytes:
        """A keyed hash of the number: the lock table never holds card numbers."""
        key = self.deps.keyring.current.secret
        return hmac.new(key, b"giftcard.number\x00" + card_number.encode(), hashlib.sha256).digest()

    async def open(self, card_number: str, pin: str, caller: str) -> uuid.UUID:
        """The id of the card `card_number` whose PIN is `pin`, or PERMISSION_DENIED
        CARD_CREDENTIALS_INVALID; RESOURCE_EXHAUSTED CARD_LOCKED (the number) or RATE_LIMITED
        (the caller) with a RetryInfo. `caller` names who asks (its failures are limited)."""
        limiter = self.deps.limiter
        limit = (self._caller_limit(), caller)
        # Only failures count against a caller, and an attempt in flight holds no place in its
        # window (a storefront checks out many shoppers at once): the window is looked at
        # first, and a failure is counted once it is known.
        await limiter.check(*limit, message=_THROTTLED)
        digest = self.number_hash(card_number)
        async with self.deps.pool.acquire() as conn, conn.transaction():
            now = self.deps.now()
            on_record = await pin_locks.lock(conn, digest)
            locked = lockout.refusal_while_locked(on_record or lockout.PinAttempts(), now)
            if locked is not None:
                raise errors.refused(locked)
            card = await card_store.by_number(conn, card_number)
            stored = card.pin if card is not None else None
            failed = not _verified(self.deps.keyring, card_number, pin, stored)
            if failed:
                attempts = on_record or await pin_locks.lock_for_failure(conn, digest)
                after = lockout.after_failure(attempts, now, self._policy())
                await pin_locks.save(conn, digest, after, now)
            else:
                if on_record is not None:  # a good PIN clears the failures on record
                    await pin_locks.save(conn, digest, lockout.after_success(), now)
                assert card is not None and stored is not None
                if pins.needs_rehash(stored, self.deps.keyring):
                    current = self.deps.keyring.current
                    await card_store.rehash_pin(
                        conn, card.card_id, pins.hash_pin(pin, card_number, current)
                    )
        if failed:
            await limiter.take(limit, message=_THROTTLED)
            raise errors.permission_denied(CREDENTIALS_INVALID, "no card with this number and PIN")
        assert card is not None
        return card.card_id


def _verified(
    keyring: pins.PinKeyring, card_number: str, pin: str, stored: pins.PinHash | None
) -> bool:
    try:
        return pins.verify(keyring, card_number, pin, stored)
    except pins.UnknownPinKey:
        # A hash under a key the deployment dropped: a configuration fault, not the caller's.
        raise errors.unavailable(
            "PIN_KEY_MISSING", "the card's PIN cannot be checked now"
        ) from None
