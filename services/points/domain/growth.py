"""Growth's upgrade gift packs (升级礼包) as points takes them, and the bounds their events keep.

A pack's points are credited under the `tier_upgrade` rule once per `reference`: the reference
is the credit's dedupe key. Growth builds it from the member, the tier and the period alone
("growth:tier_upgrade:<member_id>:<tier>:<period>"), so a retry, a second replica or a re-run
of a settlement sends the same one. Points insists on exactly that spelling for the event's own
member, tier and period: another spelling of the same grant (an upper-case id, another member's)
would be a second key and a second credit.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

REFERENCE_PREFIX = "growth:tier_upgrade:"
MAX_REFERENCE = 128
MAX_POINTS = 10**7  # one pack's points (growth's own bound on a pack)
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # "YYYY-MM", the calendar month settled
# A pack's coupons are the storefronts' to issue; points checks them as growth bounds them.
COUPON_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
MAX_COUPON_QUANTITY = 100
MAX_COUPON_VALUE_MINOR = 10**8

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class GiftPack:
    """growth.gift_pack_granted: `points` for the member (tier: its lower-case name)."""

    reference: str
    member_id: uuid.UUID
    tier: str
    period: str
    points: int

    @property
    def order_id(self) -> str:
        """Parked as a storefront event is, and of no order."""
        return ""


def reference_of(member_id: uuid.UUID, tier: str, period: str) -> str:
    return f"{REFERENCE_PREFIX}{member_id}:{tier}:{period}"


def gift_pack_problems(pack: GiftPack) -> Problems:
    """What in a gift pack event is out of bounds (field paths of GrowthGiftPackGranted). The
    caller checks the reference's length and characters first (Violations.text)."""
    found: Problems = []
    if not 0 <= pack.points <= MAX_POINTS:
        found.append(("points", f"0 to {MAX_POINTS}"))
    if not pack.tier:
        found.append(("tier", "required: a tier of growth's"))
    period_ok = PERIOD.fullmatch(pack.period) is not None and pack.period[:4] != "0000"
    if not period_ok:
        found.append(("period", "must be a month, YYYY-MM"))
    if len(pack.reference) <= MAX_REFERENCE:  # a longer one is refused by its length alone
        if not pack.reference.startswith(REFERENCE_PREFIX):
            found.append(("reference", f"must start with {REFERENCE_PREFIX!r}"))
        elif pack.tier and period_ok:
            expected = reference_of(pack.member_id, pack.tier, pack.period)
            if pack.reference != expected:
                found.append(("reference", f"must be {expected!r}, the grant's own"))
    return found
