"""Members as points knows them: their status (from identity events), what it allows, their
balance, and the once-per-member bonuses."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from .postings import Buckets
from .refusals import Refusal


class MemberStatus(StrEnum):
    """The values are the member_accounts.status column's."""

    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


_INACTIVE = {
    MemberStatus.FROZEN: Refusal("MEMBER_FROZEN", "the member is frozen"),
    MemberStatus.CLOSED: Refusal("MEMBER_CLOSED", "the member has closed the account"),
}


def refusal_to_earn_or_spend(status: MemberStatus) -> Refusal | None:
    """A frozen or closed member neither earns nor spends (adjustments, releases, order
    settlements and expiry still apply to them)."""
    return _INACTIVE.get(status)


def status_after(
    current: MemberStatus,
    applied_at: dt.datetime | None,
    target: MemberStatus,
    at: dt.datetime,
) -> MemberStatus | None:
    """The status after an identity event of time `at`, or None when it changes nothing:
    closed is final, and an event older than the one applied is ignored (unless it closes)."""
    if current is MemberStatus.CLOSED:
        return None
    if applied_at is not None and at < applied_at and target is not MemberStatus.CLOSED:
        return None
    return target


def sign_up_bonus_due(status: MemberStatus, paid: bool) -> bool:
    """Paid once, on registration, to a member active then."""
    return status is MemberStatus.ACTIVE and not paid


def referral_due(
    first_order_completed: bool, referral_paid: bool, referred_by: uuid.UUID | None
) -> bool:
    """The referrer is paid once the referee registered with one and completed an order."""
    return first_order_completed and not referral_paid and referred_by is not None


@dataclass(frozen=True)
class Balance:
    """A member's buckets, and the available points in lots expiring by `expiring_before`."""

    member_id: uuid.UUID
    buckets: Buckets
    expiring_soon: int
    expiring_before: dt.datetime
