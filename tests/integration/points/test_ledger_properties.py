"""Random sequences of operations against an in-memory reference model of one member's points.

Drives the ledger and the order flows directly (no gRPC, no broker) on the real database and
compares every balance bucket after every step; at the end the books must reconcile.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.kit import db, errors
from services.points import jobs
from services.points.domain import calendar
from services.points.domain.rules import EarningRule
from services.points.store import members as member_store
from services.points.usecases.orders import Payment, Refund
from services.points.usecases.parking import Arrival
from tests.support.points import assert_reconciled

T0 = dt.datetime(2025, 1, 1, 2, 0, tzinfo=dt.UTC)
RULE = EarningRule(rule_code="prop.task", kind="task")


@dataclass
class Lot:
    seq: int
    expires_at: dt.datetime
    remaining: int


@dataclass
class Hold:
    hold_id: uuid.UUID
    order_id: str
    amount: int
    state: str = "held"
    expires_at: dt.datetime | None = None
    taken: dict[int, int] = field(default_factory=dict)  # lot seq → points taken
    returned: dict[int, int] = field(default_factory=dict)


@dataclass
class Order:
    order_id: str
    paid: int
    rebate: int
    hold: Hold | None = None
    state: str = "pending"  # pending | available
    reversed: int = 0
    refunded: int = 0
    captured: int = 0
    returned: int = 0


class Model:
    """What one member's points should be, computed the simplest way."""

    def __init__(self) -> None:
        self.available = self.pending = self.held = self.debt = 0
        self.lots: list[Lot] = []
        self.holds: list[Hold] = []
        self.orders: list[Order] = []
        self.now = T0

    def buckets(self):
        return (self.available, self.pending, self.held, self.debt)

    def _lot(self, amount: int) -> None:
        if amount > 0:
            expires = calendar.lot_expiry(self.now, "Asia/Shanghai", 12)
            self.lots.append(Lot(len(self.lots), expires, amount))

    def credit(self, amount: int) -> int:
        """Credit to available, repaying debt first; returns what reached available."""
        repay = min(amount, self.debt)
        self.debt -= repay
        self.available += amount - repay
        return amount - repay

    def take(self, amount: int) -> dict[int, int]:
        taken: dict[int, int] = {}
        for lot in sorted(self.lots, key=lambda lot: (lot.expires_at, lot.seq)):
            part = min(amount, lot.remaining)
            if part:
                lot.remaining -= part
                taken[lot.seq] = part
                amount -= part
        assert amount == 0
        return taken

    def give_back(self, hold: Hold, amount: int, track: bool) -> int:
        order = sorted(
            hold.taken, key=lambda s: (self.lots[s].expires_at, self.lots[s].seq), reverse=True
        )
        for seq in order:
            room = hold.taken[seq] - hold.returned.get(seq, 0)
            part = min(amount, room)
            if part:
                self.lots[seq].remaining += part
                if track:
                    hold.returned[seq] = hold.returned.get(seq, 0) + part
                amount -= part
        return amount


@dataclass
class World:
    app: object
    member: uuid.UUID
    model: Model
    counter: int = 0
    pending_refund: tuple[int, int] = (0, 0)  # (money, points) of the refund just sent

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.member.hex[:8]}-{self.counter}"


async def step(w: World, op: tuple) -> None:
    pool, m = w.app.pool, w.model
    refused = None
    try:
        async with db.transaction(pool) as conn:
            await _apply(w, conn, op)
    except errors.AppError as exc:
        refused = exc.reason
    expected = _expected_refusal(m, op)
    assert refused == expected, (op, refused, expected)
    if refused is None:
        _model(w, op)
    async with pool.acquire() as conn:
        row = await member_store.get(conn, w.member)
    actual = (row.available, row.pending, row.held, row.debt)
    assert actual == m.buckets(), (op, actual, m.buckets())


def _expected_refusal(m: Model, op: tuple) -> str | None:
    name = op[0]
    if name in ("redeem", "reserve", "adjust_down") and m.available < op[1]:
        return "INSUFFICIENT_POINTS"
    if name in ("capture", "release") and m.holds:
        hold = m.holds[op[1] % len(m.holds)]
        if name == "capture" and hold.state == "held" and hold.expires_at <= m.now:
            return "HOLD_EXPIRED"
        if name == "capture" and hold.state != "held":
            return {
                "captured": "HOLD_ALREADY_CAPTURED",
                "released": "HOLD_RELEASED",
                "expired": "HOLD_EXPIRED",
            }[hold.state]
        if name == "release" and hold.state == "captured":
            return "HOLD_CAPTURED"
    return None


async def _apply(w: World, conn, op: tuple) -> None:
    uc, m = w.app.usecases, w.model
    orders = uc.orders
    name = op[0]
    if name == "earn":
        await uc.earning.earn(conn, w.member, RULE, op[1])
    elif name == "redeem":
        await uc.spending.redeem(conn, w.member, op[1], "item", "")
    elif name == "adjust_down":
        await uc.corrections.adjust(conn, w.member, -op[1], "prop", RULE)
    elif name == "reserve":
        hold = await uc.spending.reserve(conn, w.member, w.next_id("o"), op[1], 10**12)
        m.holds.append(Hold(hold.hold_id, hold.order_id, op[1], expires_at=hold.expires_at))
    elif name == "capture" and m.holds:
        await uc.spending.capture(conn, m.holds[op[1] % len(m.holds)].hold_id)
    elif name == "release" and m.holds:
        await uc.spending.release(conn, m.holds[op[1] % len(m.holds)].hold_id)
    elif name == "pay":
        hold = _unpaid_hold(m, op[2])
        order_id = hold.order_id if hold else w.next_id("o")
        await orders.paid(
            conn,
            Payment(
                order_id=order_id,
                member_id=w.member,
                merchant_id="shop",
                currency_code="CNY",
                paid_amount_minor=op[1],
                points_hold_id=hold.hold_id if hold else None,
                points_used=hold.amount if hold else 0,
            ),
            Arrival(w.next_id("e"), "commerce.order.paid.v1"),
        )
        m.orders.append(Order(order_id, op[1], op[1] // 100, hold))
    elif name == "complete" and m.orders:
        await orders.completed(conn, m.orders[op[1] % len(m.orders)].order_id, w.member)
    elif name == "refund" and m.orders:
        order = m.orders[op[1] % len(m.orders)]
        # Refunds never total more than was paid (more is refused: see test_event_bounds).
        amount = min(order.paid * op[2] // 100, order.paid - order.refunded)
        returned = order.captured * op[2] // 100
        await orders.refunded(
            conn,
            Refund(order.order_id, w.member, w.next_id("r"), amount, returned),
        )
        w.pending_refund = (amount, returned)
    elif name == "advance":
        w.app.deps.clock.set(m.now + dt.timedelta(days=op[1]))
    elif name == "timeout":
        w.app.deps.clock.set(m.now + dt.timedelta(minutes=31))


def _unpaid_hold(m: Model, pick: int | None) -> Hold | None:
    paid = {o.order_id for o in m.orders}
    free = [h for h in m.holds if h.order_id not in paid]
    return free[pick % len(free)] if free and pick is not None else None


def _model(w: World, op: tuple) -> None:
    m = w.model
    name = op[0]
    if name == "earn":
        m._lot(m.credit(op[1]))
    elif name in ("redeem", "adjust_down"):
        m.available -= op[1]
        m.take(op[1])
    elif name == "reserve":
        hold = m.holds[-1]
        m.available -= hold.amount
        m.held += hold.amount
        hold.taken = m.take(hold.amount)
    elif name == "capture" and m.holds:
        hold = m.holds[op[1] % len(m.holds)]
        m.held -= hold.amount
        hold.state = "captured"
    elif name == "release" and m.holds:
        hold = m.holds[op[1] % len(m.holds)]
        if hold.state == "held":
            _release(m, hold, "released")
    elif name == "pay":
        order = m.orders[-1]
        hold = order.hold
        if hold is not None:
            if hold.state == "held":
                m.held -= hold.amount
            elif hold.state != "captured":  # lapsed: take what is there, owe the rest
                part = min(m.available, hold.amount)
                m.available -= part
                m.debt += hold.amount - part
                hold.taken, hold.returned = m.take(part), {}
            hold.state = "captured"
            order.captured = hold.amount
        m.pending += order.rebate
        if order.rebate == 0:
            order.state = "none"
    elif name == "complete" and m.orders:
        order = m.orders[op[1] % len(m.orders)]
        if order.state == "pending":
            rest = order.rebate - order.reversed
            m.pending -= rest
            if rest:
                m._lot(m.credit(rest))
            order.state = "available"
        elif order.state == "none":
            order.state = "done"
    elif name == "refund" and m.orders:
        order = m.orders[op[1] % len(m.orders)]
        amount, to_return = w.pending_refund
        returned = min(to_return, order.captured - order.returned)
        if returned > 0:
            rest = m.credit(returned)
            if order.hold is not None:
                rest = m.give_back(order.hold, rest, track=True)
            m._lot(rest)
            order.returned += returned
        order.refunded += amount
        target = order.rebate * min(order.refunded, order.paid) // order.paid if order.paid else 0
        delta = target - order.reversed
        if delta > 0 and order.state == "pending":
            m.pending -= delta
            order.reversed += delta
        elif delta > 0 and order.state == "available":
            part = min(m.available, delta)
            m.available -= part
            m.take(part)
            m.debt += delta - part
            order.reversed += delta
    elif name == "advance":
        m.now += dt.timedelta(days=op[1])
        _expire(m)
    elif name == "timeout":
        m.now += dt.timedelta(minutes=31)
        for hold in m.holds:
            if hold.state == "held" and hold.expires_at <= m.now:
                _release(m, hold, "expired")


def _release(m: Model, hold: Hold, state: str) -> None:
    m.held -= hold.amount
    m.available += hold.amount
    assert m.give_back(hold, hold.amount, track=False) == 0
    hold.taken, hold.returned = {}, {}
    hold.state = state


def _expire(m: Model) -> None:
    for lot in m.lots:
        if lot.expires_at <= m.now and lot.remaining:
            m.available -= lot.remaining
            lot.remaining = 0


async def _after(w: World, op: tuple) -> None:
    """Jobs the model runs as part of a step (they act on every member: run them for real)."""
    if op[0] == "advance":
        await jobs.expire_lots(w.app.usecases, w.app.pool, w.model.now)
    elif op[0] == "timeout":
        await jobs.release_timed_out_holds(w.app.usecases, w.app.pool, w.model.now)


amounts = st.integers(min_value=1, max_value=400)
picks = st.integers(min_value=0, max_value=50)
operations = st.one_of(
    st.tuples(st.just("earn"), amounts),
    st.tuples(st.just("redeem"), amounts),
    st.tuples(st.just("adjust_down"), amounts),
    st.tuples(st.just("reserve"), amounts),
    st.tuples(st.just("capture"), picks),
    st.tuples(st.just("release"), picks),
    st.tuples(st.just("pay"), st.integers(0, 60_000), st.one_of(st.none(), picks)),
    st.tuples(st.just("complete"), picks),
    st.tuples(st.just("refund"), picks, st.integers(1, 100)),
    st.tuples(st.just("advance"), st.sampled_from([1, 30, 200, 370])),
    st.tuples(st.just("timeout")),
)


@settings(
    max_examples=int(__import__("os").environ.get("PROP_EXAMPLES", 30)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=st.lists(operations, min_size=1, max_size=25))
async def test_random_operations_match_the_reference_model(points, points_app, program):
    points_app.deps.clock.set(T0)
    member = uuid.uuid4()
    async with points_app.pool.acquire() as conn:
        await member_store.ensure(conn, member)
    world = World(points_app, member, Model())
    for op in program:
        if op[0] in ("advance", "timeout"):
            _model(world, op)
            points_app.deps.clock.set(world.model.now)
            await _after(world, op)
            async with points_app.pool.acquire() as conn:
                row = await member_store.get(conn, member)
            assert (row.available, row.pending, row.held, row.debt) == (world.model.buckets()), op
        else:
            await step(world, op)
    await assert_reconciled(points_app.pool)
