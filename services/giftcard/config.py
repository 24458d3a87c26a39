"""Giftcard settings (GIFTCARD_*, falling back to LOYALTY_*)."""

from __future__ import annotations

from pydantic import SecretStr

from services.kit.config import ServiceSettings


class GiftcardSettings(ServiceSettings, service="giftcard"):
    # The key PIN hashes are made with (base64 of at least 32 random bytes) and its id, stored
    # beside each hash; retired keys (`id:base64,…`) still verify the hashes made with them.
    pin_key: SecretStr = SecretStr("")
    pin_key_id: str = "k1"
    retired_pin_keys: SecretStr = SecretStr("")
    # Card numbers: the issuer prefix and the length (16-19, the last digit a Luhn check digit).
    card_number_prefix: str = "9"
    card_number_length: int = 19
    currency_code: str = "CNY"
    # Wrong PINs: this many in a row lock a card number for the lock time; one caller may get
    # this many wrong across cards in the window (shared by every replica).
    pin_failures_before_lock: int = 5
    pin_lock_seconds: int = 30 * 60
    pin_failures_per_caller: int = 20
    pin_failure_window_seconds: int = 10 * 60
    hold_seconds: int = 30 * 60
    export_page_size: int = 1000
    max_top_up_minor: int = 5_000_000  # 50,000.00 CNY in one top-up
    # Jobs: holds past their expiry released, cards past their validity expired, the daily
    # reconciliation report (for the business day before, in LOYALTY_BUSINESS_ZONE).
    hold_expiry_interval_seconds: float = 30
    card_expiry_interval_seconds: float = 300
    reconciliation_interval_seconds: float = 3600
    job_batch: int = 500
