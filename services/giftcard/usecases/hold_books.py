"""What every hold operation shares, and spending a hold: the journal posting of a hold's
moves, capture (on time, or a lapsed hold taken again by its order's payment) and its events.
Placing and releasing are in usecases/holds.py."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import events_pb2 as ev
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import errors
from services.kit.postings import Entries
from services.kit.timestamps import to_proto

from ..deps import GiftcardDeps
from ..domain import accounts as acc
from ..domain import cards as numbers
from ..domain import holds as rules
from ..domain.holds import HoldState, ReleaseReason
from ..domain.refusals import Refusal
from ..domain.stored_value import Split, split_spend
from ..store import cards as card_store
from ..store import holds as store
from ..store import journal
from ..store import members as member_store
from ..store.holds import Hold

PRINCIPAL, BONUS = "principal", "bonus"  # owners of sv_redemptions


class HoldBooks:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    def business_day(self, now: dt.datetime) -> dt.date:
        return now.astimezone(ZoneInfo(self.deps.settings.business_zone)).date()

    async def _post(
        self, conn, kind: str, entries: Entries, now: dt.datetime, **about
    ) -> uuid.UUID:
        return await journal.post(
            conn, kind, entries.postings, business_day=self.business_day(now), **about
        )

    # --- placing --------------------------------------------------------------------------
    # --- capture ----------------------------------------------------------------------------
    async def capture(self, conn, hold: Hold, *, on_time_only: bool, actor: str) -> uuid.UUID:
        """Spend a HELD hold (locked by the caller): its value goes to the redemptions."""
        now = self.deps.now()
        state = rules.capture(hold.state, hold.expire_time, now, on_time_only=on_time_only)
        if isinstance(state, Refusal):
            raise errors.refused(state)
        entries = Entries()
        if hold.on_stored_value:
            assert hold.member_id is not None
            await member_store.lock_stored_value(conn, hold.member_id, hold.currency_code)
            _sv_capture(
                entries, hold.member_id, hold.amount_minor - hold.bonus_minor, hold.bonus_minor
            )
            txn = await self._post(
                conn,
                acc.HOLD_CAPTURE,
                entries,
                now,
                member_id=hold.member_id,
                reference=hold.order_id,
                actor=actor,
            )
        else:
            assert hold.card_id is not None
            card = await card_store.lock(conn, hold.card_id)
            assert card is not None
            entries.move(
                (acc.CARD_HELD, hold.card_id),
                (acc.REDEMPTIONS, ""),
                hold.amount_minor,
                acc.HOLD_CAPTURE,
            )
            txn = await self._post(
                conn,
                acc.HOLD_CAPTURE,
                entries,
                now,
                card_id=hold.card_id,
                reference=hold.order_id,
                actor=actor,
            )
            await card_store.mark_consumed(conn, hold.card_id)
        await store.settle(conn, hold.hold_id, HoldState.CAPTURED, now)
        await self._captured_event(conn, hold, txn, now)
        return txn

    async def capture_lapsed(self, conn, hold: Hold, actor: str) -> uuid.UUID | Refusal:
        """An order paid with a hold that lapsed (released or expired): take the amount again
        if the source still has it and may spend; else the refusal, for the order's record."""
        now = self.deps.now()
        if hold.on_stored_value:
            assert hold.member_id is not None
            account = await member_store.lock_stored_value(conn, hold.member_id, hold.currency_code)
            split = split_spend(
                Split(account.principal_minor, account.bonus_minor), hold.amount_minor
            )
            if not isinstance(split, Split):
                return rules.lapsed_capture_refusal(
                    account.principal_minor + account.bonus_minor, hold.amount_minor
                ) or Refusal("HOLD_LAPSED_SHORT", "short")
            entries = Entries()
            _sv_spend_direct(entries, hold.member_id, split)
            txn = await self._post(
                conn,
                acc.HOLD_CAPTURE,
                entries,
                now,
                member_id=hold.member_id,
                reference=hold.order_id,
                actor=actor,
            )
            await store.set_lapsed_capture(conn, hold.hold_id, split.bonus, now)
        else:
            assert hold.card_id is not None
            card = await card_store.lock(conn, hold.card_id)
            assert card is not None
            refusal = rules.card_hold_refusal(
                card.state, card.expire_time, now, card.balance_minor, hold.amount_minor
            )
            if refusal is not None:
                if isinstance(refusal, Refusal) and refusal.reason == "INSUFFICIENT_BALANCE":
                    return (
                        rules.lapsed_capture_refusal(card.balance_minor, hold.amount_minor)
                        or refusal
                    )
                return (
                    refusal
                    if isinstance(refusal, Refusal)
                    else Refusal(refusal.reason, refusal.description)
                )
            entries = Entries()
            entries.move(
                (acc.CARD_AVAILABLE, hold.card_id),
                (acc.REDEMPTIONS, ""),
                hold.amount_minor,
                acc.HOLD_CAPTURE,
            )
            txn = await self._post(
                conn,
                acc.HOLD_CAPTURE,
                entries,
                now,
                card_id=hold.card_id,
                reference=hold.order_id,
                actor=actor,
            )
            await card_store.mark_consumed(conn, hold.card_id)
            await store.set_lapsed_capture(conn, hold.hold_id, 0, now)
        await self._captured_event(conn, hold, txn, now)
        return txn

    async def _captured_event(self, conn, hold: Hold, txn: uuid.UUID, now: dt.datetime) -> None:
        if hold.on_stored_value:
            assert hold.member_id is not None
            account = await member_store.stored_value(conn, hold.member_id)
            assert account is not None
            await self.deps.outbox.add(
                conn,
                hold.member_id,
                ev.BalanceSpent(
                    member_id=str(hold.member_id),
                    hold_id=str(hold.hold_id),
                    order_id=hold.order_id,
                    currency_code=hold.currency_code,
                    amount_minor=hold.amount_minor,
                    bonus_minor=hold.bonus_minor,
                    principal_balance_minor=account.principal_minor,
                    bonus_balance_minor=account.bonus_minor,
                    transaction_id=str(txn),
                    spent_time=to_proto(now),
                ),
            )
            return
        assert hold.card_id is not None
        card = await card_store.get(conn, hold.card_id)
        assert card is not None
        await self.deps.outbox.add(
            conn,
            hold.card_id,
            ev.CardRedeemed(
                card_id=str(card.card_id),
                masked_card_number=numbers.mask(card.card_number),
                hold_id=str(hold.hold_id),
                order_id=hold.order_id,
                member_id=str(hold.member_id or ""),
                currency_code=hold.currency_code,
                amount_minor=hold.amount_minor,
                balance_minor=card.balance_minor,
                transaction_id=str(txn),
                redeemed_time=to_proto(now),
            ),
        )


def _sv_capture(entries: Entries, member_id: uuid.UUID, principal: int, bonus: int) -> None:
    if principal:
        entries.move(
            (acc.SV_HELD_PRINCIPAL, member_id),
            (acc.SV_REDEMPTIONS, PRINCIPAL),
            principal,
            acc.HOLD_CAPTURE,
        )
    if bonus:
        entries.move(
            (acc.SV_HELD_BONUS, member_id), (acc.SV_REDEMPTIONS, BONUS), bonus, acc.HOLD_CAPTURE
        )


def _sv_spend_direct(entries: Entries, member_id: uuid.UUID, split: Split) -> None:
    if split.principal:
        entries.move(
            (acc.SV_PRINCIPAL, member_id),
            (acc.SV_REDEMPTIONS, PRINCIPAL),
            split.principal,
            acc.HOLD_CAPTURE,
        )
    if split.bonus:
        entries.move(
            (acc.SV_BONUS, member_id), (acc.SV_REDEMPTIONS, BONUS), split.bonus, acc.HOLD_CAPTURE
        )


def source_kind(kind: str) -> res.HoldSourceKind.ValueType:
    return res.HoldSourceKind.Value(f"HOLD_SOURCE_KIND_{kind.upper()}")


_RELEASE_REASONS = {
    ReleaseReason.REQUESTED: res.HOLD_RELEASE_REASON_REQUESTED,
    ReleaseReason.TIMED_OUT: res.HOLD_RELEASE_REASON_EXPIRED,
}


def release_reason(why: ReleaseReason) -> res.HoldReleaseReason.ValueType:
    name = f"HOLD_RELEASE_REASON_{why.name}"
    if name in res.HoldReleaseReason.keys():
        return res.HoldReleaseReason.Value(name)
    return _RELEASE_REASONS.get(why, res.HOLD_RELEASE_REASON_UNSPECIFIED)
