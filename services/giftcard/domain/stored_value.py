"""Member stored value (余额, 充值会员): top-ups with bonus rules as data (充值赠送), principal and
bonus kept apart, the order they are spent in, and refunds of top-ups and of orders.

Spending takes principal first, bonus last. The bonus of a top-up then stays in the account
for as long as any principal is left to refund, so the proportional clawback of a refund
finds it there; spending bonus first would leave nothing to take back, and nearly every
refund after a purchase would have to be cut instead. It also shrinks first the part the
platform owes in cash.

Rounding, everywhere: proportions are computed on cumulative amounts and rounded down, the
fraction of a fen staying with the member (as points does). Cumulative, so partial refunds
never drift and a full refund takes back exactly the whole bonus.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from .amounts import amount_problem
from .holds import shortfall
from .refusals import FieldProblem, Refusal


@dataclass(frozen=True)
class BonusRule:
    """Top up at least `min_top_up_minor`, get `bonus_minor`, between `starts_at` (inclusive)
    and `ends_at` (exclusive) when given."""

    rule_id: str
    min_top_up_minor: int
    bonus_minor: int
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None

    def in_effect(self, now: dt.datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (
            self.ends_at is None or now < self.ends_at
        )


def _overlap(a: BonusRule, b: BonusRule) -> bool:
    return (a.ends_at is None or b.starts_at is None or b.starts_at < a.ends_at) and (
        b.ends_at is None or a.starts_at is None or a.starts_at < b.ends_at
    )


def rule_problems(rules: Sequence[BonusRule]) -> list[str]:
    """Why a set of rules cannot be used (empty when it can)."""
    problems = []
    ids = [r.rule_id for r in rules]
    if len(set(ids)) != len(ids):
        problems.append("rule ids must differ")
    for r in rules:
        if not r.rule_id:
            problems.append("a rule needs an id")
        if amount_problem(r.min_top_up_minor) or amount_problem(r.bonus_minor):
            problems.append(f"{r.rule_id}: threshold and bonus are positive amounts")
        elif r.bonus_minor > r.min_top_up_minor:
            # "Top up 1000 get 50000" is a typo, and a bonus above the top-up would let a
            # refund's clawback exceed the principal refunded.
            problems.append(f"{r.rule_id}: the bonus is at most the threshold")
        if r.starts_at and r.ends_at and r.ends_at <= r.starts_at:
            problems.append(f"{r.rule_id}: it must end after it starts")
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            if not _overlap(a, b):
                continue
            low, high = sorted((a, b), key=lambda r: r.min_top_up_minor)
            if low.min_top_up_minor == high.min_top_up_minor:
                problems.append(f"{a.rule_id}, {b.rule_id}: the same threshold at the same time")
            elif high.bonus_minor <= low.bonus_minor:
                problems.append(
                    f"{high.rule_id} is never the best: {low.rule_id} gives as much for less"
                )
    return problems


def best_bonus(
    rules: Sequence[BonusRule], amount_minor: int, now: dt.datetime
) -> tuple[BonusRule | None, int]:
    """The applicable rule giving the most (one rule per top-up, never a sum of rules), and
    its bonus; (None, 0) when none applies."""
    applicable = [r for r in rules if r.in_effect(now) and r.min_top_up_minor <= amount_minor]
    if not applicable:
        return None, 0
    best = max(applicable, key=lambda r: (r.bonus_minor, r.min_top_up_minor, r.rule_id))
    return best, best.bonus_minor


@dataclass(frozen=True)
class Split:
    """An amount of stored value by its parts: principal (money paid in) and bonus."""

    principal: int = 0
    bonus: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.bonus

    def __add__(self, other: Split) -> Split:
        return Split(self.principal + other.principal, self.bonus + other.bonus)

    def __sub__(self, other: Split) -> Split:
        return Split(self.principal - other.principal, self.bonus - other.bonus)


def split_spend(available: Split, amount: int) -> Split | Refusal | FieldProblem:
    """What a spend (or hold) of `amount` takes from each part: principal first."""
    problem = amount_problem(amount)
    if problem:
        return problem
    refusal = shortfall(available.total, amount)
    if refusal:
        return refusal
    principal = min(amount, available.principal)
    return Split(principal, amount - principal)


def restore_split(captured: Split, returned: Split, amount: int) -> Split:
    """What an order refund of `amount` gives back to each part of a capture, of which
    `returned` came back already: in proportion to the capture, bonus rounded down (the fen
    goes to principal, the member's money). Never more to a part than it gave."""
    if amount <= 0 or amount > captured.total - returned.total:
        raise ValueError("a restore is positive and at most what is left of the capture")
    target = captured.bonus * (returned.total + amount) // captured.total
    bonus = target - returned.bonus
    return Split(amount - bonus, bonus)


@dataclass(frozen=True)
class TopUp:
    """A confirmed top-up: `principal` paid, `bonus` given, and what refunds took so far."""

    principal: int
    bonus: int
    refunded: int = 0  # principal refunded
    clawed_back: int = 0  # bonus taken back (from the bonus balance or kept from a refund)


def clawback_target(top_up: TopUp, refunded: int) -> int:
    """Bonus to have taken back once `refunded` (cumulative) of the principal is refunded."""
    return top_up.bonus * refunded // top_up.principal


@dataclass(frozen=True)
class TopUpRefund:
    """`principal` leaves the balance; the clawback is `bonus_clawed_back` from the bonus
    balance, and `kept_from_cash` of it (bonus already spent) is kept from the money paid
    back, so the member never keeps bonus for principal they take back."""

    principal: int
    bonus_clawed_back: int
    kept_from_cash: int

    @property
    def clawback(self) -> int:
        return self.bonus_clawed_back + self.kept_from_cash

    @property
    def cash_out(self) -> int:
        return self.principal - self.kept_from_cash


def refund_top_up(
    top_up: TopUp, available: Split, amount: int
) -> TopUpRefund | Refusal | FieldProblem:
    """Refund `amount` of a top-up's principal (to the payment it came from). At most what
    the top-up paid in and has not had back, and at most the principal still in the account
    (what was spent is spent)."""
    problem = amount_problem(amount)
    if problem:
        return problem
    if top_up.bonus > top_up.principal:
        raise ValueError("a top-up's bonus is at most its principal")
    left = top_up.principal - top_up.refunded
    if amount > left:
        return Refusal(
            "REFUND_EXCEEDS_TOP_UP",
            f"at most {left} of this top-up is left to refund",
            metadata={"refundable_minor": str(min(left, available.principal))},
        )
    if amount > available.principal:
        return Refusal(
            "TOP_UP_SPENT",
            f"only {available.principal} of principal is left in the account",
            metadata={"refundable_minor": str(min(left, available.principal))},
        )
    due = clawback_target(top_up, top_up.refunded + amount) - top_up.clawed_back
    from_bonus = min(due, available.bonus)
    return TopUpRefund(amount, from_bonus, due - from_bonus)
