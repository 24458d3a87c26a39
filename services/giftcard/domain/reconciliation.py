"""The daily reconciliation's lines (进销存日报): which journal postings make which line, the
liability by part, and what does not add up.

A line is the sum of one counter account's postings of one direction on the business day
(e.g. `loads` negative: value loaded; `loads` positive: loads reversed by a rejected review):
every posting that moves value in or out of what the platform owes goes to one of them, so a
posting the report has no line for is itself a finding. Stored value spent and given back is
one counter account (`sv_redemptions`) for principal and bonus; the parts come from the kept
side of the same transactions (`StoredValueSplit`). The identity itself (opening + flows =
the balances, by part) is `domain.liability.reconcile`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from . import accounts as acc
from . import liability
from .states import FINAL, CardState


class Line(StrEnum):
    """A line of the day; the values are the proto's ReconciliationLineKind names."""

    LOADED = "LOADED"
    LOAD_REVERSED = "LOAD_REVERSED"
    ACTIVATED = "ACTIVATED"
    REDEEMED = "REDEEMED"
    REDEMPTION_RETURNED = "REDEMPTION_RETURNED"
    CARD_REFUNDED = "CARD_REFUNDED"
    EXCHANGED = "EXCHANGED"
    TRANSFERRED = "TRANSFERRED"
    EXPIRED = "EXPIRED"
    EXPIRY_REVERSED = "EXPIRY_REVERSED"
    CANCELLED = "CANCELLED"
    STORED_VALUE_TOPPED_UP = "STORED_VALUE_TOPPED_UP"
    STORED_VALUE_BONUS = "STORED_VALUE_BONUS"
    STORED_VALUE_SPENT = "STORED_VALUE_SPENT"
    STORED_VALUE_RETURNED = "STORED_VALUE_RETURNED"
    STORED_VALUE_REFUNDED = "STORED_VALUE_REFUNDED"
    STORED_VALUE_BONUS_REVOKED = "STORED_VALUE_BONUS_REVOKED"


# Each line's effect on what the platform owes: +1 adds, -1 takes away, 0 moves between parts.
EFFECT: Mapping[Line, int] = {
    Line.LOADED: 1,
    Line.LOAD_REVERSED: -1,
    Line.ACTIVATED: 0,
    Line.REDEEMED: -1,
    Line.REDEMPTION_RETURNED: 1,
    Line.CARD_REFUNDED: -1,
    Line.EXCHANGED: -1,
    Line.TRANSFERRED: 0,
    Line.EXPIRED: -1,
    Line.EXPIRY_REVERSED: 1,
    Line.CANCELLED: -1,
    Line.STORED_VALUE_TOPPED_UP: 1,
    Line.STORED_VALUE_BONUS: 1,
    Line.STORED_VALUE_SPENT: -1,
    Line.STORED_VALUE_RETURNED: 1,
    Line.STORED_VALUE_REFUNDED: -1,
    Line.STORED_VALUE_BONUS_REVOKED: -1,
}

# The balances the journal keeps as columns (cards, stored value), by part of the liability.
CARD_ACCOUNTS = (acc.CARD_AVAILABLE, acc.CARD_HELD)
PRINCIPAL_ACCOUNTS = (acc.SV_PRINCIPAL, acc.SV_HELD_PRINCIPAL)
BONUS_ACCOUNTS = (acc.SV_BONUS, acc.SV_HELD_BONUS)
KEPT_ACCOUNTS = CARD_ACCOUNTS + PRINCIPAL_ACCOUNTS + BONUS_ACCOUNTS

# (counter account, direction of its posting) → line. A posting on a counter account is the
# mirror of the kept balance's: `loads` −100 is 100 loaded onto a card.
COUNTER_LINES: Mapping[tuple[str, int], Line] = {
    (acc.LOADS, -1): Line.LOADED,
    (acc.LOADS, 1): Line.LOAD_REVERSED,
    (acc.REDEMPTIONS, 1): Line.REDEEMED,
    (acc.REDEMPTIONS, -1): Line.REDEMPTION_RETURNED,
    (acc.CARD_REFUNDS, 1): Line.CARD_REFUNDED,
    (acc.EXCHANGES, 1): Line.EXCHANGED,
    (acc.BREAKAGE, 1): Line.EXPIRED,
    (acc.BREAKAGE, -1): Line.EXPIRY_REVERSED,
    (acc.WRITE_OFFS, 1): Line.CANCELLED,
    (acc.TOP_UPS, -1): Line.STORED_VALUE_TOPPED_UP,
    (acc.BONUS_GRANTS, -1): Line.STORED_VALUE_BONUS,
    (acc.SV_REDEMPTIONS, 1): Line.STORED_VALUE_SPENT,
    (acc.SV_REDEMPTIONS, -1): Line.STORED_VALUE_RETURNED,
    (acc.TOP_UP_REFUNDS, 1): Line.STORED_VALUE_REFUNDED,
    (acc.BONUS_CLAWBACKS, 1): Line.STORED_VALUE_BONUS_REVOKED,
}

# Cards in these states are stock (not sold yet); a card never goes back to them once sold.
STOCK_STATES = frozenset(
    {CardState.ISSUED, CardState.LOADED, CardState.READY, CardState.REQUISITIONED}
)
# Cards in these states carry no value: a blank, or a card whose value left (paid back, moved,
# written off, expired).
VALUELESS_STATES = FINAL | {CardState.ISSUED}


@dataclass(frozen=True)
class Sum:
    count: int = 0
    amount: int = 0  # signed, as posted

    def __add__(self, other: Sum) -> Sum:
        return Sum(self.count + other.count, self.amount + other.amount)


@dataclass(frozen=True)
class StoredValueSplit:
    """Stored value spent and given back, by part: from the kept side of the transactions
    that post on `sv_redemptions` (positive: spent)."""

    principal_spent: int = 0
    bonus_spent: int = 0
    principal_restored: int = 0
    bonus_restored: int = 0


@dataclass(frozen=True)
class LineAmount:
    line: Line
    count: int
    amount: int  # never negative

    @property
    def effect(self) -> int:
        return EFFECT[self.line] * self.amount


@dataclass(frozen=True)
class Liability:
    """What the platform owes, by part (proto Liability)."""

    cards_in_stock: int = 0
    cards_sold: int = 0
    principal: int = 0
    bonus: int = 0

    @property
    def cards(self) -> int:
        return self.cards_in_stock + self.cards_sold

    @property
    def total(self) -> int:
        return self.cards + self.principal + self.bonus

    def balances(self) -> liability.Balances:
        return liability.Balances(cards=self.cards, principal=self.principal, bonus=self.bonus)

    def report(self) -> dict[str, int]:
        return liability.balances_report(self.balances())


class FindingKind(StrEnum):
    """What does not add up; the values are the proto's MismatchKind names."""

    JOURNAL_UNBALANCED = "JOURNAL_UNBALANCED"
    BALANCE = "BALANCE"
    LIABILITY = "LIABILITY"
    STOCK = "STOCK"
    ORDER_PAYMENT = "ORDER_PAYMENT"
    SALE_DISPUTED = "SALE_DISPUTED"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    reference: str  # a card, member, transaction, order or sale id; "" for the totals
    expected: int
    actual: int
    description: str


@dataclass(frozen=True)
class DayFlows:
    cards: liability.CardFlows
    principal: liability.PrincipalFlows
    bonus: liability.BonusFlows
    lines: list[LineAmount]
    findings: list[Finding] = field(default_factory=list)  # postings the report has no line for

    def effect(self) -> int:
        return sum(line.effect for line in self.lines)


def day_flows(
    postings: Mapping[tuple[str, str, int], Sum],
    split: StoredValueSplit,
    activated: Sum = Sum(),
) -> DayFlows:
    """The day's lines and flows from its postings summed by (account, entry kind, direction),
    the stored-value split, and the cards activated (count, face value)."""
    by_line: dict[Line, Sum] = {}
    unclassified: dict[tuple[str, int], Sum] = {}
    for (account, kind, direction), total in postings.items():
        if account in KEPT_ACCOUNTS:
            if account == acc.CARD_AVAILABLE and kind == acc.TRANSFER_IN and direction > 0:
                by_line[Line.TRANSFERRED] = by_line.get(Line.TRANSFERRED, Sum()) + total
            continue
        line = COUNTER_LINES.get((account, direction))
        if line is None:
            unclassified[(account, direction)] = (
                unclassified.get((account, direction), Sum()) + total
            )
        else:
            by_line[line] = by_line.get(line, Sum()) + total
    if activated.count:
        by_line[Line.ACTIVATED] = activated

    def amount(line: Line) -> int:
        return abs(by_line.get(line, Sum()).amount)

    cards = liability.CardFlows(
        loaded=amount(Line.LOADED) - amount(Line.LOAD_REVERSED),
        redeemed=amount(Line.REDEEMED),
        restored=amount(Line.REDEMPTION_RETURNED),
        refunded=amount(Line.CARD_REFUNDED),
        exchanged=amount(Line.EXCHANGED),
        expired=amount(Line.EXPIRED) - amount(Line.EXPIRY_REVERSED),
        written_off=amount(Line.CANCELLED),
    )
    principal = liability.PrincipalFlows(
        topped_up=amount(Line.STORED_VALUE_TOPPED_UP),
        spent=split.principal_spent,
        restored=split.principal_restored,
        refunded=amount(Line.STORED_VALUE_REFUNDED),
    )
    bonus = liability.BonusFlows(
        granted=amount(Line.STORED_VALUE_BONUS),
        spent=split.bonus_spent,
        restored=split.bonus_restored,
        clawed_back=amount(Line.STORED_VALUE_BONUS_REVOKED),
    )
    lines = [
        LineAmount(line, by_line[line].count, abs(by_line[line].amount))
        for line in Line
        if line in by_line and (by_line[line].count or by_line[line].amount)
    ]
    findings = [
        Finding(
            FindingKind.LIABILITY,
            "",
            0,
            total.amount,
            f"{total.count} postings on {account} ({'+' if direction > 0 else '−'}) that no"
            f" line of the report counts: {total.amount}",
        )
        for (account, direction), total in sorted(unclassified.items())
    ]
    counted_spent = split.principal_spent + split.bonus_spent
    counted_restored = split.principal_restored + split.bonus_restored
    for line, counted in (
        (Line.STORED_VALUE_SPENT, counted_spent),
        (Line.STORED_VALUE_RETURNED, counted_restored),
    ):
        if amount(line) != counted:
            findings.append(
                Finding(
                    FindingKind.LIABILITY,
                    "",
                    amount(line),
                    counted,
                    f"{line.value}: {amount(line)} on {acc.SV_REDEMPTIONS}, but principal and"
                    f" bonus moved {counted}",
                )
            )
    return DayFlows(cards, principal, bonus, lines, findings)


def liability_findings(flows: DayFlows, opening: Liability, closing: Liability) -> list[Finding]:
    """Every part whose closing (from the balances) differs from the opening plus the day's
    flows (domain.liability.reconcile), each as a LIABILITY finding."""
    found = liability.reconcile(
        flows.cards, flows.principal, flows.bonus, closing.balances(), opening.report()
    )
    return [
        Finding(
            FindingKind.LIABILITY,
            "",
            m.expected or 0,
            m.actual or 0,
            f"{m.line}: {m.expected} from the opening and the day's flows, {m.actual} in the"
            " balances",
        )
        for m in found
    ]


def expected_lines(flows: DayFlows, opening: Liability) -> dict[str, int]:
    """Every flow and the outstanding lines the flows say (domain.liability.report)."""
    return liability.report(flows.cards, flows.principal, flows.bonus, opening.report())


def valueless_findings(cards: Iterable[tuple[str, CardState, int]]) -> list[Finding]:
    """Cards (id, state, value) holding value in a state that carries none."""
    return [
        Finding(
            FindingKind.STOCK,
            card_id,
            0,
            value,
            f"card {card_id} is {state.value} but holds {value}",
        )
        for card_id, state, value in cards
        if state in VALUELESS_STATES and value
    ]
