"""Earning: credits under rules (with caps), sign-in, pending rebates."""

from __future__ import annotations

import uuid

from services.kit import errors

from ..domain import ledger
from ..domain import rules as rules_domain
from ..domain.ledger import Transaction
from ..domain.rules import EarningRule
from ..store import journal, members
from .base import EARN, LedgerBase, Posted, Writes


class Earning(LedgerBase):
    """Credits: under a rule (caps, merchant budgets), sign-in, pending rebates."""

    async def cap_room(self, conn, member_id, rule: EarningRule, now) -> tuple[int | None, str]:
        if not rule.daily_cap and not (rule.period_cap and rule.period_days):
            return None, ""
        today = self.today(now)
        period = bool(rule.period_cap and rule.period_days)
        since = rules_domain.period_start(rule, today) if period else today
        earned_today, earned_period = await journal.earned(
            conn, member_id, rule.rule_code, since, today
        )
        return rules_domain.cap_room(rule, earned_today, earned_period if period else 0)

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
        writes: Writes | None = None,
    ) -> Posted | None:
        """Credit points earned under a rule (available at once). None when deduplicated."""
        row = await self.member(conn, member_id, EARN)
        if dedupe_key and await journal.dedupe_exists(conn, dedupe_key):
            return None
        now = self.now()
        amount = await self.allowed(conn, member_id, rule, amount, now, clamp)
        if rule.merchant_funded:  # a merchant without a budget: refused by _post
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
        async with self._writing(conn, writes, row) as batch:
            posted = await self._credited(conn, batch, txn, member_id, amount, repaid, now)
        return posted

    async def sign_in(self, conn, member_id) -> tuple[Posted, int]:
        """Daily sign-in: the rule's points plus the streak bonus, once per business day."""
        row = await self.member(conn, member_id, EARN)
        now = self.now()
        today = self.today(now)
        streak = rules_domain.next_streak(row["last_sign_in_day"], row["streak_days"], today)
        if streak is None:
            raise errors.failed_precondition("ALREADY_SIGNED_IN", "already signed in today")
        rule = await self.rules.current(conn, rules_domain.CODE_SIGN_IN, now)
        if rule is None:
            raise errors.not_found("rule", rules_domain.CODE_SIGN_IN)
        points = rules_domain.sign_in_points(rule, streak)
        posted = await self.earn(
            conn, member_id, rule, points, reference=f"sign_in:{today.isoformat()}"
        )
        await members.update(conn, member_id, last_sign_in_day=today, streak_days=streak)
        return posted, streak

    async def credit_pending(
        self, conn, member_id, rule: EarningRule, amount: int, reference: str, writes=None
    ) -> uuid.UUID:
        """A purchase rebate, pending until its order completes."""
        row = await self.member(conn, member_id)
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
        async with self._writing(conn, writes, row) as batch:
            txn_id = await self._post(conn, batch, txn, now)
            await self._credited_event(batch, txn, txn_id, amount, now, ledger.PENDING_CREDIT)
        return txn_id

    async def confirm_pending(
        self, conn, member_id, amount: int, rule_code: str, reference: str, writes=None
    ) -> Posted:
        """Pending points become available (the order completed); debt is repaid first."""
        row = await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.PENDING_CONFIRM, str(member_id), rule_code=rule_code, reference=reference
        )
        repaid = ledger.confirm_pending(txn, str(member_id), amount, row["debt"])
        async with self._writing(conn, writes, row) as batch:
            posted = await self._credited(
                conn, batch, txn, member_id, amount, repaid, now, kind=ledger.PENDING_CONFIRM
            )
        return posted

    async def cancel_pending(
        self, conn, member_id, amount: int, rule_code: str, reference: str, reason: str, writes=None
    ) -> uuid.UUID:
        row = await self.member(conn, member_id)
        now = self.now()
        txn = Transaction(
            ledger.PENDING_CANCEL,
            str(member_id),
            rule_code=rule_code,
            reference=reference,
            reason=reason,
        )
        ledger.cancel_pending(txn, str(member_id), amount, ledger.issuance(rule_code))
        async with self._writing(conn, writes, row) as batch:
            txn_id = await self._post(conn, batch, txn, now)
            await self._debited(batch, member_id, txn_id, amount, ledger.PENDING_CANCEL, txn, now)
        return txn_id
