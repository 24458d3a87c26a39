"""The demo's data set, drawn from a seed: who the members are, what each bought over the year
before the demo's instant, who buys PLUS (and whose first renewal is declined), who holds a gift
card. No I/O: the same seed and instants give the same plan, to the fen and the id.

A member's draw depends only on the seed and its index (never on how many members there are),
so the first members, the tour's, are the same in a run of 20 and in one of 2,000. The three
the tour shows are drawn to order: 0 spends like a diamond member, buys PLUS and pays a checkout
with points and a gift card; 1 buys PLUS too, and its renewal is declined; 2 is a newcomer whom
0 referred, with one order.

Times: the people are drawn first (they are registered before anything is dated); their orders
need the `Timeline`, which starts from the instant member 0 was registered (read back
from the API, so a later run dates everything the same) and the time PLUS was bought.

What the plan draws is the data set: a change to it (or to the events made of it) makes another
one, whose events would reuse the ids of the first with other content (the consumers refuse
them). Change the seed with it (DEMO_SEED), or start from fresh databases.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.growth.domain.defaults import DEFAULT_CATEGORIES

STAR, GRACE, NEWCOMER = 0, 1, 2  # the tour's members
MAX_MEMBERS = 10_000  # phone numbers hold the index in 4 digits
FEN = 100
NAMES = (
    "Lei", "Mei", "Jun", "Ying", "Hao", "Fang", "Tao", "Xin", "Bo", "Lan", "Qiang", "Yan",
    "Peng", "Ning", "Kai", "Rui", "Wei", "Jing", "Chen", "Ling", "Yu", "Hui", "Gang", "Xia",
)  # fmt: skip
REGIONS = ("CN-BJ", "CN-SH", "CN-GD", "CN-ZJ", "CN-JS", "CN-SC", "CN-HB", "CN-FJ")


@dataclass(frozen=True)
class Person:
    """A member as registered, with what the year holds for them."""

    index: int
    phone: str  # national number, e.g. 19900010000
    password: str  # the tour's members sign in; the others never do (empty)
    nickname: str
    gender: int  # loyalty.identity.v1.Gender value; 0 undeclared
    birthday: str  # "YYYY-MM-DD" or ""
    region: str
    verify: bool  # real-name verification
    referrer: int | None  # index of the member whose referral code they registered with
    plus: bool  # buys PLUS monthly
    renewal_fails: bool  # the payment provider declines its first renewal
    level: float  # a year's spending, in CNY (the draw's scale)

    @property
    def filled_fields(self) -> int:
        return sum(bool(v) for v in (self.nickname, self.gender, self.birthday, self.region))


@dataclass(frozen=True)
class Line:
    line_id: str
    category: str
    amount_minor: int  # list price
    paid_minor: int  # what was paid for it


@dataclass(frozen=True)
class Refund:
    refund_id: str
    at: dt.datetime
    lines: tuple[tuple[str, int], ...]  # (line id, amount)

    @property
    def amount_minor(self) -> int:
        return sum(amount for _, amount in self.lines)


@dataclass(frozen=True)
class Order:
    order_id: str
    member: int
    paid_at: dt.datetime
    lines: tuple[Line, ...]
    platform: bool  # paid with the platform's own payment (growth counts it)
    completed_at: dt.datetime | None  # the return window closed (the rebate becomes available)
    refund: Refund | None = None
    review: tuple[str, dt.datetime, bool] | None = None  # (review id, posted, with photos)
    recent: bool = False  # paid after PLUS was bought: published after it took effect
    points_used: int = 0  # held at checkout and captured with the payment
    card_minor: int = 0  # paid with the member's gift card

    @property
    def paid_minor(self) -> int:
        return sum(line.paid_minor for line in self.lines)


@dataclass(frozen=True)
class Timeline:
    """The demo's instants: `anchor` is when member 0 registered; the year of orders
    ends there, and begins where the settlement of the anchor's month looks back to."""

    anchor: dt.datetime
    zone: ZoneInfo

    @property
    def month_start(self) -> dt.datetime:
        local = self.anchor.astimezone(self.zone)
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    @property
    def period(self) -> str:
        """The month the demo's settlement settles, "YYYY-MM"."""
        return f"{self.month_start.year:04d}-{self.month_start.month:02d}"

    @property
    def settle_at(self) -> dt.datetime:
        """When the operator settles it: the next month's first hour (business zone)."""
        next_month = (self.month_start + dt.timedelta(days=32)).replace(day=1)
        return next_month + dt.timedelta(hours=1)

    @property
    def window_start(self) -> dt.datetime:
        """Twelve months before the settlement instant: the oldest order counted."""
        start = self.month_start
        year, month = (start.year - 1, start.month + 1) if start.month < 12 else (start.year, 1)
        return start.replace(year=year, month=month)


def people(seed: int, count: int) -> list[Person]:
    if not 3 <= count <= MAX_MEMBERS:
        raise ValueError(f"DEMO_MEMBERS must be 3 to {MAX_MEMBERS}, not {count}")
    return [_person(seed, index) for index in range(count)]


def _rng(seed: int, *what: object) -> random.Random:
    return random.Random(":".join(str(w) for w in (seed, *what)))


def _person(seed: int, index: int) -> Person:
    rng = _rng(seed, "person", index)
    phone = f"1990{seed % 1000:03d}{index:04d}"
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(16_000))
    # A year's spending: mostly modest, a long tail of big spenders (log-normal, median 1,600).
    level = round(1_600 * rng.lognormvariate(0, 1.1), 2)
    nickname = f"{NAMES[index % len(NAMES)]}{index}"
    fields = dict(
        index=index,
        phone=phone,
        password="",
        nickname=nickname,
        gender=rng.choice((0, 1, 2)) if rng.random() < 0.7 else 0,
        birthday=born.isoformat() if rng.random() < 0.6 else "",
        region=rng.choice(REGIONS) if rng.random() < 0.5 else "",
        verify=rng.random() < 0.35,
        referrer=rng.randrange(3, index) if index > 4 and rng.random() < 0.2 else None,
        plus=level > 2_500 and rng.random() < 0.3,
        renewal_fails=rng.random() < 0.2,
        level=level,
    )
    if index == STAR:
        fields.update(level=60_000.0, verify=True, plus=True, renewal_fails=False)
        fields.update(gender=1, birthday="1988-03-07", region="CN-BJ")
    elif index == GRACE:
        fields.update(level=5_000.0, verify=True, plus=True, renewal_fails=True)
    elif index == NEWCOMER:
        fields.update(level=300.0, verify=False, plus=False, referrer=STAR)
    if index in (STAR, GRACE, NEWCOMER):
        fields["password"] = f"demo-{seed}-pass-{index}"
    return Person(**fields)  # type: ignore[arg-type]


def card_holders(seed: int, members: list[Person]) -> list[int]:
    """Who buys a gift card: the star and about one member in twenty of those who shop
    (at least 2 more, at most 199: one batch of at most 200 cards)."""
    others = [p.index for p in members if p.index != STAR and p.level >= 400]
    wanted = min(199, max(2, len(members) // 20))
    _rng(seed, "cards").shuffle(others)
    return [STAR, *sorted(others[:wanted])]


def history(seed: int, person: Person, timeline: Timeline) -> list[Order]:
    """The member's orders over the year before the anchor, oldest first."""
    rng = _rng(seed, "orders", person.index)
    if person.index == NEWCOMER:
        count = 1
    elif person.index in (STAR, GRACE):
        count = 24 if person.index == STAR else 10
    else:
        # About one order for every 550 CNY of the year's spending, at most 20.
        count = 0 if rng.random() < 0.12 else max(1, min(20, round(person.level / 550)))
    per_order = person.level / max(count, 1)
    categories = rng.sample(DEFAULT_CATEGORIES, 10 if person.index == STAR else rng.randint(1, 6))
    first = timeline.window_start + dt.timedelta(days=1)
    span = (timeline.anchor - dt.timedelta(hours=1) - first).total_seconds()
    times = sorted(first + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    if person.index == NEWCOMER:
        times = [timeline.anchor - dt.timedelta(days=40)]
    orders, reviews = [], 0
    for number, paid_at in enumerate(times, 1):
        order_id = f"demo{seed}-{person.index:04d}-{number:02d}"
        lines = _lines(rng, order_id, categories, per_order)
        old = timeline.anchor - paid_at
        completed = paid_at + dt.timedelta(days=7) if old > dt.timedelta(days=8) else None
        refund = None
        refunded = (person.index == STAR and number == 5) or (
            person.index > NEWCOMER and rng.random() < 0.06
        )
        if refunded and old > dt.timedelta(days=20):
            line = lines[-1]
            amount = line.paid_minor // 2 if rng.random() < 0.5 else line.paid_minor
            at = paid_at + dt.timedelta(days=rng.randint(3, 14))
            refund = Refund(f"{order_id}-r1", at, ((line.line_id, amount),))
        review = None
        wants = number in (2, 3, 8, 13) if person.index == STAR else rng.random() < 0.3
        if person.index == NEWCOMER or (wants and reviews < 5 and old > dt.timedelta(days=12)):
            reviews += 1
            photos = reviews % 2 == 0 if person.index == STAR else rng.random() < 0.25
            at = paid_at + dt.timedelta(days=rng.randint(2, 10))
            review = (f"{order_id}-rv", at, photos or person.index == NEWCOMER)
        platform = person.index == STAR or rng.random() < 0.55
        orders.append(
            Order(order_id, person.index, paid_at, lines, platform, completed, refund, review)
        )
    return orders


def _lines(
    rng: random.Random, order_id: str, categories: list[str], per_order: float
) -> tuple[Line, ...]:
    """1 to 3 lines worth about `per_order` CNY together, a few per cent off the list price."""
    total = max(9.9, per_order * rng.lognormvariate(0, 0.45))
    count = rng.choice((1, 1, 1, 2, 2, 3))
    lines = []
    for number in range(1, count + 1):
        amount = round(total / count * rng.uniform(0.6, 1.4) * FEN)
        paid = amount - round(amount * rng.choice((0, 0, 0.03, 0.05, 0.08)))
        category = rng.choice(categories)
        lines.append(Line(f"{order_id}-l{number}", category, amount, paid))
    return tuple(lines)


def recent(seed: int, person: Person, at: dt.datetime, card_holder: bool) -> list[Order]:
    """What the member buys once PLUS is theirs (`at`: a minute after the last PLUS purchase):
    a subscriber one or two orders earning 10x, a card holder one order paid partly with the
    card (the star both at once, with 2,000 points too). Pending: not completed yet."""
    rng = _rng(seed, "recent", person.index)
    count = (1 + (rng.random() < 0.5)) if person.plus else 0
    count = max(count, 1 if card_holder else 0)
    categories = rng.sample(DEFAULT_CATEGORIES, 2)
    orders = []
    for number in range(1, count + 1):
        order_id = f"demo{seed}-{person.index:04d}-now{number}"
        paid_at = at + dt.timedelta(minutes=rng.randint(1, 20))
        lines = _lines(rng, order_id, categories, max(person.level / 12, 120))
        card = points = 0
        if card_holder and number == 1:
            card = min(150 * FEN, sum(line.paid_minor for line in lines) // 2)
        if person.index == STAR and number == 1:
            card, points = 150 * FEN, 2_000
            lines = (
                Line(f"{order_id}-l1", "phones", 3_999 * FEN, 3_989 * FEN),
                Line(f"{order_id}-l2", "digital", 299 * FEN, 289 * FEN),
            )
        orders.append(
            Order(
                order_id, person.index, paid_at, lines, True, None, None, None, True, points, card
            )
        )
    return orders
