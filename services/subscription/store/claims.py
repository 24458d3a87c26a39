"""Benefit claims (the benefits helper fills this in)."""

from __future__ import annotations

import datetime as dt
import uuid

from ..domain.refunds import BenefitUse


async def uses(conn, member_id: uuid.UUID, since: dt.datetime) -> list[BenefitUse]:
    """The benefits `member_id` claimed from `since` on (what a refund deducts)."""
    return []
