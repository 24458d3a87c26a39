"""The giftcard story's own books (tests/integration/giftcard/test_batch_lifecycle.py): what
every card should hold and be, and what each business day should report, kept by the test from
the story it tells, apart from the service (nothing here reads the service's rules), so that the
reconciliation report and the card rows can be checked against it to the fen. Plus the small
helpers the story's steps share (time of day in the business zone, a card's secret as a hold
source, every page of a list)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb

ZONE = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """`hour:minute` of a business day (Shanghai), in UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE).astimezone(dt.UTC)


def end_of(day: dt.date) -> dt.datetime:
    """The first instant after a business day, in UTC."""
    return at(day + dt.timedelta(days=1), 0)


# Each line's effect on the two parts of the card liability (in stock, sold), as the story
# understands the 进销存: loading adds to stock, a sale moves value from stock to sold, every
# way value leaves a sold card takes from sold, a write-off takes from stock.
PARTS: dict[str, tuple[int, int]] = {
    "LOADED": (1, 0),
    "LOAD_REVERSED": (-1, 0),
    "ACTIVATED": (-1, 1),
    "REDEEMED": (0, -1),
    "REDEMPTION_RETURNED": (0, 1),
    "CARD_REFUNDED": (0, -1),
    "EXCHANGED": (0, -1),
    "TRANSFERRED": (0, 0),
    "EXPIRED": (0, -1),
    "EXPIRY_REVERSED": (0, 1),
    "CANCELLED": (-1, 0),
}


@dataclass
class Book:
    """Every card's value (available + held) and state as the story left it, and each business
    day's movements by reconciliation line: (count of postings, amount)."""

    value: dict[str, int] = field(default_factory=dict)
    state: dict[str, int] = field(default_factory=dict)  # card_id → res.CardState
    days: dict[dt.date, dict[str, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0]))
    )

    def _line(self, day: dt.date, line: str, amount: int, count: int = 1) -> None:
        if amount:
            got = self.days[day][line]
            got[0] += count
            got[1] += amount

    # --- the story's movements ------------------------------------------------------------
    def issued(self, card_ids: Iterable[str]) -> None:
        for card_id in card_ids:
            self.value[card_id] = 0
            self.state[card_id] = res.CARD_STATE_ISSUED

    def voided(self, card_ids: Iterable[str]) -> None:
        for card_id in card_ids:
            assert self.value[card_id] == 0
            self.state[card_id] = res.CARD_STATE_VOIDED

    def loaded(self, day: dt.date, card_ids: Iterable[str], amount: int) -> None:
        for card_id in card_ids:
            assert self.state[card_id] == res.CARD_STATE_ISSUED
            self.value[card_id] = amount
            self.state[card_id] = res.CARD_STATE_LOADED
            self._line(day, "LOADED", amount)

    def load_rejected(self, day: dt.date, card_ids: Iterable[str]) -> None:
        for card_id in card_ids:
            self._line(day, "LOAD_REVERSED", self.value[card_id])
            self.value[card_id] = 0
            self.state[card_id] = res.CARD_STATE_ISSUED

    def moved(self, card_ids: Iterable[str], state: int) -> None:
        """A change of state that moves no value (review, requisition, return to stock,
        freeze, loss report …)."""
        for card_id in card_ids:
            self.state[card_id] = state

    def activated(self, day: dt.date, card_ids: Iterable[str]) -> None:
        for card_id in card_ids:
            self._line(day, "ACTIVATED", self.value[card_id])
            self.state[card_id] = res.CARD_STATE_ACTIVE

    def cancelled(self, day: dt.date, card_id: str) -> int:
        written_off = self.value[card_id]
        self._line(day, "CANCELLED", written_off)
        self.value[card_id] = 0
        self.state[card_id] = res.CARD_STATE_CANCELLED
        return written_off

    def redeemed(self, day: dt.date, card_id: str, amount: int) -> None:
        assert 0 < amount <= self.value[card_id]
        self.value[card_id] -= amount
        self._line(day, "REDEEMED", amount)

    def returned(self, day: dt.date, card_id: str, amount: int) -> None:
        self.value[card_id] += amount
        self._line(day, "REDEMPTION_RETURNED", amount)

    def refunded(self, day: dt.date, card_id: str) -> int:
        paid_back = self.value[card_id]
        self._line(day, "CARD_REFUNDED", paid_back)
        self.value[card_id] = 0
        self.state[card_id] = res.CARD_STATE_REFUNDED
        return paid_back

    def exchanged(self, day: dt.date, card_id: str, given: Iterable[str]) -> None:
        self._line(day, "EXCHANGED", self.value[card_id])
        self.value[card_id] = 0
        self.state[card_id] = res.CARD_STATE_EXCHANGED
        self.activated(day, given)

    def transferred(self, day: dt.date, old: str, new: str) -> int:
        amount = self.value[old]
        assert self.state[new] == res.CARD_STATE_ISSUED and self.value[new] == 0
        self._line(day, "TRANSFERRED", amount)
        self.value[old], self.value[new] = 0, amount
        self.state[old], self.state[new] = res.CARD_STATE_REPLACED, res.CARD_STATE_ACTIVE
        return amount

    def expired(self, day: dt.date, card_id: str) -> None:
        self._line(day, "EXPIRED", self.value[card_id])
        self.value[card_id] = 0
        self.state[card_id] = res.CARD_STATE_EXPIRED

    # --- what the report of a day must say ------------------------------------------------
    def lines(self, day: dt.date) -> dict[str, tuple[int, int, int]]:
        """The day's lines as (count, amount, effect on the total)."""
        return {
            line: (count, amount, (PARTS[line][0] + PARTS[line][1]) * amount)
            for line, (count, amount) in self.days.get(day, {}).items()
        }

    def closing(self, day: dt.date) -> tuple[int, int]:
        """(cards in stock, cards sold) at the end of `day`: every earlier day's lines folded."""
        stock = sold = 0
        for each in sorted(self.days):
            if each > day:
                break
            for line, (_, amount) in self.days[each].items():
                stock += PARTS[line][0] * amount
                sold += PARTS[line][1] * amount
        return stock, sold

    def totals(self) -> Counter:
        """Every line's amount over the whole story."""
        out: Counter = Counter()
        for lines in self.days.values():
            for line, (_, amount) in lines.items():
                out[line] += amount
        return out

    def states(self, card_ids: Iterable[str] | None = None) -> Counter:
        ids = self.state if card_ids is None else card_ids
        return Counter(self.state[c] for c in ids)


def by_secret(number: str, pin: str, amount: int) -> wpb.HoldSource:
    return wpb.HoldSource(
        kind=res.HOLD_SOURCE_KIND_CARD_SECRET,
        card=wpb.CardSecret(card_number=number, pin=pin),
        amount_minor=amount,
    )


def by_binding(card_id: str, amount: int) -> wpb.HoldSource:
    return wpb.HoldSource(
        kind=res.HOLD_SOURCE_KIND_BOUND_CARD, card_id=card_id, amount_minor=amount
    )


async def every_page(call: Callable[[str], Awaitable], items: str) -> list:
    """Every item of a paged list: `call(page_token)` answers one page, `items` names its
    repeated field."""
    found: list = []
    token = ""
    while True:
        page = await call(token)
        found += getattr(page, items)
        token = page.next_page_token
        if not token:
            return found
