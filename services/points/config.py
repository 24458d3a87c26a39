"""Points settings (POINTS_*, falling back to LOYALTY_*)."""

from __future__ import annotations

from services.kit.config import ServiceSettings


class PointsSettings(ServiceSettings, service="points"):
    # 100 points deduct 1 CNY at checkout; a deduction covers at most this share of an order.
    points_per_cny: int = 100
    max_deduction_percent: int = 50
    hold_timeout_seconds: int = 30 * 60
    lot_validity_months: int = 12
    expiring_notice_days: int = 30
    # Used when a subscription event carries no multiplier.
    subscriber_multiplier: int = 10
    expiry_interval_seconds: float = 300
    hold_timeout_interval_seconds: float = 30
    expiring_notice_interval_seconds: float = 3600
    job_batch: int = 500
    # How long a storefront event for a member points has not seen registered waits for
    # member.registered before it is given up; how often the job gives up what waited too long.
    unknown_member_wait_seconds: int = 24 * 3600
    parked_interval_seconds: float = 60
    # How long a replica keeps the earning rules in effect in memory (a change made through
    # another replica applies here this much later; 0 reads them for every credit).
    rule_cache_seconds: float = 5.0
