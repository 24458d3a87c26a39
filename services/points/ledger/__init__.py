"""Units of work on a member's points: lock the member, let the domain decide, write the journal,
the buckets, the lots and the events, all inside the caller's transaction.

Every operation starts by locking the member's account row, so operations on one member run
one at a time while different members proceed in parallel. Lots change only under that lock.
"""

from .base import (
    ACTIVE,
    CAPTURED,
    CLOSED,
    EARN,
    EXPIRED,
    FROZEN,
    HELD,
    RELEASED,
    SPEND,
    Posted,
    Writes,
    entry_kind,
)
from .corrections import Corrections
from .earning import Earning
from .spending import Spending


class Ledger(Earning, Spending, Corrections):
    """Every operation on members' points (see earning, spending and corrections)."""


__all__ = [
    "ACTIVE",
    "CAPTURED",
    "CLOSED",
    "EARN",
    "EXPIRED",
    "FROZEN",
    "HELD",
    "RELEASED",
    "SPEND",
    "Ledger",
    "Posted",
    "Writes",
    "entry_kind",
]
