"""Units of work on a member's points: lock the member, let the domain decide, write the journal,
the buckets, the lots and the events, all inside the caller's transaction.

Every operation starts by locking the member's account row, so operations on one member run
one at a time while different members proceed in parallel. Lots change only under that lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import timestamp_pb2

from loyalty.points.v1 import events_pb2 as ev
from loyalty.points.v1 import resources_pb2 as res
from services.kit import auth, errors, ids, logging
from services.kit.outbox import Outbox

from .config import PointsSettings
from .domain import calendar, ledger, lots, spending
from .domain import rules as rules_domain
from .domain.ledger import Transaction
from .domain.rules import EarningRule
from .store import budgets, holds, journal, members
from .store import lots as lot_store
from .store import rules as rule_store

log = logging.get("points.ledger")

ACTIVE, FROZEN, CLOSED = "active", "frozen", "closed"
EARN, SPEND = "earn", "spend"
HELD, CAPTURED, RELEASED, EXPIRED = "held", "captured", "released", "expired"
_RELEASE_REASONS = {
    RELEASED: ev.HOLD_RELEASE_REASON_REQUESTED,
    EXPIRED: ev.HOLD_RELEASE_REASON_EXPIRED,
    "order_cancelled": ev.HOLD_RELEASE_REASON_ORDER_CANCELLED,
}


def ts(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


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


class Ledger:
    def __init__(
        self,
        settings: PointsSettings,
        outbox: Outbox,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

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

    # --- earning --------------------------------------------------------------------------
    async def cap_room(self, conn, member_id, rule: EarningRule, now) -> tuple[int | None, str]:
        if not rule.daily_cap and not (rule.period_cap and rule.period_days):
            return None, ""
        today = self.today(now)
        earned_today = await journal.earned(conn, member_id, rule.rule_code, today, today)
        earned_period = 0
        if rule.period_cap and rule.period_days:
            since = rules_domain.period_start(rule, today)
            earned_period = await journal.earned(conn, member_id, rule.rule_code, since, today)
        return rules_domain.cap_room(rule, earned_today, earned_period)

    async def allowed(self, conn, member_id, rule: EarningRule, amount: int, now, clamp: bool):
        """The amount the rule lets the member earn now; raises when refused."""
        if not rule.enabled:
            raise errors.failed_precondition("RULE_DISABLED", f"rule {rule.rule_code} is disabled")
        room, which = await self.cap_room(conn, member_id, rule, now)
        if room is None or room >= amount:
            return amount
        if clamp and room > 0:
            return room
        reason = "DAILY_CAP_REACHED" if which == rules_domain.DAILY_CAP else "PERIOD_CAP_REACHED"
        error = errors.resource_exhausted(reason, f"the {which} cap of {rule.rule_code} is reached")
        error.metadata = {"remaining": str(room)}
        raise error

    async def earn(
        self,
        conn,
        member_id: uuid.UUID,
        rule: EarningRule,
        amount: int,
        *,
        reference: str = "",
        merchant_id: str = "",
        dedupe_key: str | None = None,
        clamp: bool = False,
    ) -> Posted | None:
        """Credit points earned under a rule (available at once). None when deduplicated."""
        row = await self.member(conn, member_id, EARN)
        if dedupe_key and await journal.dedupe_exists(conn, dedupe_key):
            return None
        now = self.now()
        amount = await self.allowed(conn, member_id, rule, amount, now, clamp)
        if rule.merchant_funded:
            if await budgets.get(conn, merchant_id) is None:
                raise errors.not_found("merchant_budget", merchant_id)
            source = ledger.merchant_budget(merchant_id)
        else:
            source = ledger.issuance(rule.rule_code)
        txn = Transaction(
            ledger.CREDIT,
            str(member_id),
            rule_code=rule.rule_code,
            rule_version=rule.version,
            reference=reference,
            earned=amount,
            dedupe_key=dedupe_key,
        )
        repaid = ledger.credit(txn, str(member_id), amount, source, row["debt"])
        return await self._credited(conn, txn, member_id, amount, repaid, now)

    async def _credited(
        self, conn, txn: Transaction, member_id, amount: int, repaid: int, now, kind=None
    ) -> Posted:
        kind = kind or ledger.CREDIT
        txn_id, _ = await self._post(conn, txn, now)
        expires_at = await self._lot(conn, member_id, txn_id, amount - repaid, now)
        await self.outbox.add(
            conn,
            "points.credited",
            str(member_id),
            ev.PointsCredited(
                member_id=str(member_id),
                transaction_id=str(txn_id),
                points=amount,
                rule_code=txn.rule_code,
                reference=txn.reference,
                pending=False,
                expire_time=ts(expires_at),
                credited_time=ts(now),
                kind=entry_kind(kind),
                debt_repaid=repaid,
            ),
        )
        return Posted(txn_id, amount, debt_repaid=repaid, expires_at=expires_at)

    async def sign_in(self, conn, member_id) -> tuple[Posted, int]:
        """Daily sign-in: the rule's points plus the streak bonus, once per business day."""
        row = await self.member(conn, member_id, EARN)
        now = self.now()
        today = self.today(now)
        streak = rules_domain.next_streak(row["last_sign_in_day"], row["streak_days"], today)
        if streak is None:
            raise errors.failed_precondition("ALREADY_SIGNED_IN", "already signed in today")
        rule = await rule_store.current(conn, rules_domain.CODE_SIGN_IN, now)
        if rule is None:
            raise errors.not_found("rule", rules_domain.CODE_SIGN_IN)
        points = rules_domain.sign_in_points(rule, streak)
        posted = await self.earn(
            conn, member_id, rule, points, reference=f"sign_in:{today.isoformat()}"
        )
        await members.update(conn, member_id, last_sign_in_day=today, streak_days=streak)
        return posted, streak

    async def credit_pending(
        self, conn, member_id, rule: EarningRule, amount: int, reference: str
    ) -> uuid.UUID:
        """A purchase rebate, pending until its order completes."""
        await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.PENDING_CREDIT,
            str(member_id),
            rule_code=rule.rule_code,
            rule_version=rule.version,
            reference=reference,
            earned=amount,
        )
        ledger.pending_credit(txn, str(member_id), amount, ledger.issuance(rule.rule_code))
        txn_id, _ = await self._post(conn, txn, now)
        await self.outbox.add(
            conn,
            "points.credited",
            str(member_id),
            ev.PointsCredited(
                member_id=str(member_id),
                transaction_id=str(txn_id),
                points=amount,
                rule_code=rule.rule_code,
                reference=reference,
                pending=True,
                credited_time=ts(now),
                kind=res.LEDGER_ENTRY_KIND_PENDING_CREDIT,
            ),
        )
        return txn_id

    async def confirm_pending(
        self, conn, member_id, amount: int, rule_code: str, reference: str
    ) -> Posted:
        """Pending points become available (the order completed); debt is repaid first."""
        row = await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.PENDING_CONFIRM, str(member_id), rule_code=rule_code, reference=reference
        )
        repaid = ledger.confirm_pending(txn, str(member_id), amount, row["debt"])
        return await self._credited(
            conn, txn, member_id, amount, repaid, now, kind=ledger.PENDING_CONFIRM
        )

    async def cancel_pending(
        self, conn, member_id, amount: int, rule_code: str, reference: str, reason: str
    ) -> uuid.UUID:
        await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.PENDING_CANCEL,
            str(member_id),
            rule_code=rule_code,
            reference=reference,
            reason=reason,
        )
        ledger.cancel_pending(txn, str(member_id), amount, ledger.issuance(rule_code))
        txn_id, _ = await self._post(conn, txn, now)
        await self._debited(conn, member_id, txn_id, amount, ledger.PENDING_CANCEL, txn, now)
        return txn_id

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
                debited_time=ts(now),
                debt_points=debt,
            ),
        )

    # --- spending -------------------------------------------------------------------------
    @staticmethod
    def _require_available(row, amount: int) -> None:
        if row["available"] < amount:
            error = errors.failed_precondition(
                "INSUFFICIENT_POINTS", f"{amount} points needed, {row['available']} available"
            )
            error.metadata = {"available": str(row["available"])}
            raise error

    async def redeem(self, conn, member_id, amount: int, item: str, reference: str) -> Posted:
        """Spend points at once on a catalogue item."""
        row = await self.member(conn, member_id, SPEND)
        self._require_available(row, amount)
        now = self.now()
        txn = Transaction(ledger.DEBIT, str(member_id), reference=reference or item, reason=item)
        ledger.debit(txn, str(member_id), amount, (ledger.REDEMPTION, ""), ledger.DEBIT)
        await self._consume(conn, member_id, amount)
        txn_id, _ = await self._post(conn, txn, now)
        await self._debited(conn, member_id, txn_id, amount, ledger.DEBIT, txn, now)
        return Posted(txn_id, amount)

    async def reserve(self, conn, member_id, order_id: str, amount: int, order_amount: int):
        """Hold points for a checkout, within the order's deduction share."""
        row = await self.member(conn, member_id, SPEND)
        s = self.settings
        others = await holds.for_order(conn, member_id, order_id, (HELD, CAPTURED))
        total = amount + sum(h["amount"] for h in others)
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
        allocations = await self._consume(conn, member_id, amount)
        await self._post(conn, txn, now)
        expires_at = now + dt.timedelta(seconds=s.hold_timeout_seconds)
        hold = await holds.insert(
            conn,
            hold_id=hold_id,
            member_id=member_id,
            order_id=order_id,
            amount=amount,
            expires_at=expires_at,
        )
        await lot_store.record_hold(conn, hold_id, allocations)
        await self.outbox.add(
            conn,
            "points.held",
            str(member_id),
            ev.PointsHeld(
                member_id=str(member_id),
                hold_id=str(hold_id),
                points=amount,
                order_id=order_id,
                expire_time=ts(expires_at),
            ),
        )
        return hold

    async def _locked_hold(self, conn, hold_id: uuid.UUID, use: str | None):
        """The hold and its member, both locked (member first, as everywhere)."""
        hold = await holds.get(conn, hold_id)
        if hold is None:
            raise errors.not_found("hold", str(hold_id))
        row = await self.member(conn, hold["member_id"], use)
        return await holds.get(conn, hold_id, lock=True), row

    async def capture(self, conn, hold_id: uuid.UUID, use: str | None = SPEND):
        """Spend a held reservation. Returns (txn_id, hold)."""
        hold, _ = await self._locked_hold(conn, hold_id, use)
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
        txn_id, _ = await self._post(conn, txn, now)
        hold = await holds.settle(conn, hold_id, CAPTURED)
        await self._debited(conn, member_id, txn_id, hold["amount"], ledger.HOLD_CAPTURE, txn, now)
        return txn_id, hold

    async def capture_lapsed(self, conn, hold_id: uuid.UUID):
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
        allocations = await self._consume(conn, member_id, amount - owed)
        await lot_store.record_hold(conn, hold_id, allocations)
        txn_id, _ = await self._post(conn, txn, now)
        hold = await holds.settle(conn, hold_id, CAPTURED)
        await self._debited(conn, member_id, txn_id, amount, ledger.HOLD_CAPTURE, txn, now, owed)
        return txn_id, hold

    async def release(self, conn, hold_id: uuid.UUID, reason: str = RELEASED):
        """Return held points to available. A hold no longer held is returned unchanged;
        a captured one is refused when a caller asked (reason RELEASED)."""
        hold, _ = await self._locked_hold(conn, hold_id, None)
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
        txn_id, _ = await self._post(conn, txn, now)
        back, rest = lots.give_back(await lot_store.taken_by_hold(conn, hold_id), amount)
        await lot_store.put_back(conn, back)
        await lot_store.forget_hold(conn, hold_id)
        await self._lot(conn, member_id, txn_id, rest, now)
        hold = await holds.settle(conn, hold_id, EXPIRED if reason == EXPIRED else RELEASED)
        await self.outbox.add(
            conn,
            "points.hold_released",
            str(member_id),
            ev.PointsHoldReleased(
                member_id=str(member_id),
                hold_id=str(hold_id),
                points=amount,
                reason=_RELEASE_REASONS[reason],
                released_time=ts(now),
            ),
        )
        return hold

    # --- refunds --------------------------------------------------------------------------
    async def clawback(self, conn, member_id, amount: int, rule_code: str, reference: str):
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
        await self._consume(conn, member_id, amount - owed)
        txn_id, _ = await self._post(conn, txn, now)
        await self._debited(conn, member_id, txn_id, amount, ledger.CLAWBACK, txn, now, owed)
        return Posted(txn_id, amount, debt_added=owed)

    async def return_points(self, conn, member_id, amount: int, hold_id, reference: str):
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
        txn_id, _ = await self._post(conn, txn, now)
        rest = amount - repaid
        if hold_id is not None and rest > 0:
            back, rest = lots.give_back(await lot_store.taken_by_hold(conn, hold_id), rest)
            await lot_store.put_back(conn, back)
            await lot_store.mark_returned(conn, hold_id, back)
        expires_at = await self._lot(conn, member_id, txn_id, rest, now)
        await self.outbox.add(
            conn,
            "points.credited",
            str(member_id),
            ev.PointsCredited(
                member_id=str(member_id),
                transaction_id=str(txn_id),
                points=amount,
                reference=reference,
                expire_time=ts(expires_at),
                credited_time=ts(now),
                kind=res.LEDGER_ENTRY_KIND_REFUND_RETURN,
                debt_repaid=repaid,
            ),
        )
        return Posted(txn_id, amount, debt_repaid=repaid)

    # --- operators ------------------------------------------------------------------------
    async def adjust(self, conn, member_id, delta: int, reason: str, rule: EarningRule):
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
        if delta > 0:
            repaid = ledger.credit(
                txn, str(member_id), delta, (ledger.ADJUSTMENT, ""), row["debt"], ledger.ADJUST
            )
            posted = await self._credited(
                conn, txn, member_id, delta, repaid, now, kind=ledger.ADJUST
            )
        else:
            self._require_available(row, -delta)
            ledger.debit(txn, str(member_id), -delta, (ledger.ADJUSTMENT, ""), ledger.ADJUST)
            await self._consume(conn, member_id, -delta)
            txn_id, _ = await self._post(conn, txn, now)
            await self._debited(conn, member_id, txn_id, -delta, ledger.ADJUST, txn, now)
            posted = Posted(txn_id, -delta)
        await members.audit(
            conn,
            actor=actor(),
            action="points.adjust",
            member_id=member_id,
            detail={"delta": delta, "reason": reason, "transaction_id": str(posted.txn_id)},
        )
        return posted

    async def top_up(self, conn, merchant_id: str, amount: int) -> uuid.UUID:
        await budgets.ensure(conn, merchant_id)
        now = self.now()
        txn = Transaction(ledger.TOP_UP, None, reference=merchant_id)
        ledger.top_up(txn, merchant_id, amount)
        txn_id, _ = await self._post(conn, txn, now)
        await members.audit(
            conn,
            actor=actor(),
            action="points.budget_top_up",
            member_id=None,
            detail={"merchant_id": merchant_id, "points": amount, "transaction_id": str(txn_id)},
        )
        return txn_id

    # --- expiry ---------------------------------------------------------------------------
    async def expire(self, conn, member_id, now: dt.datetime) -> int:
        """Remove what is left of the member's lots that expired by `now`; returns the points."""
        await self.member(conn, member_id)
        due = await lot_store.expired(conn, member_id, now)
        total = sum(lot.remaining for lot in due)
        if total == 0:
            return 0
        await lot_store.take(conn, [lots.Allocation(lot.lot_id, lot.remaining) for lot in due])
        txn = Transaction(ledger.EXPIRE, str(member_id), reason="lots expired")
        ledger.debit(txn, str(member_id), total, (ledger.EXPIRY, ""), ledger.EXPIRE)
        txn_id, _ = await self._post(conn, txn, now)
        await self.outbox.add(
            conn,
            "points.expired",
            str(member_id),
            ev.PointsExpired(
                member_id=str(member_id),
                points=total,
                lot_count=len(due),
                transaction_id=str(txn_id),
                expired_time=ts(now),
            ),
        )
        return total

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
            expiring_soon_before=ts(until),
        )
