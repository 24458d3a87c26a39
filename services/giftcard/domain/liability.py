"""Reconciliation arithmetic (进销存): what the platform owes on cards and on stored value, from
the flows of money and from the balances, and every line where the two disagree.

Outstanding on cards = loaded − redeemed + restored − refunded − exchanged − expired −
written off. `restored` (order refunds put back on cards) and `written_off` (defective stock
cancelled with value) are their own lines rather than netted into others, so each line of the
report matches one kind of journal entry. Stored value has two lines of its own, principal and
bonus: principal is money paid in, bonus a promotion, and a report that mixed them would hide
a clawback gone wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from .states import CardState


@dataclass(frozen=True)
class CardFlows:
    loaded: int = 0
    redeemed: int = 0  # captured and redeemed
    restored: int = 0  # order refunds put back on cards
    refunded: int = 0  # 退卡: paid back
    exchanged: int = 0  # 调换: taken back against other cards
    expired: int = 0  # breakage
    written_off: int = 0  # defective stock cancelled with its loaded value

    @property
    def net(self) -> int:
        return (
            self.loaded
            - self.redeemed
            + self.restored
            - self.refunded
            - self.exchanged
            - self.expired
            - self.written_off
        )


@dataclass(frozen=True)
class PrincipalFlows:
    topped_up: int = 0
    spent: int = 0
    restored: int = 0  # order refunds put back
    refunded: int = 0  # top-ups refunded (the principal leaving, cash kept back included)

    @property
    def net(self) -> int:
        return self.topped_up - self.spent + self.restored - self.refunded


@dataclass(frozen=True)
class BonusFlows:
    granted: int = 0
    spent: int = 0
    restored: int = 0
    clawed_back: int = 0  # taken back from the bonus balance by top-up refunds

    @property
    def net(self) -> int:
        return self.granted - self.spent + self.restored - self.clawed_back


@dataclass(frozen=True)
class Balances:
    """Sums of the balances themselves: every card's available + held, every account's
    principal and bonus (held parts included)."""

    cards: int = 0
    principal: int = 0
    bonus: int = 0


CARDS = "cards.outstanding"
PRINCIPAL = "stored_value.principal.outstanding"
BONUS = "stored_value.bonus.outstanding"
TOTAL = "total.outstanding"
OUTSTANDING = (CARDS, PRINCIPAL, BONUS, TOTAL)

Report = Mapping[str, int]


def report(
    cards: CardFlows,
    principal: PrincipalFlows,
    bonus: BonusFlows,
    opening: Report | None = None,
) -> dict[str, int]:
    """Every flow as a line, and the outstanding lines: the opening report's (the day
    before; none for flows since the first day) plus the net of the flows."""
    opening = opening or {}
    lines: dict[str, int] = {}
    for prefix, flows in (
        ("cards", cards),
        ("stored_value.principal", principal),
        ("stored_value.bonus", bonus),
    ):
        for f in fields(flows):
            lines[f"{prefix}.{f.name}"] = getattr(flows, f.name)
    lines[CARDS] = opening.get(CARDS, 0) + cards.net
    lines[PRINCIPAL] = opening.get(PRINCIPAL, 0) + principal.net
    lines[BONUS] = opening.get(BONUS, 0) + bonus.net
    lines[TOTAL] = lines[CARDS] + lines[PRINCIPAL] + lines[BONUS]
    return lines


def balances_report(balances: Balances) -> dict[str, int]:
    return {
        CARDS: balances.cards,
        PRINCIPAL: balances.principal,
        BONUS: balances.bonus,
        TOTAL: balances.cards + balances.principal + balances.bonus,
    }


@dataclass(frozen=True)
class Mismatch:
    line: str
    expected: int | None  # None: the line is missing from the expected report
    actual: int | None  # None: the line is missing from the actual one

    @property
    def difference(self) -> int | None:
        if self.expected is None or self.actual is None:
            return None
        return self.actual - self.expected


def mismatches(
    expected: Report, actual: Report, lines: Iterable[str] | None = None
) -> list[Mismatch]:
    """Every line (of `lines`, else of either report) whose amounts differ or that only one
    report has, sorted by line: all of them, not the first, so one run tells everything."""
    names = sorted(set(lines) if lines is not None else set(expected) | set(actual))
    return [
        Mismatch(name, expected.get(name), actual.get(name))
        for name in names
        if expected.get(name) != actual.get(name)
    ]


def reconcile(
    cards: CardFlows,
    principal: PrincipalFlows,
    bonus: BonusFlows,
    balances: Balances,
    opening: Report | None = None,
) -> list[Mismatch]:
    """The liability identity: the outstanding lines from the flows equal the balances."""
    expected = report(cards, principal, bonus, opening)
    return mismatches(expected, balances_report(balances), OUTSTANDING)


@dataclass(frozen=True)
class StockItem:
    state: CardState
    face_minor: int
    balance_minor: int


@dataclass(frozen=True)
class StockLine:
    count: int
    balance_minor: int


def stock(items: Iterable[StockItem]) -> dict[tuple[CardState, int], StockLine]:
    """Cards by state and denomination: how many, and the value they carry."""
    counts: Counter[tuple[CardState, int]] = Counter()
    values: Counter[tuple[CardState, int]] = Counter()
    for item in items:
        key = (item.state, item.face_minor)
        counts[key] += 1
        values[key] += item.balance_minor
    return {key: StockLine(counts[key], values[key]) for key in sorted(counts)}
