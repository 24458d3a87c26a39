"""An in-memory reference model of the money side: cards and member stored value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from . import after_sale, holds, liability, products
from .amounts import amount_problem
from .approvals import AFTER_SALE_POLICY, Approval, ApprovalStatus, Role, review_refusal, status
from .holds import HoldState, ReleaseReason
from .model_records import (
    ACCOUNT,
    CARD,
    Account,
    Capture,
    Card,
    Flows,
    Hold,
    Refused,
    TopUp,
    _check,
    _ok,
    card_source,
)
from .refusals import Refusal
from .states import FINAL, CardOperation, CardState, card_transition
from .stored_value import BonusRule, Split, best_bonus


class Model:
    """Meant to run side by side with the real service in a property-based test (as points' ledger
    test does): the same random steps go to both, and every balance and the liability must agree
    after every step. Eligibility (may this card do this now?) is asked of the domain's rules, so
    that a refused step is refused with the same reason the service gives; the money itself
    (balances, allocations, proportions) is recomputed here in the plainest way, so that a slip in
    the domain's arithmetic shows up as a disagreement. A refused step raises `Refused` and
    changes nothing. `problems()` lists every broken invariant.
    """

    def __init__(
        self,
        now: dt.datetime,
        bonus_rules: Sequence[BonusRule] = (),
        *,
        validity_months: int = products.DEFAULT_VALIDITY_MONTHS,
        zone: str = "Asia/Shanghai",
        hold_seconds: int = holds.DEFAULT_HOLD_SECONDS,
    ) -> None:
        self.now = now
        self.bonus_rules = tuple(bonus_rules)
        self.validity_months = validity_months
        self.zone = zone
        self.hold_seconds = hold_seconds
        self.cards: dict[str, Card] = {}
        self.accounts: dict[str, Account] = {}
        self.holds: dict[str, Hold] = {}
        self.captures: dict[str, list[Capture]] = {}  # by order, in capture order
        self.top_ups: dict[str, TopUp] = {}
        self.flows = Flows()

    # --- lookups --------------------------------------------------------------------------
    def card(self, card_id: str) -> Card:
        if card_id not in self.cards:
            raise Refused("CARD_NOT_FOUND")
        return self.cards[card_id]

    def account(self, member: str) -> Account:
        """A member's stored value; a member who never topped up has an empty one (kept
        only once something is written to it)."""
        return self.accounts.get(member, Account())

    def _facts(self, card: Card) -> after_sale.CardFacts:
        return after_sale.CardFacts(
            card.state, card.available, card.held, card.consumed, card.valid_until
        )

    def _move(self, card: Card, op: CardOperation) -> None:
        card.state = _ok(card_transition(card.state, op))

    # --- the card procedure ---------------------------------------------------------------
    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta

    def issue(self, card_id: str, batch_id: str, face: int) -> None:
        if card_id in self.cards:
            raise ValueError(f"card {card_id} exists")
        self.cards[card_id] = Card(card_id, batch_id, face)

    def load(self, card_id: str, batch_id: str, amount: int, operator: str) -> None:
        card = self.card(card_id)
        _check(amount_problem(amount))
        _check(products.load_refusal(card.batch_id, batch_id, card.state, amount, card.face))
        self._move(card, CardOperation.LOAD)
        card.available, card.loaded_by = amount, operator
        self.flows.add(self.flows.cards, "loaded", amount)

    def review(self, card_id: str, reviewer: str) -> None:
        card = self.card(card_id)
        after = _ok(card_transition(card.state, CardOperation.REVIEW))
        _check(review_refusal(card.loaded_by or "", reviewer, {Role.REVIEWER}))
        card.state = after

    def requisition(self, card_id: str) -> None:
        self._move(self.card(card_id), CardOperation.REQUISITION)

    def sell(self, card_id: str) -> None:
        card = self.card(card_id)
        self._move(card, CardOperation.SELL)
        card.valid_until = products.valid_until(self.now, self.validity_months, self.zone)

    def freeze(self, card_id: str) -> None:
        self._move(self.card(card_id), CardOperation.FREEZE)

    def unfreeze(self, card_id: str) -> None:
        self._move(self.card(card_id), CardOperation.UNFREEZE)

    def report_lost(self, card_id: str) -> None:
        self._move(self.card(card_id), CardOperation.REPORT_LOST)

    def cancel_loss_report(self, card_id: str) -> None:
        self._move(self.card(card_id), CardOperation.CANCEL_LOSS_REPORT)

    # --- checkout -------------------------------------------------------------------------
    def hold(self, hold_id: str, order_id: str, source: str, amount: int) -> None:
        if hold_id in self.holds:
            raise ValueError(f"hold {hold_id} exists")
        expires_at = holds.hold_expiry(self.now, self.hold_seconds)
        if source.startswith(CARD):
            card = self.card(source.removeprefix(CARD))
            _check(
                holds.card_hold_refusal(
                    card.state, card.valid_until, self.now, card.available, amount
                )
            )
            card.available -= amount
            card.held += amount
            self.holds[hold_id] = Hold(hold_id, order_id, source, amount, expires_at)
            return
        member = source.removeprefix(ACCOUNT)
        account = self.account(member)
        _check(amount_problem(amount))
        if account.principal + account.bonus < amount:
            raise Refused("INSUFFICIENT_BALANCE")
        principal = min(amount, account.principal)  # principal first
        bonus = amount - principal
        account.principal -= principal
        account.bonus -= bonus
        account.held_principal += principal
        account.held_bonus += bonus
        self.accounts[member] = account
        self.holds[hold_id] = Hold(
            hold_id, order_id, source, amount, expires_at, principal=principal, bonus=bonus
        )

    def _hold(self, hold_id: str) -> Hold:
        if hold_id not in self.holds:
            raise Refused("HOLD_NOT_FOUND")
        return self.holds[hold_id]

    def capture(self, hold_id: str) -> None:
        hold = self._hold(hold_id)
        hold.state = _ok(holds.capture(hold.state, hold.expires_at, self.now))
        capture = Capture(hold.source, hold.amount, hold.principal, hold.bonus)
        self.captures.setdefault(hold.order_id, []).append(capture)
        if hold.source.startswith(CARD):
            card = self.cards[hold.source.removeprefix(CARD)]
            card.held -= hold.amount
            card.consumed = True
            self.flows.add(self.flows.cards, "redeemed", hold.amount)
            return
        account = self.accounts[hold.source.removeprefix(ACCOUNT)]
        account.held_principal -= hold.principal
        account.held_bonus -= hold.bonus
        self.flows.add(self.flows.principal, "spent", hold.principal)
        self.flows.add(self.flows.bonus, "spent", hold.bonus)

    def _give_back(self, hold: Hold, state: HoldState) -> None:
        hold.state = state
        if hold.source.startswith(CARD):
            card = self.cards[hold.source.removeprefix(CARD)]
            card.held -= hold.amount
            card.available += hold.amount
            return
        account = self.accounts[hold.source.removeprefix(ACCOUNT)]
        account.held_principal -= hold.principal
        account.held_bonus -= hold.bonus
        account.principal += hold.principal
        account.bonus += hold.bonus

    def release(self, hold_id: str) -> None:
        hold = self._hold(hold_id)
        after = holds.release(hold.state, ReleaseReason.REQUESTED)
        if isinstance(after, Refusal):
            raise Refused(after.reason)
        if after is not None:
            self._give_back(hold, after)

    def time_out_holds(self) -> None:
        for hold in self.holds.values():
            if hold.state is HoldState.HELD and hold.expires_at <= self.now:
                self._give_back(hold, HoldState.EXPIRED)

    def refund_order(self, order_id: str, amount: int) -> list[tuple[str, int]]:
        """Returns (source, amount) as allocated, latest capture first."""
        _check(amount_problem(amount))
        captures = self.captures.get(order_id, [])
        if amount > sum(c.amount - c.returned for c in captures):
            raise Refused("REFUND_EXCEEDS_CAPTURED")
        given: list[tuple[str, int]] = []
        left = amount
        for capture in reversed(captures):
            part = min(left, capture.amount - capture.returned)
            if part <= 0:
                continue
            left -= part
            given.append((capture.source, part))
            if capture.source.startswith(CARD):
                self._restore_card(capture.source.removeprefix(CARD), part)
            else:
                self._restore_account(capture, part)
            capture.returned += part
        return given

    def _restore_card(self, card_id: str, amount: int) -> None:
        card = self.cards[card_id]
        while card.state is CardState.REPLACED and card.replaced_by is not None:
            card = self.cards[card.replaced_by]
        self.flows.add(self.flows.cards, "restored", amount)
        if card.state is CardState.EXPIRED:
            self.flows.add(self.flows.cards, "expired", amount)
        else:
            card.available += amount

    def _restore_account(self, capture: Capture, amount: int) -> None:
        # Bonus back in proportion to the capture, on cumulative amounts, rounded down.
        bonus_target = capture.bonus * (capture.returned + amount) // capture.amount
        bonus = bonus_target - capture.returned_bonus
        capture.returned_bonus = bonus_target
        account = self.accounts[capture.source.removeprefix(ACCOUNT)]
        account.principal += amount - bonus
        account.bonus += bonus
        self.flows.add(self.flows.principal, "restored", amount - bonus)
        self.flows.add(self.flows.bonus, "restored", bonus)

    # --- after sale -----------------------------------------------------------------------
    def _manager(self, approved: bool) -> ApprovalStatus:
        approvals = [Approval("manager", Role.MANAGER)] if approved else []
        return _ok(status(AFTER_SALE_POLICY, 0, "requester", approvals))

    def refund_card(self, card_id: str, approved: bool = True) -> int:
        card = self.card(card_id)
        amount = _ok(after_sale.refund_card(self._facts(card), self._manager(approved), self.now))
        self._move(card, CardOperation.REFUND_CARD)
        card.available = 0
        self.flows.add(self.flows.cards, "refunded", amount)
        return amount

    def exchange(self, card_id: str, approved: bool = True) -> int:
        card = self.card(card_id)
        amount = _ok(after_sale.exchange(self._facts(card), self._manager(approved), self.now))
        self._move(card, CardOperation.EXCHANGE)
        card.available = 0
        self.flows.add(self.flows.cards, "exchanged", amount)
        return amount

    def replace(self, old_id: str, new_id: str) -> None:
        old, new = self.card(old_id), self.card(new_id)
        _ok(after_sale.replace(self._facts(old), new.state, self.now, same_card=old is new))
        self._move(old, CardOperation.REPLACE)
        self._move(new, CardOperation.RECEIVE_REPLACEMENT)
        new.available, new.valid_until = old.available, old.valid_until
        new.consumed = old.consumed  # a used card's value stays used on its replacement
        old.available, old.replaced_by = 0, new_id

    def cancel(self, card_id: str, reason: str = "defective") -> None:
        card = self.card(card_id)
        card.state = _ok(after_sale.cancel_defective(card.state, reason))
        self.flows.add(self.flows.cards, "written_off", card.available)
        card.available = 0

    def expire(self, card_id: str) -> int:
        card = self.card(card_id)
        breakage = _ok(after_sale.expire(self._facts(card), self.now))
        self._move(card, CardOperation.EXPIRE)
        card.available = 0
        self.flows.add(self.flows.cards, "expired", breakage)
        return breakage

    def expire_due(self) -> list[str]:
        """The expiry job: every card past its validity without a held hold."""
        due = [
            c.card_id
            for c in self.cards.values()
            if after_sale.expiry_due(c.state, c.valid_until, self.now) and not c.held
        ]
        for card_id in due:
            self.expire(card_id)
        return due

    # --- stored value ---------------------------------------------------------------------
    def top_up(self, top_up_id: str, member: str, amount: int) -> int:
        """Returns the bonus given."""
        if top_up_id in self.top_ups:
            raise ValueError(f"top-up {top_up_id} exists")
        _check(amount_problem(amount))
        _, bonus = best_bonus(self.bonus_rules, amount, self.now)
        account = self.accounts.setdefault(member, Account())
        account.principal += amount
        account.bonus += bonus
        self.top_ups[top_up_id] = TopUp(member, amount, bonus)
        self.flows.add(self.flows.principal, "topped_up", amount)
        self.flows.add(self.flows.bonus, "granted", bonus)
        return bonus

    def refund_top_up(self, top_up_id: str, amount: int) -> int:
        """Returns the money paid back (the principal less any spent bonus kept back)."""
        if top_up_id not in self.top_ups:
            raise Refused("TOP_UP_NOT_FOUND")
        top_up = self.top_ups[top_up_id]
        account = self.accounts[top_up.member]
        _check(amount_problem(amount))
        if amount > top_up.principal - top_up.refunded:
            raise Refused("REFUND_EXCEEDS_TOP_UP")
        if amount > account.principal:
            raise Refused("TOP_UP_SPENT")
        target = top_up.bonus * (top_up.refunded + amount) // top_up.principal
        due = target - top_up.clawed_back
        from_bonus = min(due, account.bonus)
        account.principal -= amount
        account.bonus -= from_bonus
        top_up.refunded += amount
        top_up.clawed_back = target
        self.flows.add(self.flows.principal, "refunded", amount)
        self.flows.add(self.flows.bonus, "clawed_back", from_bonus)
        return amount - (due - from_bonus)

    # --- what the service is compared with ------------------------------------------------
    def card_balance(self, card_id: str) -> tuple[int, int]:
        card = self.card(card_id)
        return card.available, card.held

    def account_balance(self, member: str) -> tuple[Split, Split]:
        """(available, held), each by principal and bonus."""
        a = self.accounts.get(member, Account())
        return Split(a.principal, a.bonus), Split(a.held_principal, a.held_bonus)

    def card_flows(self) -> liability.CardFlows:
        return liability.CardFlows(**self.flows.cards)

    def principal_flows(self) -> liability.PrincipalFlows:
        return liability.PrincipalFlows(**self.flows.principal)

    def bonus_flows(self) -> liability.BonusFlows:
        return liability.BonusFlows(**self.flows.bonus)

    def balances(self) -> liability.Balances:
        return liability.Balances(
            cards=sum(c.available + c.held for c in self.cards.values()),
            principal=sum(a.principal + a.held_principal for a in self.accounts.values()),
            bonus=sum(a.bonus + a.held_bonus for a in self.accounts.values()),
        )

    def report(self) -> dict[str, int]:
        return liability.report(self.card_flows(), self.principal_flows(), self.bonus_flows())

    def problems(self) -> list[str]:
        """Every invariant the model breaks (empty when it keeps them all)."""
        found = []
        for c in self.cards.values():
            if c.available < 0 or c.held < 0:
                found.append(f"card {c.card_id}: negative balance")
            held = sum(
                h.amount
                for h in self.holds.values()
                if h.state is HoldState.HELD and h.source == card_source(c.card_id)
            )
            if held != c.held:
                found.append(f"card {c.card_id}: held {c.held}, holds {held}")
            if (c.state in FINAL or c.state is CardState.ISSUED) and c.available + c.held:
                found.append(f"card {c.card_id}: {c.state} with value")
        for member, a in self.accounts.items():
            if min(a.principal, a.bonus, a.held_principal, a.held_bonus) < 0:
                found.append(f"account {member}: negative balance")
        for order_id, captures in self.captures.items():
            for capture in captures:
                if not 0 <= capture.returned <= capture.amount:
                    found.append(f"order {order_id}: {capture.source} returned beyond capture")
                if not 0 <= capture.returned_bonus <= capture.bonus:
                    found.append(f"order {order_id}: bonus returned beyond capture")
        for top_up_id, t in self.top_ups.items():
            if t.refunded > t.principal or t.clawed_back > t.bonus:
                found.append(f"top-up {top_up_id}: refunded beyond what it paid in")
        mismatches = liability.reconcile(
            self.card_flows(), self.principal_flows(), self.bonus_flows(), self.balances()
        )
        found.extend(f"liability {m.line}: {m.expected} ≠ {m.actual}" for m in mismatches)
        return found
