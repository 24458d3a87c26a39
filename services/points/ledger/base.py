"""The ledger's shared parts: the member lock, posting, lots, event helpers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from loyalty.points.v1 import events_pb2 as ev
from loyalty.points.v1 import resources_pb2 as res
from services.kit import auth, errors, timestamps
from services.kit.outbox import Outbox

from ..config import PointsSettings
from ..domain import calendar, ledger, lots
from ..domain.ledger import Transaction
from ..store import journal, members
from ..store import lots as lot_store

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


def actor() -> str:
    principal = auth.current.get()
    return f"{principal.kind}:{principal.subject}" if principal else "system"


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

    def __init__(
        self,
        settings: PointsSettings,
        outbox: Outbox,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.clock = clock or timestamps.now

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return calendar.business_day(now or self.now(), self.settings.business_zone)

    def lot_expiry(self, now: dt.datetime) -> dt.datetime:
        s = self.settings
        return calendar.lot_expiry(now, s.business_zone, s.lot_validity_months)

    # --- members --------------------------------------------------------------------------
    async def member(self, conn, member_id: uuid.UUID, use: str | None = None):
        """The member's account row, locked. `use` refuses frozen or closed members."""
        row = await members.lock(conn, member_id)
        if row is None:
            raise errors.not_found("member", str(member_id))
        if use and row["status"] == FROZEN:
            raise errors.failed_precondition("MEMBER_FROZEN", "the member is frozen")
        if use and row["status"] == CLOSED:
            raise errors.failed_precondition("MEMBER_CLOSED", "the member has closed the account")
        return row

    async def _post(self, conn, txn: Transaction, now: dt.datetime):
        try:
            return await journal.post(conn, txn, business_day=self.today(now), actor=actor())
        except journal.BudgetShort as exc:
            raise errors.failed_precondition(
                "MERCHANT_BUDGET_INSUFFICIENT", "the merchant's budget is too small"
            ) from exc

    async def _consume(self, conn, member_id: uuid.UUID, amount: int) -> list[lots.Allocation]:
        """Take `amount` from the member's lots, earliest expiry first."""
        if amount <= 0:
            return []
        allocations = lots.allocate(await lot_store.spendable(conn, member_id), amount)
        await lot_store.take(conn, allocations)
        return allocations

    async def _lot(self, conn, member_id, txn_id, amount: int, now) -> dt.datetime | None:
        if amount <= 0:
            return None
        expires_at = self.lot_expiry(now)
        await lot_store.insert(conn, member_id, txn_id, amount, expires_at)
        return expires_at

    async def _credited(
        self, conn, txn: Transaction, member_id, amount: int, repaid: int, now, kind=None
    ) -> Posted:
        txn_id, _ = await self._post(conn, txn, now)
        expires_at = await self._lot(conn, member_id, txn_id, amount - repaid, now)
        await self._credited_event(
            conn, txn, txn_id, amount, now, kind or ledger.CREDIT, expires_at, repaid
        )
        return Posted(txn_id, amount, debt_repaid=repaid, expires_at=expires_at)

    async def _credited_event(
        self, conn, txn: Transaction, txn_id, amount, now, kind, expires_at=None, repaid=0
    ) -> None:
        await self.outbox.add(
            conn,
            "points.credited",
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

    async def _debited(self, conn, member_id, txn_id, amount, kind, txn, now, debt=0) -> None:
        await self.outbox.add(
            conn,
            "points.debited",
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
        row = await members.get(conn, member_id)
        if row is None:
            raise errors.not_found("member", str(member_id))
        now = self.now()
        until = now + dt.timedelta(days=self.settings.expiring_notice_days)
        return res.Balance(
            member_id=str(member_id),
            available=row["available"],
            pending=row["pending"],
            held=row["held"],
            debt=row["debt"],
            expiring_soon=await lot_store.expiring_soon(conn, member_id, until),
            expiring_soon_before=timestamps.to_proto(until),
        )
