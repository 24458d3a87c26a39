"""The ledger's shared parts: the member lock, posting, lots, event helpers.

An operation locks the member, reads on its connection and queues its writes on a `Writes`
batch: one round trip for the journal rows, buckets, lots, holds and events together. It runs
the batch at its end, unless the caller passed one in (the API sends it with the stored
response of the call). Either way the batch knows the member's balance after the operation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass

from loyalty.points.v1 import events_pb2 as ev
from loyalty.points.v1 import resources_pb2 as res
from services.kit import auth, db, errors, timestamps
from services.kit.deps import Deps

from ..config import PointsSettings
from ..domain import calendar, ledger, lots
from ..domain.ledger import Transaction
from ..store import journal, members
from ..store import lots as lot_store
from ..store import rules as rule_store

ACTIVE, FROZEN, CLOSED = "active", "frozen", "closed"
EARN, SPEND = "earn", "spend"
HELD, CAPTURED, RELEASED, EXPIRED = "held", "captured", "released", "expired"
RELEASE_REASONS = {
    RELEASED: ev.HOLD_RELEASE_REASON_REQUESTED,
    EXPIRED: ev.HOLD_RELEASE_REASON_EXPIRED,
    "order_cancelled": ev.HOLD_RELEASE_REASON_ORDER_CANCELLED,
}


def entry_kind(kind: str) -> int:
    return res.LedgerEntryKind.Value(f"LEDGER_ENTRY_KIND_{kind.upper()}")


class Writes(db.Batch):
    """An operation's writes, and what they do to the member's balance: the balance after is
    known without reading it back (the member is locked, the changes are ours)."""

    def __init__(self) -> None:
        super().__init__()
        self.member = None  # the locked row, with expiring_soon and expiring_until
        self.buckets = {"available": 0, "pending": 0, "held": 0, "debt": 0}
        self.lots: list[tuple[dt.datetime, int]] = []  # (expiry, points added or taken)

    def posted(self, txn: Transaction) -> None:
        deltas = txn.bucket_deltas()
        for name in self.buckets:
            self.buckets[name] += getattr(deltas, name)

    def lots_changed(self, changes: list[tuple[dt.datetime, int]]) -> None:
        self.lots.extend(changes)

    def balance(self) -> res.Balance:
        row, until = self.member, self.member["expiring_until"]
        expiring = sum(points for expiry, points in self.lots if expiry <= until)
        return res.Balance(
            member_id=str(row["member_id"]),
            **{name: row[name] + delta for name, delta in self.buckets.items()},
            expiring_soon=row["expiring_soon"] + expiring,
            expiring_soon_before=timestamps.to_proto(until),
        )


@dataclass(frozen=True)
class Posted:
    """What a credit or debit did."""

    txn_id: uuid.UUID
    points: int
    debt_repaid: int = 0
    debt_added: int = 0
    expires_at: dt.datetime | None = None


class LedgerBase:
    """The clock, the member lock, posting and lots, shared by every operation."""

    def __init__(self, deps: Deps[PointsSettings]) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.outbox = deps.outbox
        self.rules = rule_store.Cache(deps.settings.rule_cache_seconds)

    def now(self) -> dt.datetime:
        return self.deps.now()

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return calendar.business_day(now or self.now(), self.settings.business_zone)

    def lot_expiry(self, now: dt.datetime) -> dt.datetime:
        s = self.settings
        return calendar.lot_expiry(now, s.business_zone, s.lot_validity_months)

    # --- members --------------------------------------------------------------------------
    def expiring_until(self) -> dt.datetime:
        """The end of the window of Balance.expiring_soon."""
        return self.now() + dt.timedelta(days=self.settings.expiring_notice_days)

    async def member(
        self, conn, member_id: uuid.UUID, use: str | None = None, spend: int = 0, order_id=None
    ):
        """The member's account row, locked. `use` refuses frozen or closed members; `spend`
        (at least what will be taken) and `order_id` read the lots and the order's holds with
        the lock (see members.lock_with_expiring)."""
        until = self.expiring_until()
        row = await members.lock_with_expiring(conn, member_id, until, spend, order_id)
        if row is None:
            raise errors.not_found("member", str(member_id))
        self._check_use(row, use)
        return {**row, "expiring_until": until}

    @contextlib.asynccontextmanager
    async def _writing(self, conn, writes: Writes | None, member):
        """The operation's batch: the caller's (who sends it), or its own, run at the end."""
        own = writes is None
        writes = Writes() if own else writes
        writes.member = member
        yield writes
        if own:
            await writes.run(conn)

    @staticmethod
    def _check_use(row, use: str | None) -> None:
        if use and row["status"] == FROZEN:
            raise errors.failed_precondition("MEMBER_FROZEN", "the member is frozen")
        if use and row["status"] == CLOSED:
            raise errors.failed_precondition("MEMBER_CLOSED", "the member has closed the account")

    # --- writing: reads go to the connection, writes are queued on the operation's batch -----
    async def _post(self, conn, batch: Writes, txn: Transaction, now) -> uuid.UUID:
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

    async def _consume(
        self, conn, batch: Writes, member_id: uuid.UUID, amount: int, spendable=None
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

    async def _put_back(self, batch: Writes, taken: list[lots.Taken], back) -> None:
        """Return points to the lots a hold took them from."""
        await lot_store.put_back(batch, back)
        expiry = {t.lot_id: t.expires_at for t in taken}
        batch.lots_changed([(expiry[a.lot_id], a.amount) for a in back])

    async def _lot(self, batch, member_id, txn_id, amount: int, now) -> dt.datetime | None:
        if amount <= 0:
            return None
        expires_at = self.lot_expiry(now)
        await lot_store.insert(batch, member_id, txn_id, amount, expires_at)
        batch.lots_changed([(expires_at, amount)])
        return expires_at

    async def _credited(
        self, conn, batch, txn: Transaction, member_id, amount: int, repaid: int, now, kind=None
    ) -> Posted:
        txn_id = await self._post(conn, batch, txn, now)
        expires_at = await self._lot(batch, member_id, txn_id, amount - repaid, now)
        await self._credited_event(
            batch, txn, txn_id, amount, now, kind or ledger.CREDIT, expires_at, repaid
        )
        return Posted(txn_id, amount, debt_repaid=repaid, expires_at=expires_at)

    async def _credited_event(
        self, batch, txn: Transaction, txn_id, amount, now, kind, expires_at=None, repaid=0
    ) -> None:
        await self.outbox.add(
            batch,
            txn.member_id,
            ev.PointsCredited(
                member_id=txn.member_id,
                transaction_id=str(txn_id),
                points=amount,
                rule_code=txn.rule_code,
                reference=txn.reference,
                pending=kind == ledger.PENDING_CREDIT,
                expire_time=timestamps.to_proto(expires_at),
                credited_time=timestamps.to_proto(now),
                kind=entry_kind(kind),
                debt_repaid=repaid,
            ),
        )

    async def _debited(self, batch, member_id, txn_id, amount, kind, txn, now, debt=0) -> None:
        await self.outbox.add(
            batch,
            str(member_id),
            ev.PointsDebited(
                member_id=str(member_id),
                transaction_id=str(txn_id),
                points=amount,
                kind=entry_kind(kind),
                reason=txn.reason,
                reference=txn.reference,
                debited_time=timestamps.to_proto(now),
                debt_points=debt,
            ),
        )

    # --- reading --------------------------------------------------------------------------
    async def balance(self, conn, member_id: uuid.UUID) -> res.Balance:
        until = self.expiring_until()
        row = await members.balance(conn, member_id, until)
        if row is None:
            raise errors.not_found("member", str(member_id))
        return res.Balance(
            member_id=str(member_id),
            available=row["available"],
            pending=row["pending"],
            held=row["held"],
            debt=row["debt"],
            expiring_soon=row["expiring_soon"],
            expiring_soon_before=timestamps.to_proto(until),
        )
