"""Subscription settings (SUBSCRIPTION_*, falling back to LOYALTY_*)."""

from __future__ import annotations

from pydantic import SecretStr

from services.kit.config import ServiceSettings


class SubscriptionSettings(ServiceSettings, service="subscription"):
    # The key redemption codes are hashed with (base64 of at least 32 random bytes) and its id,
    # stored beside each hash; retired keys (`id:base64,…`) still verify the hashes made with
    # them.
    code_key: SecretStr = SecretStr("")
    code_key_id: str = "k1"
    retired_code_keys: SecretStr = SecretStr("")
    # A renewal charge that failed (or was not paid by the period end) leaves the subscription
    # in grace this many days; a refund is in full within the cooling-off days if no benefit
    # was used.
    grace_days: int = 3
    cooling_off_days: int = 7
    # The renewal job requests the charge this long before the period end, and again this
    # often while unpaid, at most this many times for one period end (only until grace ends).
    renewal_lead_seconds: int = 24 * 3600
    renewal_retry_seconds: int = 24 * 3600
    renewal_max_attempts: int = 3
    # How often the renewal job and the clock job (grace, expiry, lapsed orders) run, and how
    # many subscriptions or orders one of their transactions takes.
    renewal_interval_seconds: float = 60
    clock_interval_seconds: float = 60
    # How often partner codes past their expiry are counted out of their pools.
    perk_lapse_interval_seconds: float = 300
    job_batch: int = 500
    # An order lapses unless paid within this window.
    payment_window_seconds: int = 24 * 3600
    # Stacked terms reach at most this far ahead of now.
    stacking_limit_days: int = 3 * 366
