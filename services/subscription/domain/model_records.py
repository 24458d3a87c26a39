"""The subscription reference model's records (members, subscriptions, orders, charges, codes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from services.kit.refusals import FieldProblem, Refusal

from .lifecycle import (
    LIVE,
    MemberStatus,
    Operation,
    State,
    transition,
)
from .plans import DEFAULT_ZONE, Plan, add_period, anchor_after
from .refunds import DEFAULT_COOLING_OFF, BenefitUse
from .renewal import DEFAULT_PAYMENT_WINDOW, RenewalPolicy
from .subscriptions import Subscription
from .terms import Channel, Term


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


T = TypeVar("T")


def _ok(result: T | Refusal | FieldProblem) -> T:
    if isinstance(result, Refusal | FieldProblem):
        raise Refused(result.reason)
    return result


def _check(result: Refusal | FieldProblem | None) -> None:
    if result is not None:
        raise Refused(result.reason)


def _move(sub: Sub, op: Operation) -> State:
    return _ok(transition(sub.state, op))


_US = dt.timedelta(microseconds=1)


def _elapsed_share(term: Term, now: dt.datetime) -> Fraction:
    """The fraction of the term gone by at `now`, between 0 and 1, exactly."""
    share = Fraction((now - term.start) // _US, (term.end - term.start) // _US)
    return min(max(share, Fraction(0)), Fraction(1))


class OrderKind(StrEnum):
    NEW = "new"  # the first order of a subscription (the subscription is pending meanwhile)
    EXTEND = "extend"  # a purchase while live: stacks when paid
    CHANGE = "change"  # a plan change now: its charge


class Settled(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    ABANDONED = "abandoned"


@dataclass
class Member:
    status: MemberStatus = MemberStatus.ACTIVE
    had_trial: bool = False
    subs: list[str] = field(default_factory=list)  # oldest first


@dataclass
class Sub:
    sub_id: str
    member: str
    state: State
    order_plan: Plan
    ordered_at: dt.datetime
    terms: list[Term] = field(default_factory=list)
    auto_renew: bool = False
    renewal_plan: Plan | None = None
    anchor_day: int | None = None
    grace_until: dt.datetime | None = None
    attempts: int = 0
    last_attempt_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    refunded: int | None = None
    paid: int = 0  # every payment confirmed for it, renewals and plan-change charges included

    @property
    def end(self) -> dt.datetime | None:
        return self.terms[-1].end if self.terms else None

    def benefits_end(self) -> dt.datetime | None:
        return {State.ACTIVE: self.end, State.GRACE: self.grace_until}.get(self.state)

    def to_domain(self) -> Subscription:
        return Subscription(
            self.member,
            self.state,
            self.order_plan,
            self.ordered_at,
            tuple(self.terms),
            self.auto_renew,
            self.renewal_plan,
            self.anchor_day,
            self.grace_until,
            self.attempts,
            self.last_attempt_at,
            self.ended_at,
            self.refunded,
        )


@dataclass
class Order:
    order_id: str
    kind: OrderKind
    sub_id: str
    plan: Plan
    amount: int
    ordered_at: dt.datetime
    settled: Settled = Settled.PENDING


@dataclass
class ChargeRecord:
    charge_id: str
    sub_id: str
    renews_end: dt.datetime
    amount: int
    settled: Settled = Settled.PENDING


@dataclass
class Code:
    plan: Plan
    expires_at: dt.datetime
    redeemed_by: str | None = None


class ModelState:
    """The model's state, lookups and setup, and the term helpers its steps share."""

    def __init__(
        self,
        now: dt.datetime,
        plans: Sequence[Plan],
        *,
        zone: str = DEFAULT_ZONE,
        renewal: RenewalPolicy | None = None,
        cooling_off: dt.timedelta = DEFAULT_COOLING_OFF,
        payment_window: dt.timedelta = DEFAULT_PAYMENT_WINDOW,
    ) -> None:
        self.now = now
        self.plans = {p.code: p for p in plans}  # the version on sale
        self.zone = zone
        self.renewal = renewal or RenewalPolicy()
        self.cooling_off = cooling_off
        self.payment_window = payment_window
        self.members: dict[str, Member] = {}
        self.subs: dict[str, Sub] = {}
        self.orders: dict[str, Order] = {}
        self.charges: dict[str, ChargeRecord] = {}
        self.uses: dict[str, list[BenefitUse]] = {}  # by subscription
        self.claims: dict[tuple[str, str, str], int] = {}  # (member, benefit, window) → count
        self.limits: dict[tuple[str, str, str], int] = {}  # the largest limit a claim met
        self.inventory: dict[str, list[str]] = {}  # partner codes left, by benefit id
        self.uploaded: dict[str, list[str]] = {}
        self.handed: dict[str, list[str]] = {}
        self.codes: dict[str, Code] = {}  # by canonical code
        self.redeemed: list[str] = []
        self.n = 0

    # --- lookups and setup -------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def add_member(self, member_id: str) -> None:
        self.members.setdefault(member_id, Member())

    def member(self, member_id: str) -> Member:
        if member_id not in self.members:
            raise Refused("MEMBER_NOT_FOUND")
        return self.members[member_id]

    def plan(self, code: str) -> Plan:
        if code not in self.plans:
            raise Refused("PLAN_NOT_FOUND")
        return self.plans[code]

    def latest(self, member_id: str) -> Sub | None:
        subs = self.member(member_id).subs
        return self.subs[subs[-1]] if subs else None

    def _sub_of(self, member_id: str) -> Sub:
        sub = self.latest(member_id)
        if sub is None:
            raise Refused("SUBSCRIPTION_NOT_FOUND")
        return sub

    def upload_perk_codes(self, benefit_id: str, perk_codes: Sequence[str]) -> None:
        if set(perk_codes) & set(self.uploaded.get(benefit_id, [])):
            raise ValueError("a partner code is uploaded once")
        self.uploaded.setdefault(benefit_id, []).extend(perk_codes)
        self.inventory.setdefault(benefit_id, []).extend(perk_codes)

    def issue_code(self, code: str, plan_code: str, expires_at: dt.datetime) -> None:
        if code in self.codes:
            raise ValueError("codes differ")
        self.codes[code] = Code(self.plan(plan_code), expires_at)

    # --- terms ---------------------------------------------------------------------------------
    def _add_term(
        self, sub: Sub, plan: Plan, start: dt.datetime, paid: int, channel: Channel
    ) -> None:
        end = add_period(start, plan.period, self.zone, sub.anchor_day)
        sub.anchor_day = anchor_after(start, plan.period, self.zone, sub.anchor_day)
        sub.terms.append(Term(plan, start, end, paid, self.now, channel))
        sub.paid += paid

    def _new_sub(self, member_id: str, plan: Plan, state: State) -> Sub:
        sub = Sub(self._id("s"), member_id, state, plan, self.now)
        self.subs[sub.sub_id] = sub
        self.members[member_id].subs.append(sub.sub_id)
        return sub

    def _live(self, member_id: str) -> Sub | None:
        sub = self.latest(member_id)
        return sub if sub is not None and sub.state in LIVE else None
