"""Earning: credits under rules (with caps), grants, sign-in, pending rebates, and the bonuses
events pay (sign-up, referral, reviews, growth's gift packs)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.kit import errors, logging

from ..domain import members as members_domain
from ..domain import postings
from ..domain import rules as rules_domain
from ..domain.growth import GiftPack
from ..domain.members import Balance, MemberStatus
from ..domain.postings import Transaction
from ..domain.refusals import FieldProblem, Refusal
from ..domain.rules import EarningRule
from ..store import journal, members
from . import events
from .accounts import Accounts, Posted, Writes, invalid, refused
from .rules import Rules

log = logging.get("points.earning")


@dataclass(frozen=True)
class SignedIn:
    posted: Posted
    streak: int
    balance: Balance


class Earning:
    """Credits: under a rule (caps, merchant budgets), sign-in, pending rebates, bonuses."""

    def __init__(self, accounts: Accounts, rules: Rules) -> None:
        self.accounts = accounts
        self.rules = rules

    async def cap_room(
        self, conn, member_id: uuid.UUID, rule: EarningRule, now: dt.datetime
    ) -> tuple[int | None, str]:
        """Points the rule's caps still allow the member (None: no cap), and which cap."""
        if not rule.daily_cap and not (rule.period_cap and rule.period_days):
            return None, ""
        today = self.accounts.today(now)
        period = bool(rule.period_cap and rule.period_days)
        since = rules_domain.period_start(rule, today) if period else today
        earned = await journal.earned(conn, member_id, rule.rule_code, since, today)
        return rules_domain.cap_room(rule, earned.today, earned.period if period else 0)

    async def allowed(
        self, conn, member_id: uuid.UUID, rule: EarningRule, amount: int, now, clamp: bool
    ) -> int:
        """The amount the rule lets the member earn now; raises when refused."""
        refusal = rules_domain.disabled(rule)
        if refusal:
            raise refused(refusal)
        room, which = await self.cap_room(conn, member_id, rule, now)
        allowed = rules_domain.within_caps(rule, amount, room, which, clamp=clamp)
        if isinstance(allowed, Refusal):
            raise refused(allowed)
        return allowed

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
        row = await self.accounts.member(conn, member_id, active=True)
        if dedupe_key and await journal.dedupe_exists(conn, dedupe_key):
            return None
        now = self.accounts.now()
        amount = await self.allowed(conn, member_id, rule, amount, now, clamp)
        if rule.merchant_funded:  # a merchant without a budget: refused by post
            source = postings.merchant_budget(merchant_id)
        else:
            source = postings.issuance(rule.rule_code)
        txn = Transaction(
            postings.CREDIT,
            member_id,
            rule_code=rule.rule_code,
            rule_version=rule.version,
            reference=reference,
            earned=amount,
            dedupe_key=dedupe_key,
        )
        repaid = postings.credit(txn, member_id, amount, source, row.account.debt)
        async with self.accounts.writing(conn, writes, row) as batch:
            posted = await self.accounts.credited(conn, batch, txn, amount, repaid, now)
        return posted

    async def grant(
        self,
        conn,
        member_id: uuid.UUID,
        rule_code: str,
        points: int | None,
        *,
        reference: str,
        merchant_id: str,
        writes: Writes | None = None,
    ) -> Posted:
        """Grant: credit under a grantable rule, its fixed points or those asked for."""
        rule = await self.rules.required(conn, rule_code, self.accounts.now())
        amount = rules_domain.grant(rule, points, merchant_id)
        if isinstance(amount, FieldProblem):
            raise invalid(amount)
        posted = await self.earn(
            conn,
            member_id,
            rule,
            amount,
            reference=reference,
            merchant_id=merchant_id,
            writes=writes,
        )
        assert posted is not None  # only a credit with a dedupe key is deduplicated
        return posted

    async def sign_in(self, conn, member_id: uuid.UUID) -> SignedIn:
        """Daily sign-in: the rule's points plus the streak bonus, once per business day."""
        row = await self.accounts.member(conn, member_id, active=True)
        now = self.accounts.now()
        today = self.accounts.today(now)
        account = row.account
        streak = rules_domain.next_streak(account.last_sign_in_day, account.streak_days, today)
        if streak is None:
            raise errors.failed_precondition("ALREADY_SIGNED_IN", "already signed in today")
        rule = await self.rules.required(conn, rules_domain.CODE_SIGN_IN, now)
        points = rules_domain.sign_in_points(rule, streak)
        posted = await self.earn(
            conn, member_id, rule, points, reference=f"sign_in:{today.isoformat()}"
        )
        assert posted is not None  # only a credit with a dedupe key is deduplicated
        await members.update(conn, member_id, last_sign_in_day=today, streak_days=streak)
        return SignedIn(posted, streak, await self.accounts.balance(conn, member_id))

    async def credit_pending(
        self,
        conn,
        member_id: uuid.UUID,
        rule: EarningRule,
        amount: int,
        reference: str,
        writes: Writes | None = None,
    ) -> uuid.UUID:
        """A purchase rebate, pending until its order completes."""
        row = await self.accounts.member(conn, member_id)
        now = self.accounts.now()
        txn = Transaction(
            postings.PENDING_CREDIT,
            member_id,
            rule_code=rule.rule_code,
            rule_version=rule.version,
            reference=reference,
            earned=amount,
        )
        postings.pending_credit(txn, member_id, amount, postings.issuance(rule.rule_code))
        async with self.accounts.writing(conn, writes, row) as batch:
            txn_id = await self.accounts.post(conn, batch, txn, now)
            await self.accounts.publish(
                batch,
                member_id,
                events.credited(txn, txn_id, amount, now, postings.PENDING_CREDIT),
            )
        return txn_id

    async def confirm_pending(
        self,
        conn,
        member_id: uuid.UUID,
        amount: int,
        rule_code: str,
        reference: str,
        writes: Writes | None = None,
    ) -> Posted:
        """Pending points become available (the order completed); debt is repaid first."""
        row = await self.accounts.member(conn, member_id)
        now = self.accounts.now()
        txn = Transaction(
            postings.PENDING_CONFIRM, member_id, rule_code=rule_code, reference=reference
        )
        repaid = postings.confirm_pending(txn, member_id, amount, row.account.debt)
        async with self.accounts.writing(conn, writes, row) as batch:
            posted = await self.accounts.credited(
                conn, batch, txn, amount, repaid, now, kind=postings.PENDING_CONFIRM
            )
        return posted

    async def cancel_pending(
        self,
        conn,
        member_id: uuid.UUID,
        amount: int,
        rule_code: str,
        reference: str,
        reason: str,
        writes: Writes | None = None,
    ) -> uuid.UUID:
        row = await self.accounts.member(conn, member_id)
        now = self.accounts.now()
        txn = Transaction(
            postings.PENDING_CANCEL,
            member_id,
            rule_code=rule_code,
            reference=reference,
            reason=reason,
        )
        postings.cancel_pending(txn, member_id, amount, postings.issuance(rule_code))
        async with self.accounts.writing(conn, writes, row) as batch:
            txn_id = await self.accounts.debited(
                conn, batch, txn, amount, postings.PENDING_CANCEL, now
            )
        return txn_id

    # --- credits events pay -------------------------------------------------------------------
    async def earn_quietly(
        self,
        conn,
        member_id: uuid.UUID,
        rule_code: str,
        *,
        reference: str,
        dedupe_key: str,
        points: int | None = None,
    ) -> Posted | None:
        """Earn under a rule for an event: a refusal (frozen member, disabled rule, cap reached)
        is logged and skipped, never retried, and leaves nothing behind (a savepoint)."""
        rule = await self.rules.current(conn, rule_code, self.accounts.now())
        amount = points if points is not None else (rule.points if rule else 0)
        if rule is None or amount <= 0:
            log.info("earning_skipped_no_rule", rule_code=rule_code)
            return None
        try:
            async with conn.transaction():
                return await self.earn(
                    conn,
                    member_id,
                    rule,
                    amount,
                    reference=reference,
                    dedupe_key=dedupe_key,
                    clamp=True,
                )
        except errors.AppError as exc:
            log.info("earning_skipped", rule_code=rule_code, reason=exc.reason)
            return None

    async def referral_bonus(self, conn, referee: uuid.UUID) -> None:
        """Pay the referrer once the referee registered (with a referrer) and completed an order."""
        member = await members.get(conn, referee)
        if member is None or not members_domain.referral_due(
            member.first_order_completed, member.referral_paid, member.referred_by
        ):
            return
        referrer = member.referred_by
        assert referrer is not None  # a referral is due only to a referrer
        await members.update(conn, referee, referral_paid=True)
        await members.ensure(conn, referrer)
        await self.earn_quietly(
            conn,
            referrer,
            rules_domain.CODE_REFERRAL_BONUS,
            reference=f"referral:{referee}",
            dedupe_key=f"referral:{referee}",
        )

    async def review_posted(
        self, conn, member_id: uuid.UUID, review_id: str, with_photos: bool
    ) -> None:
        """Review points, once per review, for an active member (one points knows: Commerce
        parks the reviews of any other)."""
        member = await members.lock(conn, member_id)
        if member is None:
            raise LookupError(f"member {member_id} has no account")
        if member.status is not MemberStatus.ACTIVE:
            log.info("review_bonus_skipped_member_not_active")
            return
        code = rules_domain.CODE_REVIEW_PHOTO if with_photos else rules_domain.CODE_REVIEW
        await self.earn_quietly(
            conn, member_id, code, reference=review_id, dedupe_key=f"review:{review_id}"
        )

    async def gift_pack(self, conn, pack: GiftPack) -> None:
        """A gift pack's points under tier_upgrade, once per reference (its dedupe key: the same
        grant sent again under a new event id credits nothing), for a member points knows
        (Commerce parks the packs of any other). A frozen or closed member, a disabled rule:
        skipped, as every bonus an event pays."""
        if pack.points <= 0:
            return
        await self.earn_quietly(
            conn,
            pack.member_id,
            rules_domain.CODE_TIER_UPGRADE,
            reference=pack.reference,
            dedupe_key=pack.reference,
            points=pack.points,
        )
