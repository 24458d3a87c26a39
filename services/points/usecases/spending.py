"""Spending: redemptions and checkout holds (reserve, capture, release, time out)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.kit import ids

from ..domain import holds as holds_domain
from ..domain import lots, postings, spending
from ..domain.holds import HoldState, ReleaseReason
from ..domain.members import Balance
from ..domain.postings import Transaction
from ..domain.refusals import Refusal
from ..store import holds
from ..store import lots as lot_store
from ..store.holds import Hold
from . import events
from .accounts import Accounts, Posted, Writes, invalid, refused


@dataclass(frozen=True)
class Captured:
    txn_id: uuid.UUID
    hold: Hold


@dataclass(frozen=True)
class Released:
    hold: Hold
    balance: Balance


class Spending:
    """Debits: redemptions and checkout holds."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.settings = accounts.settings

    async def redeem(
        self,
        conn,
        member_id: uuid.UUID,
        amount: int,
        item: str,
        reference: str,
        writes: Writes | None = None,
    ) -> Posted:
        """Spend points at once on a catalogue item."""
        row = await self.accounts.member(conn, member_id, active=True, spend=amount)
        self.accounts.require_available(row, amount)
        now = self.accounts.now()
        txn = Transaction(postings.DEBIT, member_id, reference=reference or item, reason=item)
        postings.debit(txn, member_id, amount, (postings.REDEMPTION, ""), postings.DEBIT)
        async with self.accounts.writing(conn, writes, row) as batch:
            await self.accounts.consume(conn, batch, member_id, amount, row.spendable)
            txn_id = await self.accounts.debited(conn, batch, txn, amount, postings.DEBIT, now)
        return Posted(txn_id, amount)

    async def reserve(
        self,
        conn,
        member_id: uuid.UUID,
        order_id: str,
        amount: int,
        order_amount: int,
        writes: Writes | None = None,
    ) -> Hold:
        """Hold points for a checkout, within the order's deduction share."""
        row = await self.accounts.member(
            conn, member_id, active=True, spend=amount, order_id=order_id
        )
        assert row.on_order is not None  # read with the lock: the order was named
        s = self.settings
        problem = spending.hold_share_problem(
            amount, row.on_order, order_amount, s.max_deduction_percent, s.points_per_cny
        )
        if problem:
            raise invalid(problem)
        self.accounts.require_available(row, amount)
        now = self.accounts.now()
        txn = Transaction(postings.HOLD, member_id, reference=order_id)
        postings.hold(txn, member_id, amount)
        async with self.accounts.writing(conn, writes, row) as batch:
            allocations = await self.accounts.consume(conn, batch, member_id, amount, row.spendable)
            await self.accounts.post(conn, batch, txn, now)
            hold = await holds.insert(
                batch,
                hold_id=ids.new_id(),
                member_id=member_id,
                order_id=order_id,
                amount=amount,
                expires_at=now + dt.timedelta(seconds=s.hold_timeout_seconds),
                created_at=now,
            )
            await lot_store.record_hold(batch, hold.hold_id, allocations)
            await self.accounts.publish(batch, member_id, events.held(hold))
        return hold

    async def capture(
        self, conn, hold_id: uuid.UUID, *, by_caller: bool = True, writes: Writes | None = None
    ) -> Captured:
        """Spend a held reservation. A caller's capture (`by_caller`) needs an active member
        and a hold within its time; an order's payment captures any held hold."""
        locked = await self.accounts.hold(conn, hold_id, active=by_caller)
        hold = locked.hold
        now = self.accounts.now()
        state = holds_domain.capture(hold.state, hold.expires_at, now, on_time_only=by_caller)
        if isinstance(state, Refusal):
            raise refused(state)
        txn = Transaction(postings.HOLD_CAPTURE, hold.member_id, reference=hold.order_id)
        postings.capture(txn, hold.member_id, hold.amount)
        async with self.accounts.writing(conn, writes, locked.member) as batch:
            txn_id = await self.accounts.debited(
                conn, batch, txn, hold.amount, postings.HOLD_CAPTURE, now
            )
            settled = await holds.settle(batch, hold, state)
        return Captured(txn_id, settled)

    async def capture_lapsed(
        self, conn, hold_id: uuid.UUID, writes: Writes | None = None
    ) -> Captured:
        """Capture a hold that was released or timed out before its order's payment arrived.

        The member had the discount, so the points are taken from available now; what is not
        there becomes debt.
        """
        locked = await self.accounts.hold(conn, hold_id)
        hold, member = locked.hold, locked.member
        now = self.accounts.now()
        txn = Transaction(
            postings.HOLD_CAPTURE, hold.member_id, reference=hold.order_id, reason="lapsed hold"
        )
        owed = postings.take_or_owe(
            txn,
            hold.member_id,
            hold.amount,
            member.account.available,
            (postings.REDEMPTION, ""),
            postings.HOLD_CAPTURE,
        )
        async with self.accounts.writing(conn, writes, member) as batch:
            allocations = await self.accounts.consume(
                conn, batch, hold.member_id, hold.amount - owed
            )
            await lot_store.record_hold(batch, hold_id, allocations)
            txn_id = await self.accounts.debited(
                conn, batch, txn, hold.amount, postings.HOLD_CAPTURE, now, owed
            )
            settled = await holds.settle(batch, hold, HoldState.CAPTURED)
        return Captured(txn_id, settled)

    async def release(
        self,
        conn,
        hold_id: uuid.UUID,
        why: ReleaseReason = ReleaseReason.REQUESTED,
        writes: Writes | None = None,
    ) -> Hold:
        """Return held points to available, into the lots they came from. A hold no longer
        held is returned unchanged; a captured one is refused when a caller asked."""
        locked = await self.accounts.hold(conn, hold_id)
        hold = locked.hold
        state = holds_domain.release(hold.state, why)
        if isinstance(state, Refusal):
            raise refused(state)
        if state is None:
            return hold
        now = self.accounts.now()
        txn = Transaction(
            postings.HOLD_RELEASE, hold.member_id, reference=hold.order_id, reason=why.value
        )
        postings.release(txn, hold.member_id, hold.amount)
        taken = await lot_store.taken_by_hold(conn, hold_id)
        back, rest = lots.give_back(taken, hold.amount)
        async with self.accounts.writing(conn, writes, locked.member) as batch:
            txn_id = await self.accounts.post(conn, batch, txn, now)
            await self.accounts.put_back(batch, taken, back)
            await lot_store.forget_hold(batch, hold_id)
            await self.accounts.new_lot(batch, hold.member_id, txn_id, rest, now)
            settled = await holds.settle(batch, hold, state)
            await self.accounts.publish(batch, hold.member_id, events.hold_released(hold, why, now))
        return settled

    async def release_for(
        self, conn, hold_id: uuid.UUID, owns: Callable[[uuid.UUID], bool]
    ) -> Released:
        """A caller releases a hold it may see (`owns` its member); another's is not found."""
        await self.accounts.visible_hold(conn, hold_id, owns)
        hold = await self.release(conn, hold_id)
        return Released(hold, await self.accounts.balance(conn, hold.member_id))
