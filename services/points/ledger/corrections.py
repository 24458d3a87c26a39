"""Refund clawbacks and returns, operator adjustments, merchant top-ups, expiry."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.points.v1 import events_pb2 as ev
from services.kit import audit, auth, timestamps

from ..domain import ledger, lots
from ..domain.ledger import Transaction
from ..domain.rules import EarningRule
from ..store import budgets
from ..store import lots as lot_store
from .base import (
    LedgerBase,
    Posted,
)


class Corrections(LedgerBase):
    """Refunds, operator adjustments, merchant top-ups and expiry."""

    async def clawback(
        self, conn, member_id, amount: int, rule_code: str, reference: str, writes=None
    ):
        """Reverse part of an available rebate; what the member already spent becomes debt."""
        row = await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.CLAWBACK,
            str(member_id),
            rule_code=rule_code,
            reference=reference,
            reason="refund",
        )
        owed = ledger.take_or_owe(
            txn,
            str(member_id),
            amount,
            row["available"],
            ledger.issuance(rule_code),
            ledger.CLAWBACK,
        )
        async with self._writing(conn, writes, row) as batch:
            await self._consume(conn, batch, member_id, amount - owed)
            txn_id = await self._post(conn, batch, txn, now)
            await self._debited(batch, member_id, txn_id, amount, ledger.CLAWBACK, txn, now, owed)
        return Posted(txn_id, amount, debt_added=owed)

    async def return_points(
        self, conn, member_id, amount: int, hold_id, reference: str, writes=None
    ):
        """Give back points spent on a refunded order, into the lots they came from."""
        row = await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(ledger.REFUND_RETURN, str(member_id), reference=reference)
        repaid = ledger.credit(
            txn,
            str(member_id),
            amount,
            (ledger.REDEMPTION, ""),
            row["debt"],
            ledger.REFUND_RETURN,
        )
        async with self._writing(conn, writes, row) as batch:
            txn_id = await self._post(conn, batch, txn, now)
            rest = amount - repaid
            if hold_id is not None and rest > 0:
                taken = await lot_store.taken_by_hold(conn, hold_id)
                back, rest = lots.give_back(taken, rest)
                await self._put_back(batch, taken, back)
                await lot_store.mark_returned(batch, hold_id, back)
            expires_at = await self._lot(batch, member_id, txn_id, rest, now)
            await self._credited_event(
                batch, txn, txn_id, amount, now, ledger.REFUND_RETURN, expires_at, repaid
            )
        return Posted(txn_id, amount, debt_repaid=repaid)

    # --- operators ------------------------------------------------------------------------
    async def adjust(
        self, conn, member_id, delta: int, reason: str, rule: EarningRule, writes=None
    ):
        """Operator adjustment with a reason; a removal never takes more than is available."""
        row = await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.ADJUST,
            str(member_id),
            rule_code=rule.rule_code,
            rule_version=rule.version,
            reason=reason,
        )
        async with self._writing(conn, writes, row) as batch:
            if delta > 0:
                repaid = ledger.credit(
                    txn, str(member_id), delta, (ledger.ADJUSTMENT, ""), row["debt"], ledger.ADJUST
                )
                posted = await self._credited(
                    conn, batch, txn, member_id, delta, repaid, now, kind=ledger.ADJUST
                )
            else:
                self._require_available(row, -delta)
                ledger.debit(txn, str(member_id), -delta, (ledger.ADJUSTMENT, ""), ledger.ADJUST)
                await self._consume(conn, batch, member_id, -delta)
                txn_id = await self._post(conn, batch, txn, now)
                await self._debited(batch, member_id, txn_id, -delta, ledger.ADJUST, txn, now)
                posted = Posted(txn_id, -delta)
            await audit.record(
                batch,
                actor=auth.actor(),
                action="points.adjust",
                subject=member_id,
                detail={"delta": delta, "reason": reason, "transaction_id": str(posted.txn_id)},
            )
        return posted

    async def top_up(self, conn, merchant_id: str, amount: int, writes=None) -> uuid.UUID:
        row = None  # no member: a merchant's budget
        await budgets.ensure(conn, merchant_id)
        now = self.now()
        txn = Transaction(ledger.TOP_UP, None, reference=merchant_id)
        ledger.top_up(txn, merchant_id, amount)
        async with self._writing(conn, writes, row) as batch:
            txn_id = await self._post(conn, batch, txn, now)
            await audit.record(
                batch,
                actor=auth.actor(),
                action="points.budget_top_up",
                subject=merchant_id,
                detail={
                    "merchant_id": merchant_id,
                    "points": amount,
                    "transaction_id": str(txn_id),
                },
            )
        return txn_id

    # --- expiry ---------------------------------------------------------------------------
    async def expire(self, conn, member_id, now: dt.datetime, writes=None) -> int:
        """Remove what is left of the member's lots that expired by `now`; returns the points."""
        row = await self.member(conn, member_id)
        due = await lot_store.expired(conn, member_id, now)
        total = sum(lot.remaining for lot in due)
        if total == 0:
            return 0
        async with self._writing(conn, writes, row) as batch:
            await lot_store.take(batch, [lots.Allocation(lot.lot_id, lot.remaining) for lot in due])
            batch.lots_changed([(lot.expires_at, -lot.remaining) for lot in due])
            txn = Transaction(ledger.EXPIRE, str(member_id), reason="lots expired")
            ledger.debit(txn, str(member_id), total, (ledger.EXPIRY, ""), ledger.EXPIRE)
            txn_id = await self._post(conn, batch, txn, now)
            await self.outbox.add(
                batch,
                str(member_id),
                ev.PointsExpired(
                    member_id=str(member_id),
                    points=total,
                    lot_count=len(due),
                    transaction_id=str(txn_id),
                    expired_time=timestamps.to_proto(now),
                ),
            )
        return total
