"""The in-memory reference model's records (cards, accounts, holds, flows) and small helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TypeVar

from .holds import HoldState
from .refusals import FieldProblem, Refusal
from .states import CardState


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


CARD, ACCOUNT = "card:", "account:"


def card_source(card_id: str) -> str:
    return CARD + card_id


def account_source(member: str) -> str:
    return ACCOUNT + member


@dataclass
class Card:
    card_id: str
    batch_id: str
    face: int
    state: CardState = CardState.ISSUED
    available: int = 0
    held: int = 0
    loaded_by: str | None = None
    consumed: bool = False
    valid_until: dt.datetime | None = None
    replaced_by: str | None = None


@dataclass
class Account:
    principal: int = 0
    bonus: int = 0
    held_principal: int = 0
    held_bonus: int = 0


@dataclass
class Hold:
    hold_id: str
    order_id: str
    source: str
    amount: int
    expires_at: dt.datetime
    state: HoldState = HoldState.HELD
    principal: int = 0  # for stored value: the parts held
    bonus: int = 0


@dataclass
class Capture:
    source: str
    amount: int
    principal: int = 0
    bonus: int = 0
    returned: int = 0
    returned_bonus: int = 0


@dataclass
class TopUp:
    member: str
    principal: int
    bonus: int
    refunded: int = 0
    clawed_back: int = 0


@dataclass
class Flows:
    cards: dict[str, int] = field(default_factory=dict)
    principal: dict[str, int] = field(default_factory=dict)
    bonus: dict[str, int] = field(default_factory=dict)

    def add(self, book: dict[str, int], line: str, amount: int) -> None:
        book[line] = book.get(line, 0) + amount
