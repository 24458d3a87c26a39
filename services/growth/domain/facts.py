"""Facts: the dated, idempotent inputs every score is computed from, and what a window sees.

A fact is keyed by its kind and `source_id`, the reference of what it records: the order for a
payment, the refund for a refund, the review for a review, the source event's id for the rest
(a verification, a link, a profile snapshot, an assessment). The store keeps one fact per key,
so an event delivered twice, or re-sent with a new event id for the same order, is recorded
once; `FactBook.of` keeps the first of a key the same way. Nothing depends on the order facts
arrive in: every question below is answered from the facts' own dates, ties broken by
`source_id`, so a late or shuffled delivery gives the same answers.

Facts dated at or after the instant a score is taken for are ignored, whatever was recorded
since. That is what keeps a past settlement reproducible: a refund made after it lowers the next
settlement, never the settled one.

**Two kinds of facts.**
- *Events in the window* (orders, activity): counted when dated in the 12-month window.
- *States as of the instant*: verification, linked accounts and the profile are the account's
  standing (stable, one-off), so the latest state before the instant counts however old it is;
  risk assessments and credit reports are periodic judgements, so only the latest one dated in
  the window counts (a judgement older than a year says nothing about the member now).

**Refunds net against their order**, not their own date: an order paid in the window counts
what was paid minus what was refunded of each line before the instant (never below zero per
line, so a refund larger than its line takes nothing from the others). An order paid before the
window contributes nothing, and neither do its late refunds. A refund whose order has not
arrived yet waits for it: it nets as soon as the order is recorded. Orders in another currency
than the rule set's are not counted (the domain converts no money).

The part paid with the platform's own payment shrinks with refunds in proportion: a refund
says how much, not through which means, so each means is taken to give back its share
(⌊platform paid × net ÷ paid⌋).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, TypeVar

from services.kit.refusals import FieldProblem

from .periods import Window


class FactKind(StrEnum):
    """The values are the facts.kind column's."""

    ORDER_PAID = "order_paid"
    ORDER_REFUNDED = "order_refunded"
    ACTIVITY = "activity"
    VERIFIED = "verified"
    ACCOUNT_LINKED = "account_linked"
    ACCOUNT_UNLINKED = "account_unlinked"
    PROFILE = "profile"
    REPUTATION = "reputation_assessed"
    CREDIT = "credit_reported"


class ActivityKind(StrEnum):
    REVIEW = "review"
    PHOTO_REVIEW = "photo_review"  # 晒单
    ANSWER = "answer"  # an answered product question
    SHARE = "share"


MAX_REPUTATION = 100  # the risk system's scale: 0 (fraud) to 100 (spotless)
MAX_AMOUNT_MINOR = 10**12  # one order line; keeps a year's sums far from a bigint


@dataclass(frozen=True)
class _Fact:
    member_id: str
    source_id: str
    occurred_at: dt.datetime

    kind: ClassVar[FactKind]

    @property
    def key(self) -> str:
        """Unique per fact: the store's primary key with the member."""
        return f"{self.kind.value}:{self.source_id}"

    @property
    def order(self) -> tuple[dt.datetime, str]:
        """How facts of one kind are ordered: by date, ties by source id."""
        return (self.occurred_at, self.source_id)


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    category: str
    paid_minor: int


@dataclass(frozen=True)
class OrderPaid(_Fact):
    """`source_id` is the order id; `platform_paid_minor` the part of the lines' total paid
    with the platform's own payment (wallet, credit line)."""

    currency: str
    lines: tuple[OrderLine, ...]
    platform_paid_minor: int = 0
    kind: ClassVar[FactKind] = FactKind.ORDER_PAID

    @property
    def paid_minor(self) -> int:
        return sum(line.paid_minor for line in self.lines)


@dataclass(frozen=True)
class RefundLine:
    line_id: str
    amount_minor: int


@dataclass(frozen=True)
class OrderRefunded(_Fact):
    """`source_id` is the refund id; `order_id` the refunded order."""

    order_id: str
    currency: str
    lines: tuple[RefundLine, ...]
    kind: ClassVar[FactKind] = FactKind.ORDER_REFUNDED


@dataclass(frozen=True)
class Activity(_Fact):
    """`source_id` is the review's (answer's, share's) id."""

    activity: ActivityKind
    kind: ClassVar[FactKind] = FactKind.ACTIVITY


def review(member_id: str, review_id: str, at: dt.datetime, has_photos: bool) -> Activity:
    """The fact a `review.posted` event records."""
    return Activity(
        member_id, review_id, at, ActivityKind.PHOTO_REVIEW if has_photos else ActivityKind.REVIEW
    )


@dataclass(frozen=True)
class Verified(_Fact):
    kind: ClassVar[FactKind] = FactKind.VERIFIED


@dataclass(frozen=True)
class AccountLinked(_Fact):
    provider: str
    kind: ClassVar[FactKind] = FactKind.ACCOUNT_LINKED


@dataclass(frozen=True)
class AccountUnlinked(_Fact):
    provider: str
    kind: ClassVar[FactKind] = FactKind.ACCOUNT_UNLINKED


@dataclass(frozen=True)
class ProfileSnapshot(_Fact):
    """The profile fields filled at `occurred_at` (a snapshot, not a change: the latest wins)."""

    filled: frozenset[str]
    kind: ClassVar[FactKind] = FactKind.PROFILE


@dataclass(frozen=True)
class ReputationAssessed(_Fact):
    score: int  # 0-100, MAX_REPUTATION
    kind: ClassVar[FactKind] = FactKind.REPUTATION


@dataclass(frozen=True)
class CreditReported(_Fact):
    score: int  # the credit bureau's own scale, not negative
    kind: ClassVar[FactKind] = FactKind.CREDIT


Fact = (
    OrderPaid
    | OrderRefunded
    | Activity
    | Verified
    | AccountLinked
    | AccountUnlinked
    | ProfileSnapshot
    | ReputationAssessed
    | CreditReported
)


def fact_problems(fact: Fact) -> list[FieldProblem]:
    """What an ingester must refuse (to the dead letters, not into the facts)."""
    problems = []
    if not fact.member_id:
        problems.append(FieldProblem("member_id", "required"))
    if not fact.source_id:
        problems.append(FieldProblem("source_id", "required"))
    if fact.occurred_at.tzinfo is None or fact.occurred_at.utcoffset() is None:
        problems.append(FieldProblem("occurred_at", "a timezone-aware instant"))
    amounts: list[tuple[str, int, str]] = []  # line id, amount, field
    if isinstance(fact, OrderPaid):
        amounts = [(x.line_id, x.paid_minor, "paid_minor") for x in fact.lines]
    elif isinstance(fact, OrderRefunded):
        amounts = [(x.line_id, x.amount_minor, "amount_minor") for x in fact.lines]
    if len({line_id for line_id, _, _ in amounts}) != len(amounts):
        problems.append(FieldProblem("lines", "a line id appears twice", "DUPLICATE_LINE"))
    for i, (line_id, amount, name) in enumerate(amounts):
        if not line_id:
            problems.append(FieldProblem(f"lines[{i}].line_id", "required"))
        if not 0 <= amount <= MAX_AMOUNT_MINOR:
            problems.append(FieldProblem(f"lines[{i}].{name}", f"0 to {MAX_AMOUNT_MINOR}"))
    if isinstance(fact, OrderPaid) and not 0 <= fact.platform_paid_minor <= max(0, fact.paid_minor):
        problems.append(FieldProblem("platform_paid_minor", "0 to the amount paid"))
    if isinstance(fact, OrderRefunded) and not fact.order_id:
        problems.append(FieldProblem("order_id", "required"))
    if isinstance(fact, ReputationAssessed) and not 0 <= fact.score <= MAX_REPUTATION:
        problems.append(FieldProblem("score", f"0 to {MAX_REPUTATION}"))
    if isinstance(fact, CreditReported) and fact.score < 0:
        problems.append(FieldProblem("score", "not negative"))
    return problems


_F = TypeVar("_F")


# --- what a window sees ------------------------------------------------------------------------
@dataclass(frozen=True)
class NetOrder:
    """An order paid in the window, net of its refunds before the window's end."""

    order: OrderPaid
    refunds: tuple[OrderRefunded, ...]
    net_by_category: tuple[tuple[str, int], ...]  # sorted by category; zero amounts left out

    @property
    def net_minor(self) -> int:
        return sum(amount for _, amount in self.net_by_category)

    @property
    def platform_minor(self) -> int:
        """The part of the net paid with the platform's own payment (module doc)."""
        paid = self.order.paid_minor
        return self.order.platform_paid_minor * self.net_minor // paid if paid else 0

    @property
    def counts(self) -> bool:
        """A fully refunded order is no order: buying and returning must not farm order counts."""
        return self.net_minor > 0

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.order.key, *(r.key for r in self.refunds))


@dataclass(frozen=True)
class FactBook:
    """One member's facts, one per key, each kind sorted by `_Fact.order`."""

    facts: tuple[Fact, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> FactBook:
        kept: dict[str, Fact] = {}
        for fact in facts:
            kept.setdefault(fact.key, fact)
        return cls(tuple(sorted(kept.values(), key=lambda f: (f.kind.value, *f.order))))

    def _of_kind(self, kind: type[_F]) -> list[_F]:
        return [f for f in self.facts if isinstance(f, kind)]

    def net_orders(self, window: Window, currency: str) -> tuple[NetOrder, ...]:
        refunds: dict[str, list[OrderRefunded]] = defaultdict(list)
        for refund in self._of_kind(OrderRefunded):
            if refund.occurred_at < window.end and refund.currency == currency:
                refunds[refund.order_id].append(refund)
        found = []
        for order in self._of_kind(OrderPaid):
            if order.occurred_at not in window or order.currency != currency:
                continue
            mine = tuple(refunds.get(order.source_id, ()))
            refunded: dict[str, int] = defaultdict(int)
            for refund in mine:
                for back in refund.lines:
                    refunded[back.line_id] += back.amount_minor
            by_category: dict[str, int] = defaultdict(int)
            for line in order.lines:
                by_category[line.category] += max(0, line.paid_minor - refunded[line.line_id])
            net = tuple(sorted((c, a) for c, a in by_category.items() if a > 0))
            found.append(NetOrder(order, mine, net))
        return tuple(found)

    def activities(self, window: Window) -> tuple[Activity, ...]:
        return tuple(a for a in self._of_kind(Activity) if a.occurred_at in window)

    def verification(self, end: dt.datetime) -> Verified | None:
        """The first verification before `end` (identity verifies a member once)."""
        return next((v for v in self._of_kind(Verified) if v.occurred_at < end), None)

    def linked(self, end: dt.datetime) -> tuple[AccountLinked, ...]:
        """The links standing at `end`: per provider, the latest link or unlink before it."""
        latest: dict[str, AccountLinked | AccountUnlinked] = {}
        changes = [f for f in self.facts if isinstance(f, AccountLinked | AccountUnlinked)]
        for change in sorted(changes, key=lambda f: f.order):
            if change.occurred_at < end:
                latest[change.provider] = change
        return tuple(
            sorted(
                (f for f in latest.values() if isinstance(f, AccountLinked)),
                key=lambda f: f.provider,
            )
        )

    def profile(self, end: dt.datetime) -> ProfileSnapshot | None:
        before = [p for p in self._of_kind(ProfileSnapshot) if p.occurred_at < end]
        return before[-1] if before else None

    def reputation(self, window: Window) -> ReputationAssessed | None:
        inside = [r for r in self._of_kind(ReputationAssessed) if r.occurred_at in window]
        return inside[-1] if inside else None

    def credit(self, window: Window) -> CreditReported | None:
        inside = [c for c in self._of_kind(CreditReported) if c.occurred_at in window]
        return inside[-1] if inside else None
