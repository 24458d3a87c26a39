"""What every use case on members' points shares: the clock, the member lock, posting, lots,
events.

An operation locks the member, reads on its connection and queues its writes on a `Writes`
batch: one round trip for the journal rows, buckets, lots, holds and events together. It runs
the batch at its end, unless the caller passed one in (the API sends it with the stored
response of the call). Either way the batch knows the member's balance after the operation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from services.kit import auth, db, errors
from services.kit.deps import Deps

from ..config import PointsSettings
from ..domain import calendar, lots, postings, spending
from ..domain import members as members_domain
from ..domain.members import Balance
from ..domain.postings import Buckets, Transaction
from ..store import holds, journal, members
from ..store import lots as lot_store
from ..store.holds import Hold, LockedHold
from ..store.members import LockedMember
from . import events

refused = errors.refused
invalid = errors.invalid_field


def _member_of(txn: Transaction) -> uuid.UUID:
    """The member whose buckets a credit or a debit changes."""
    if txn.member_id is None:
        raise ValueError(f"a {txn.kind} transaction of no member is not a credit or a debit")
    return txn.member_id


class Writes(db.Batch):
    """An operation's writes, and what they do to the member's balance: the balance after is
    known without reading it back (the member is locked, the changes are ours)."""

    def __init__(self) -> None:
        super().__init__()
        self.member: LockedMember | None = None
        self.deltas = Buckets()
        self.lots: list[tuple[dt.datetime, int]] = []  # (expiry, points added or taken)

    def posted(self, txn: Transaction) -> None:
        self.deltas = self.deltas + txn.bucket_deltas()

    def lots_changed(self, changes: list[tuple[dt.datetime, int]]) -> None:
        self.lots.extend(changes)

    def balance(self) -> Balance:
        member = self.member
        if member is None:  # a merchant's top-up changes no member's balance
            raise ValueError("an operation on no member has no member's balance")
        until = member.expiring_until
        expiring = sum(points for expiry, points in self.lots if expiry <= until)
        return Balance(
            member.account.member_id,
            member.account.buckets + self.deltas,
            member.expiring_soon + expiring,
            until,
        )


@dataclass(frozen=True)
class Posted:
    """What a credit or debit did."""

    txn_id: uuid.UUID
    points: int
    debt_repaid: int = 0
    debt_added: int = 0
    expires_at: dt.datetime | None = None


class Accounts:
    """The clock, the member lock, posting and lots, shared by every use case."""

    def __init__(self, deps: Deps[PointsSettings]) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.outbox = deps.outbox

    def now(self) -> dt.datetime:
        return self.deps.now()

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return calendar.business_day(now or self.now(), self.settings.business_zone)

    def lot_expiry(self, now: dt.datetime) -> dt.datetime:
        s = self.settings
        return calendar.lot_expiry(now, s.business_zone, s.lot_validity_months)

    def expiring_until(self) -> dt.datetime:
        """The end of the window of Balance.expiring_soon."""
        return self.now() + dt.timedelta(days=self.settings.expiring_notice_days)

    # --- members and holds, locked ----------------------------------------------------------
    async def member(
        self,
        conn,
        member_id: uuid.UUID,
        *,
        active: bool = False,
        spend: int = 0,
        order_id: str | None = None,
    ) -> LockedMember:
        """The member's account, locked. `active` refuses frozen or closed members; `spend`
        (at least what will be taken) and `order_id` read the lots and the order's holds with
        the lock (see members.lock_with_expiring)."""
        locked = await members.lock_with_expiring(
            conn, member_id, self.expiring_until(), spend, order_id
        )
        if locked is None:
            raise errors.not_found("member", str(member_id))
        if active:
            self.require_active(locked)
        return locked

    async def hold(self, conn, hold_id: uuid.UUID, *, active: bool = False) -> LockedHold:
        """The hold and its member's account, both locked (member first, as everywhere)."""
        locked = await holds.lock_with_member(conn, hold_id, self.expiring_until())
        if locked is None:
            raise errors.not_found("hold", str(hold_id))
        if active:
            self.require_active(locked.member)
        return locked

    @staticmethod
    def require_active(member: LockedMember) -> None:
        refusal = members_domain.refusal_to_earn_or_spend(member.account.status)
        if refusal:
            raise refused(refusal)

    @staticmethod
    def require_available(member: LockedMember, amount: int) -> None:
        refusal = spending.shortfall(member.account.available, amount)
        if refusal:
            raise refused(refusal)

    async def visible_hold(
        self, conn, hold_id: uuid.UUID, owns: Callable[[uuid.UUID], bool]
    ) -> Hold:
        """A hold the caller may see (`owns` its member): another member's is not found."""
        hold = await holds.get(conn, hold_id)
        if hold is None or not owns(hold.member_id):
            raise errors.not_found("hold", str(hold_id))
        return hold

    @contextlib.asynccontextmanager
    async def writing(
        self, conn, writes: Writes | None, member: LockedMember | None
    ) -> AsyncIterator[Writes]:
        """The operation's batch: the caller's (who sends it), or its own, run at the end."""
        own = writes is None
        if writes is None:
            writes = Writes()
        writes.member = member
        yield writes
        if own:
            await writes.run(conn)

    # --- writing: reads go to the connection, writes are queued on the operation's batch -----
    async def post(self, conn, batch: Writes, txn: Transaction, now: dt.datetime) -> uuid.UUID:
        try:
            txn_id = await journal.post(
                conn, batch, txn, business_day=self.today(now), actor=auth.actor()
            )
        except journal.BudgetShort as exc:
            if not exc.exists:
                raise errors.not_found("merchant_budget", exc.merchant_id) from exc
            raise errors.failed_precondition(
                "MERCHANT_BUDGET_INSUFFICIENT", "the merchant's budget is too small"
            ) from exc
        batch.posted(txn)
        return txn_id

    async def consume(
        self,
        conn,
        batch: Writes,
        member_id: uuid.UUID,
        amount: int,
        spendable: list[lots.Lot] | None = None,
    ) -> list[lots.Allocation]:
        """Take `amount` from the member's lots, earliest expiry first (`spendable`: the lots,
        when the caller has read them already)."""
        if amount <= 0:
            return []
        if spendable is None:
            spendable = await lot_store.spendable(conn, member_id, amount)
        allocations = lots.allocate(spendable, amount)
        await lot_store.take(batch, allocations)
        expiry = {lot.lot_id: lot.expires_at for lot in spendable}
        batch.lots_changed([(expiry[a.lot_id], -a.amount) for a in allocations])
        return allocations

    async def put_back(
        self, batch: Writes, taken: list[lots.Taken], back: list[lots.Allocation]
    ) -> None:
        """Return points to the lots a hold took them from."""
        await lot_store.put_back(batch, back)
        expiry = {t.lot_id: t.expires_at for t in taken}
        batch.lots_changed([(expiry[a.lot_id], a.amount) for a in back])

    async def new_lot(
        self, batch: Writes, member_id: uuid.UUID, txn_id: uuid.UUID, amount: int, now: dt.datetime
    ) -> dt.datetime | None:
        if amount <= 0:
            return None
        expires_at = self.lot_expiry(now)
        await lot_store.insert(batch, member_id, txn_id, amount, expires_at)
        batch.lots_changed([(expires_at, amount)])
        return expires_at

    async def credited(
        self,
        conn,
        batch: Writes,
        txn: Transaction,
        amount: int,
        repaid: int,
        now: dt.datetime,
        kind: str = postings.CREDIT,
    ) -> Posted:
        """Post a credit to available: a new lot for what debt did not take, and the event."""
        member_id = _member_of(txn)
        txn_id = await self.post(conn, batch, txn, now)
        expires_at = await self.new_lot(batch, member_id, txn_id, amount - repaid, now)
        await self.publish(
            batch,
            member_id,
            events.credited(txn, txn_id, amount, now, kind, expires_at, repaid),
        )
        return Posted(txn_id, amount, debt_repaid=repaid, expires_at=expires_at)

    async def debited(
        self,
        conn,
        batch: Writes,
        txn: Transaction,
        amount: int,
        kind: str,
        now: dt.datetime,
        debt: int = 0,
    ) -> uuid.UUID:
        """Post a debit and its event."""
        member_id = _member_of(txn)
        txn_id = await self.post(conn, batch, txn, now)
        await self.publish(batch, member_id, events.debited(txn, txn_id, amount, kind, now, debt))
        return txn_id

    async def publish(self, batch: Writes, member_id: uuid.UUID, message: Message) -> None:
        await self.outbox.add(batch, member_id, message)

    # --- reading --------------------------------------------------------------------------
    async def balance(self, conn, member_id: uuid.UUID) -> Balance:
        found = await members.balance(conn, member_id, self.expiring_until())
        if found is None:
            raise errors.not_found("member", str(member_id))
        return found
