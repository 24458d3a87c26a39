"""Card products (denomination 面值 or a custom amount for bulk orders, validity, channels),
the face value of a batch, loading (开户/充值) and the validity a sale starts."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .amounts import amount_problem
from .refusals import FieldProblem, Refusal
from .states import CardOperation, CardState, card_refusal

DEFAULT_VALIDITY_MONTHS = 36
MAX_VALIDITY_MONTHS = 120
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Product:
    product_id: str
    face_value_minor: int | None  # None: each batch names its own amount (团购)
    validity_months: int = DEFAULT_VALIDITY_MONTHS
    channels: frozenset[str] = field(default_factory=frozenset)  # empty: usable everywhere


def product_problems(product: Product) -> list[FieldProblem]:
    problems = []
    if product.face_value_minor is not None:
        problem = amount_problem(product.face_value_minor, "face_value_minor")
        if problem:
            problems.append(problem)
    if not 1 <= product.validity_months <= MAX_VALIDITY_MONTHS:
        problems.append(
            FieldProblem("validity_months", f"must be 1 to {MAX_VALIDITY_MONTHS} months")
        )
    problems.extend(
        FieldProblem("channels", f"{c!r} is not a channel code")
        for c in sorted(product.channels)
        if not _CHANNEL.fullmatch(c)
    )
    return problems


def batch_face_value(product: Product, requested_minor: int | None) -> int | FieldProblem:
    """The value every card of a new batch will carry: the product's denomination, or for a
    custom product the amount the request names."""
    if product.face_value_minor is not None:
        if requested_minor not in (None, product.face_value_minor):
            return FieldProblem(
                "face_value_minor", "this product has a fixed denomination", "FACE_VALUE_FIXED"
            )
        return product.face_value_minor
    if requested_minor is None:
        return FieldProblem(
            "face_value_minor", "a custom product needs an amount", "FACE_VALUE_REQUIRED"
        )
    return amount_problem(requested_minor, "face_value_minor") or requested_minor


def load_refusal(
    card_batch_id: object, batch_id: object, state: CardState, amount_minor: int, face_minor: int
) -> Refusal | None:
    """Loading is refused for a card outside the batch being loaded, a second time (the
    state says so), or with any amount but the batch's face value."""
    if card_batch_id != batch_id:
        return Refusal("CARD_NOT_IN_BATCH", "the card is not one of this batch's")
    refusal = card_refusal(state, CardOperation.LOAD)
    if refusal:
        return refusal
    if amount_minor != face_minor:
        return Refusal(
            "LOAD_AMOUNT_MISMATCH",
            f"the cards of this batch carry {face_minor}",
            metadata={"expected_minor": str(face_minor)},
        )
    return None


def channel_refusal(product: Product, channel: str) -> Refusal | None:
    return channels_refusal(product.channels, channel)


def channels_refusal(channels: Collection[str], channel: str) -> Refusal | None:
    """A product with no channels is usable everywhere."""
    if not channels or channel in channels:
        return None
    return Refusal("CHANNEL_NOT_ALLOWED", "the card is not usable in this channel")


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until(sold_at: dt.datetime, months: int, zone: str) -> dt.datetime:
    """A card sold `sold_at` is valid through the business day `months` later (clamped to
    the month's end) and expires at the midnight that ends it: a shopper is told a date, and
    the date is what they get, whatever the hour of the sale."""
    sold_on = sold_at.astimezone(ZoneInfo(zone)).date()
    last_day = _add_months(sold_on, months)
    midnight = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), ZoneInfo(zone))
    return midnight.astimezone(dt.UTC)
