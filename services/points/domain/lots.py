"""Lots: each credit to available expires on its own date; spending takes earliest-expiry first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Lot:
    lot_id: object
    remaining: int
    expires_at: dt.datetime


@dataclass(frozen=True)
class Allocation:
    """Points a spend took from a lot (or a return put back)."""

    lot_id: object
    amount: int


def allocate(lots: list[Lot], amount: int) -> list[Allocation]:
    """Take `amount` from `lots`, earliest expiry first (ties by lot id: the older lot)."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    taken: list[Allocation] = []
    left = amount
    for lot in sorted(lots, key=lambda lot: (lot.expires_at, str(lot.lot_id))):
        if left == 0:
            break
        part = min(left, lot.remaining)
        if part > 0:
            taken.append(Allocation(lot.lot_id, part))
            left -= part
    if left:
        raise ValueError(f"lots cover {amount - left} of {amount} points")
    return taken


@dataclass(frozen=True)
class Taken:
    """Points a hold took from a lot, and how many of them were given back already."""

    lot_id: object
    amount: int
    returned: int
    expires_at: dt.datetime


def give_back(taken: list[Taken], amount: int) -> tuple[list[Allocation], int]:
    """Put up to `amount` back into the lots a hold took from, latest expiry first.

    Returns the allocations and the part that fits in no lot (the caller makes a new lot).
    """
    back: list[Allocation] = []
    left = amount
    for t in sorted(taken, key=lambda t: (t.expires_at, str(t.lot_id)), reverse=True):
        part = min(left, t.amount - t.returned)
        if part > 0:
            back.append(Allocation(t.lot_id, part))
            left -= part
    return back, left
