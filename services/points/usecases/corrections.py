"""Refund clawbacks and returns, operator adjustments, merchant top-ups."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.kit import audit, auth

from ..domain import lots, postings
from ..domain import rules as rules_domain
from ..domain.postings import Transaction
from ..domain.rules import EarningRule
from ..store import budgets
from ..store import lots as lot_store
from ..store.budgets import MerchantBudget
from . import events
from .accounts import Accounts, Posted, Writes
from .rules import Rules


@dataclass(frozen=True)
class ToppedUp:
    txn_id: uuid.UUID
    budget: MerchantBudget


class Corrections:
    """Refunds, operator adjustments and merchant top-ups."""

    def __init__(self, accounts: Accounts, rules: Rules) -> None:
        self.accounts = accounts
        self.rules = rules

    async def clawback(
        self,
        conn,
        member_id: uuid.UUID,
        amount: int,
        rule_code: str,
        reference: str,
        writes: Writes | None = None,
    ) -> Posted:
        """Reverse part of an available rebate; what the member already spent becomes debt."""
        row = await self.accounts.member(conn, member_id)
        now = self.accounts.now()
        txn = Transaction(
            postings.CLAWBACK, member_id, rule_code=rule_code, reference=reference, reason="refund"
        )
        owed = postings.take_or_owe(
            txn,
            member_id,
            amount,
            row.account.available,
            postings.issuance(rule_code),
            postings.CLAWBACK,
        )
        async with self.accounts.writing(conn, writes, row) as batch:
            await self.accounts.consume(conn, batch, member_id, amount - owed)
            txn_id = await self.accounts.debited(
                conn, batch, txn, amount, postings.CLAWBACK, now, owed
            )
        return Posted(txn_id, amount, debt_added=owed)

    async def return_points(
        self,
        conn,
        member_id: uuid.UUID,
        amount: int,
        hold_id: uuid.UUID | None,
        reference: str,
        writes: Writes | None = None,
    ) -> Posted:
        """Give back points spent on a refunded order, into the lots they came from."""
        row = await self.accounts.member(conn, member_id)
        now = self.accounts.now()
        txn = Transaction(postings.REFUND_RETURN, member_id, reference=reference)
        repaid = postings.credit(
            txn,
            member_id,
            amount,
            (postings.REDEMPTION, ""),
            row.account.debt,
            postings.REFUND_RETURN,
        )
        async with self.accounts.writing(conn, writes, row) as batch:
            txn_id = await self.accounts.post(conn, batch, txn, now)
            rest = amount - repaid
            if hold_id is not None and rest > 0:
                taken = await lot_store.taken_by_hold(conn, hold_id)
                back, rest = lots.give_back(taken, rest)
                await self.accounts.put_back(batch, taken, back)
                await lot_store.mark_returned(batch, hold_id, back)
            expires_at = await self.accounts.new_lot(batch, member_id, txn_id, rest, now)
            await self.accounts.publish(
                batch,
                member_id,
                events.credited(
                    txn, txn_id, amount, now, postings.REFUND_RETURN, expires_at, repaid
                ),
            )
        return Posted(txn_id, amount, debt_repaid=repaid)

    # --- operators ------------------------------------------------------------------------
    async def operator_adjust(
        self, conn, member_id: uuid.UUID, delta: int, reason: str, writes: Writes | None = None
    ) -> Posted:
        """Adjust: an operator adds or removes points under the operator_adjust rule."""
        rule = await self.rules.required(
            conn, rules_domain.CODE_OPERATOR_ADJUST, self.accounts.now()
        )
        return await self.adjust(conn, member_id, delta, reason, rule, writes=writes)

    async def adjust(
        self,
        conn,
        member_id: uuid.UUID,
        delta: int,
        reason: str,
        rule: EarningRule,
        writes: Writes | None = None,
    ) -> Posted:
        """Operator adjustment with a reason; a removal never takes more than is available."""
        row = await self.accounts.member(conn, member_id)
        now = self.accounts.now()
        txn = Transaction(
            postings.ADJUST,
            member_id,
            rule_code=rule.rule_code,
            rule_version=rule.version,
            reason=reason,
        )
        async with self.accounts.writing(conn, writes, row) as batch:
            if delta > 0:
                repaid = postings.credit(
                    txn,
                    member_id,
                    delta,
                    (postings.ADJUSTMENT, ""),
                    row.account.debt,
                    postings.ADJUST,
                )
                posted = await self.accounts.credited(
                    conn, batch, txn, delta, repaid, now, kind=postings.ADJUST
                )
            else:
                self.accounts.require_available(row, -delta)
                postings.debit(txn, member_id, -delta, (postings.ADJUSTMENT, ""), postings.ADJUST)
                await self.accounts.consume(conn, batch, member_id, -delta)
                txn_id = await self.accounts.debited(conn, batch, txn, -delta, postings.ADJUST, now)
                posted = Posted(txn_id, -delta)
            await audit.record(
                batch,
                actor=auth.actor(),
                action="points.adjust",
                subject=member_id,
                detail={"delta": delta, "reason": reason, "transaction_id": str(posted.txn_id)},
            )
        return posted

    async def top_up(self, conn, merchant_id: str, amount: int) -> ToppedUp:
        """Points a merchant bought go into its budget (created on the first top-up)."""
        await budgets.ensure(conn, merchant_id)
        now = self.accounts.now()
        txn = Transaction(postings.TOP_UP, None, reference=merchant_id)
        postings.top_up(txn, merchant_id, amount)
        async with self.accounts.writing(conn, None, None) as batch:
            txn_id = await self.accounts.post(conn, batch, txn, now)
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
        budget = await budgets.get(conn, merchant_id)
        if budget is None:  # ensured above, and budgets are never deleted
            raise LookupError(f"merchant budget {merchant_id} vanished")
        return ToppedUp(txn_id, budget)
