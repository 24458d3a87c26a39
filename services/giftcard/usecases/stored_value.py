"""A member's stored value (余额): top-ups quoted with the bonus policy in effect, confirmed
by the payment (an event or a call carrying its reference), refunded with the bonus taken back
in proportion (domain.stored_value.refund_top_up); spent at checkout like a card (holds).

Journal: a confirmed top-up moves top_ups → sv_principal and bonus_grants → sv_bonus (owner:
the top-up); a refund sv_principal → top_up_refunds and sv_bonus → bonus_clawbacks."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import events_pb2 as ev
from services.kit import errors
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts as acc
from ..domain import stored_value as rules
from ..domain.refusals import FieldProblem, Refusal
from ..domain.stored_value import Split
from ..store import journal
from ..store import members as member_store
from ..store import top_ups as store
from ..store.top_ups import BonusPolicy, TopUp


class StoredValue:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    def _day(self, now: dt.datetime) -> dt.date:
        return now.astimezone(ZoneInfo(self.deps.settings.business_zone)).date()

    # --- the bonus policy -----------------------------------------------------------------
    async def bonus_policy(self, conn, version: int | None = None) -> BonusPolicy:
        found = await store.bonus_policy(conn, version)
        if found is None:
            if version not in (None, 0):
                raise errors.not_found("BONUS_POLICY", str(version))
            return BonusPolicy(0, self.deps.settings.currency_code, [], False, "default", _EVER)
        return found

    async def set_bonus_policy(
        self, conn, currency_code: str, tiers: list[tuple[int, int]], enabled: bool, by: str
    ) -> BonusPolicy:
        problems = rules.rule_problems(_rules(tiers))
        if problems:
            raise errors.invalid([("policy.tiers", p) for p in problems])
        return await store.add_bonus_policy(
            conn, currency_code, tiers, enabled, by, self.deps.now()
        )

    # --- top-ups ----------------------------------------------------------------------------
    async def create(
        self, conn, member_id: uuid.UUID, currency_code: str, amount: int, by: str
    ) -> TopUp:
        await self._member_may(conn, member_id)
        now = self.deps.now()
        policy = await self.bonus_policy(conn)
        bonus = 0
        if policy.enabled:
            _, bonus = rules.best_bonus(_rules(policy.tiers), amount, now)
        top_up = TopUp(
            top_up_id=uuid.uuid4(),
            member_id=member_id,
            currency_code=currency_code,
            amount_minor=amount,
            bonus_minor=bonus,
            bonus_policy_version=policy.version or None,
            state="pending",
            payment_reference="",
            refunded_principal_minor=0,
            clawed_back_bonus_minor=0,
            failure_reason="",
            refund_reason="",
            created_by=by,
            create_time=now,
            confirm_time=None,
            close_time=None,
        )
        await store.insert(conn, top_up)
        return top_up

    async def confirm(
        self, conn, top_up_id: uuid.UUID, reference: str, amount: int, actor: str
    ) -> TopUp:
        """The payment of a top-up confirmed by a call: refused when it does not match."""
        top_up = await store.lock(conn, top_up_id)
        if top_up is None:
            raise errors.not_found("TOP_UP", str(top_up_id))
        if amount != top_up.amount_minor:
            raise errors.invalid([("amount_minor", f"the top-up is {top_up.amount_minor}")])
        if top_up.state == "confirmed" and top_up.payment_reference == reference:
            return top_up  # confirmed already with this payment
        if top_up.state != "pending":
            raise errors.failed_precondition("TOP_UP_NOT_PENDING", f"the top-up is {top_up.state}")
        await self._credit(conn, top_up, reference, actor)
        confirmed = await store.get(conn, top_up_id)
        assert confirmed is not None
        return confirmed

    async def paid(
        self, conn, top_up_id: uuid.UUID, payment_id: str, currency_code: str, amount: int
    ) -> None:
        """commerce.payment.succeeded for a top-up: a payment that does not fit it is the
        event's fault (Malformed: dead-lettered with the reason)."""
        top_up = await store.lock(conn, top_up_id)
        if top_up is None:
            raise errors.Malformed([("reference_id", "no such top-up")])
        if amount != top_up.amount_minor or currency_code != top_up.currency_code:
            raise errors.Malformed(
                [("amount", f"the top-up is {top_up.amount_minor} {top_up.currency_code}")]
            )
        if top_up.state == "pending":
            await self._credit(conn, top_up, payment_id, "system:payment-events")
        elif top_up.payment_reference != payment_id:
            raise errors.Malformed([("reference_id", f"the top-up is {top_up.state} already")])

    async def payment_failed(self, conn, top_up_id: uuid.UUID) -> None:
        top_up = await store.lock(conn, top_up_id)
        if top_up is not None and top_up.state == "pending":
            await store.fail(conn, top_up_id, "payment failed", self.deps.now())

    async def _credit(self, conn, top_up: TopUp, reference: str, actor: str) -> None:
        now = self.deps.now()
        account = await member_store.lock_stored_value(conn, top_up.member_id, top_up.currency_code)
        if account.currency_code != top_up.currency_code:
            raise errors.failed_precondition(
                "CURRENCY_MISMATCH", f"the stored value is in {account.currency_code}"
            )
        entries = Entries()
        entries.move(
            (acc.TOP_UPS, top_up.top_up_id),
            (acc.SV_PRINCIPAL, top_up.member_id),
            top_up.amount_minor,
            acc.TOP_UP,
        )
        if top_up.bonus_minor:
            entries.move(
                (acc.BONUS_GRANTS, top_up.top_up_id),
                (acc.SV_BONUS, top_up.member_id),
                top_up.bonus_minor,
                acc.TOP_UP,
            )
        await journal.post(
            conn,
            acc.TOP_UP,
            entries.postings,
            business_day=self._day(now),
            member_id=top_up.member_id,
            reference=str(top_up.top_up_id),
            actor=actor,
        )
        await store.confirm(conn, top_up.top_up_id, reference, now)
        after = await member_store.stored_value(conn, top_up.member_id)
        assert after is not None
        await self.deps.outbox.add(
            conn,
            top_up.member_id,
            ev.BalanceToppedUp(
                member_id=str(top_up.member_id),
                top_up_id=str(top_up.top_up_id),
                payment_reference=reference,
                currency_code=top_up.currency_code,
                amount_minor=top_up.amount_minor,
                bonus_minor=top_up.bonus_minor,
                principal_balance_minor=after.principal_minor,
                bonus_balance_minor=after.bonus_minor,
                topped_up_time=to_proto(now),
            ),
        )

    async def refund(self, conn, top_up_id: uuid.UUID, reason: str, actor: str) -> TopUp:
        """Refund what is left of a top-up's principal in the account; its bonus goes back in
        proportion (what was spent of it is kept from the cash paid back)."""
        now = self.deps.now()
        top_up = await store.lock(conn, top_up_id)
        if top_up is None:
            raise errors.not_found("TOP_UP", str(top_up_id))
        if top_up.state != "confirmed":
            raise errors.failed_precondition(
                "TOP_UP_NOT_REFUNDABLE", f"the top-up is {top_up.state}"
            )
        account = await member_store.lock_stored_value(conn, top_up.member_id, top_up.currency_code)
        left = top_up.amount_minor - top_up.refunded_principal_minor
        amount = min(left, account.principal_minor)
        result = rules.refund_top_up(
            rules.TopUp(
                top_up.amount_minor,
                top_up.bonus_minor,
                top_up.refunded_principal_minor,
                top_up.clawed_back_bonus_minor,
            ),
            Split(account.principal_minor, account.bonus_minor),
            amount,
        )
        if isinstance(result, FieldProblem):
            raise errors.failed_precondition("TOP_UP_SPENT", "nothing of the top-up is left")
        if isinstance(result, Refusal):
            raise errors.refused(result)
        entries = Entries()
        entries.move(
            (acc.SV_PRINCIPAL, top_up.member_id),
            (acc.TOP_UP_REFUNDS, top_up.top_up_id),
            result.principal,
            acc.TOP_UP_REFUND,
        )
        if result.bonus_clawed_back:
            entries.move(
                (acc.SV_BONUS, top_up.member_id),
                (acc.BONUS_CLAWBACKS, top_up.top_up_id),
                result.bonus_clawed_back,
                acc.BONUS_CLAWBACK,
            )
        await journal.post(
            conn,
            acc.TOP_UP_REFUND,
            entries.postings,
            business_day=self._day(now),
            member_id=top_up.member_id,
            reference=str(top_up_id),
            reason=reason,
            actor=actor,
        )
        await store.refunded(conn, top_up_id, result.principal, result.clawback, reason, now)
        after = await member_store.stored_value(conn, top_up.member_id)
        assert after is not None
        await self.deps.outbox.add(
            conn,
            top_up.member_id,
            ev.BalanceRefunded(
                member_id=str(top_up.member_id),
                top_up_id=str(top_up_id),
                currency_code=top_up.currency_code,
                refunded_minor=result.cash_out,
                bonus_revoked_minor=result.clawback,
                principal_balance_minor=after.principal_minor,
                bonus_balance_minor=after.bonus_minor,
                refunded_time=to_proto(now),
            ),
        )
        refunded = await store.get(conn, top_up_id)
        assert refunded is not None
        return refunded

    async def _member_may(self, conn, member_id: uuid.UUID) -> None:
        status = await member_store.status(conn, member_id)
        if status != "active":
            raise errors.failed_precondition(f"MEMBER_{status.upper()}", f"the member is {status}")


_EVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _rules(tiers: list[tuple[int, int]]) -> list[rules.BonusRule]:
    return [rules.BonusRule(f"tier-{i}", m, b) for i, (m, b) in enumerate(tiers)]
