"""Spending: redemptions and checkout holds (reserve, capture, release)."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.points.v1 import events_pb2 as ev
from services.kit import errors, ids, timestamps

from ..domain import ledger, lots, spending
from ..domain.ledger import Transaction
from ..store import holds
from ..store import lots as lot_store
from .base import (
    CAPTURED,
    EXPIRED,
    HELD,
    RELEASE_REASONS,
    RELEASED,
    SPEND,
    LedgerBase,
    Posted,
)


class Spending(LedgerBase):
    """Debits: redemptions and checkout holds."""

    @staticmethod
    def _require_available(row, amount: int) -> None:
        if row["available"] < amount:
            error = errors.failed_precondition(
                "INSUFFICIENT_POINTS", f"{amount} points needed, {row['available']} available"
            )
            error.metadata = {"available": str(row["available"])}
            raise error

    async def redeem(
        self, conn, member_id, amount: int, item: str, reference: str, writes=None
    ) -> Posted:
        """Spend points at once on a catalogue item."""
        row = await self.member(conn, member_id, SPEND, spend=amount)
        self._require_available(row, amount)
        now = self.now()
        txn = Transaction(ledger.DEBIT, str(member_id), reference=reference or item, reason=item)
        ledger.debit(txn, str(member_id), amount, (ledger.REDEMPTION, ""), ledger.DEBIT)
        async with self._writing(conn, writes, row) as batch:
            await self._consume(conn, batch, member_id, amount, row["spendable"])
            txn_id = await self._post(conn, batch, txn, now)
            await self._debited(batch, member_id, txn_id, amount, ledger.DEBIT, txn, now)
        return Posted(txn_id, amount)

    async def reserve(
        self, conn, member_id, order_id: str, amount: int, order_amount: int, writes=None
    ):
        """Hold points for a checkout, within the order's deduction share."""
        row = await self.member(conn, member_id, SPEND, spend=amount, order_id=order_id)
        s = self.settings
        total = amount + row["on_order"]
        if not spending.within_share(
            total, order_amount, s.max_deduction_percent, s.points_per_cny
        ):
            most = spending.max_points_for(order_amount, s.max_deduction_percent, s.points_per_cny)
            room = max(0, most - (total - amount))
            raise errors.invalid(
                [("points", f"at most {room} more points may be deducted from this order")],
                "HOLD_EXCEEDS_ORDER_SHARE",
            )
        self._require_available(row, amount)
        now = self.now()
        hold_id = ids.new_id()
        txn = Transaction(ledger.HOLD, str(member_id), reference=order_id)
        ledger.hold(txn, str(member_id), amount)
        async with self._writing(conn, writes, row) as batch:
            allocations = await self._consume(conn, batch, member_id, amount, row["spendable"])
            await self._post(conn, batch, txn, now)
            expires_at = now + dt.timedelta(seconds=s.hold_timeout_seconds)
            hold = await holds.insert(
                batch,
                hold_id=hold_id,
                member_id=member_id,
                order_id=order_id,
                amount=amount,
                expires_at=expires_at,
                created_at=now,
            )
            await lot_store.record_hold(batch, hold_id, allocations)
            await self.outbox.add(
                batch,
                str(member_id),
                ev.PointsHeld(
                    member_id=str(member_id),
                    hold_id=str(hold_id),
                    points=amount,
                    order_id=order_id,
                    expire_time=timestamps.to_proto(expires_at),
                ),
            )
        return hold

    async def _locked_hold(self, conn, hold_id: uuid.UUID, use: str | None):
        """The hold and its member's account, both locked (member first, as everywhere)."""
        until = self.expiring_until()
        found = await holds.lock_with_member(conn, hold_id, until)
        if found is None:
            raise errors.not_found("hold", str(hold_id))
        hold, member = found
        self._check_use(member, use)
        return hold, {**member, "expiring_until": until}

    async def capture(self, conn, hold_id: uuid.UUID, use: str | None = SPEND, writes=None):
        """Spend a held reservation. Returns (txn_id, hold)."""
        hold, row = await self._locked_hold(conn, hold_id, use)
        now = self.now()
        state = hold["state"]
        if state == CAPTURED:
            raise errors.failed_precondition("HOLD_ALREADY_CAPTURED", "the hold was captured")
        if state == RELEASED:
            raise errors.failed_precondition("HOLD_RELEASED", "the hold was released")
        if state == EXPIRED or (use and hold["expires_at"] <= now):
            raise errors.failed_precondition("HOLD_EXPIRED", "the hold expired")
        member_id = hold["member_id"]
        txn = Transaction(ledger.HOLD_CAPTURE, str(member_id), reference=hold["order_id"])
        ledger.capture(txn, str(member_id), hold["amount"])
        async with self._writing(conn, writes, row) as batch:
            txn_id = await self._post(conn, batch, txn, now)
            settled = await holds.settle(batch, hold, CAPTURED)
            await self._debited(
                batch, member_id, txn_id, hold["amount"], ledger.HOLD_CAPTURE, txn, now
            )
        return txn_id, settled

    async def capture_lapsed(self, conn, hold_id: uuid.UUID, writes=None):
        """Capture a hold that was released or timed out before its order's payment arrived.

        The member had the discount, so the points are taken from available now; what is not
        there becomes debt. Returns (txn_id, hold).
        """
        hold, row = await self._locked_hold(conn, hold_id, None)
        member_id, amount = hold["member_id"], hold["amount"]
        now = self.now()
        txn = Transaction(
            ledger.HOLD_CAPTURE, str(member_id), reference=hold["order_id"], reason="lapsed hold"
        )
        owed = ledger.take_or_owe(
            txn,
            str(member_id),
            amount,
            row["available"],
            (ledger.REDEMPTION, ""),
            ledger.HOLD_CAPTURE,
        )
        async with self._writing(conn, writes, row) as batch:
            allocations = await self._consume(conn, batch, member_id, amount - owed)
            await lot_store.record_hold(batch, hold_id, allocations)
            txn_id = await self._post(conn, batch, txn, now)
            settled = await holds.settle(batch, hold, CAPTURED)
            await self._debited(
                batch, member_id, txn_id, amount, ledger.HOLD_CAPTURE, txn, now, owed
            )
        return txn_id, settled

    async def release(self, conn, hold_id: uuid.UUID, reason: str = RELEASED, writes=None):
        """Return held points to available. A hold no longer held is returned unchanged;
        a captured one is refused when a caller asked (reason RELEASED)."""
        hold, row = await self._locked_hold(conn, hold_id, None)
        if hold["state"] == CAPTURED and reason == RELEASED:
            raise errors.failed_precondition("HOLD_CAPTURED", "the hold was captured")
        if hold["state"] != HELD:
            return hold
        member_id, amount = hold["member_id"], hold["amount"]
        now = self.now()
        txn = Transaction(
            ledger.HOLD_RELEASE, str(member_id), reference=hold["order_id"], reason=reason
        )
        ledger.release(txn, str(member_id), amount)
        taken = await lot_store.taken_by_hold(conn, hold_id)
        back, rest = lots.give_back(taken, amount)
        async with self._writing(conn, writes, row) as batch:
            txn_id = await self._post(conn, batch, txn, now)
            await self._put_back(batch, taken, back)
            await lot_store.forget_hold(batch, hold_id)
            await self._lot(batch, member_id, txn_id, rest, now)
            settled = await holds.settle(batch, hold, EXPIRED if reason == EXPIRED else RELEASED)
            await self.outbox.add(
                batch,
                str(member_id),
                ev.PointsHoldReleased(
                    member_id=str(member_id),
                    hold_id=str(hold_id),
                    points=amount,
                    reason=RELEASE_REASONS[reason],
                    released_time=timestamps.to_proto(now),
                ),
            )
        return settled
