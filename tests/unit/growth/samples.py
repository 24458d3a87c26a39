"""Facts, instants and members the growth unit tests share (a module, not a conftest: tests
never import from a conftest)."""

from __future__ import annotations

import datetime as dt
import itertools

from services.growth.domain.facts import (
    AccountLinked,
    Activity,
    ActivityKind,
    CreditReported,
    OrderLine,
    OrderPaid,
    OrderRefunded,
    ProfileSnapshot,
    RefundLine,
    ReputationAssessed,
    Verified,
)

ZONE = "Asia/Shanghai"
SH = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no daylight saving
MEMBER = "m1"
YUAN = 100
FULL_PROFILE = frozenset({"nickname", "gender", "birthday", "region"})
_ids = itertools.count(1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An instant given in Shanghai wall time, as UTC."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(dt.UTC)


SETTLED = at(2026, 11, 1)  # settles period 2026-10; window 2025-11-01 .. 2026-10-31
JUNE = at(2026, 6, 1)


def order(
    when: dt.datetime,
    *lines: tuple[str, int],
    order_id: str | None = None,
    member: str = MEMBER,
    currency: str = "CNY",
) -> OrderPaid:
    """An order of (category, paid fen) lines; line ids are l0, l1, …"""
    oid = order_id or f"o{next(_ids)}"
    return OrderPaid(
        member,
        oid,
        when,
        currency,
        tuple(OrderLine(f"l{i}", c, paid) for i, (c, paid) in enumerate(lines)),
    )


def refund(
    paid: OrderPaid, when: dt.datetime, *lines: tuple[str, int], refund_id: str | None = None
) -> OrderRefunded:
    """A refund of (line id, fen) lines of `paid`."""
    return OrderRefunded(
        paid.member_id,
        refund_id or f"r{next(_ids)}",
        when,
        paid.source_id,
        paid.currency,
        tuple(RefundLine(line_id, amount) for line_id, amount in lines),
    )


def activity(when: dt.datetime, kind: ActivityKind = ActivityKind.REVIEW) -> Activity:
    return Activity(MEMBER, f"a{next(_ids)}", when, kind)


def verified(when: dt.datetime) -> Verified:
    return Verified(MEMBER, f"e{next(_ids)}", when)


def linked(when: dt.datetime, provider: str = "wechat") -> AccountLinked:
    return AccountLinked(MEMBER, f"e{next(_ids)}", when, provider)


def profile(when: dt.datetime, filled: frozenset[str] = FULL_PROFILE) -> ProfileSnapshot:
    return ProfileSnapshot(MEMBER, f"e{next(_ids)}", when, filled)


def reputation(when: dt.datetime, score: int) -> ReputationAssessed:
    return ReputationAssessed(MEMBER, f"e{next(_ids)}", when, score)


def credit(when: dt.datetime, score: int) -> CreditReported:
    return CreditReported(MEMBER, f"e{next(_ids)}", when, score)


def good_standing(when: dt.datetime = JUNE) -> list:
    """Verified with a full profile (account 200 + 200 = 400), reputation 90 (300 + ⌊10 × 300
    / 20⌋ = 450), a photo review and a review in June (40) and a review in July (10): 900."""
    return [
        verified(when),
        profile(when),
        reputation(when, 90),
        activity(when, ActivityKind.PHOTO_REVIEW),
        activity(when, ActivityKind.REVIEW),
        activity(at(2026, 7, 1), ActivityKind.REVIEW),
    ]
