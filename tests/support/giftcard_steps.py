"""Giftcard's model-agreement steps: the real service, driven only through its public interfaces
(the two gRPC services, the order and payment events it consumes, its jobs run with the test's
clock), side by side with the in-memory reference model (services.giftcard.domain.model).

Each step is interpreted against the state the model holds at that moment (a pick chooses
among the cards, holds, orders or top-ups that fit, a `mode` of ANY among all of them, so that
now and then a step is one that must be refused). A step the service carries out is applied
to the model, which must accept it; a step the service refuses must be refused by the model
too (run on a copy), for the same reason where the two name the same concept, and must leave
the books as they were. After every step `World.check` compares every card (state, balance,
held, expiry, consumption record), every hold's state, every member's stored value, the day's
reconciliation report (its flows and the outstanding liability by part) and the journal's
invariants with the model.

Where the model does less than the contract (the proto) says the service does, the step says
so in a comment marked MODEL GAP and does that part to the model itself, so that the
comparisons stay exact; tests/integration/giftcard/test_model_agreement.py keeps a strict-xfail
reproduction of each gap (World.fill_gaps = False).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import grpc

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.giftcard.v1 import giftcard_service_pb2 as gpb
from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as wpb
from loyalty.type.v1 import money_pb2
from services.giftcard import jobs
from services.giftcard.domain import after_sale, liability, selling
from services.giftcard.domain.holds import HoldState
from services.giftcard.domain.model import Model
from services.giftcard.domain.model_records import Refused, account_source, card_source
from services.giftcard.domain.selling import ReplacementCause
from services.giftcard.domain.states import CardState
from services.giftcard.domain.stored_value import BonusRule
from services.giftcard.store import journal
from tests.support import harness
from tests.support.grpc_errors import failure_of

T0 = dt.datetime(2025, 1, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
FACE = 100_00
VALIDITY_MONTHS = 12
TIERS = ((100_00, 5_00), (300_00, 20_00))  # top up 100 get 5, top up 300 get 20
RULES = [BonusRule(f"tier-{i}", m, b) for i, (m, b) in enumerate(TIERS)]
STOCK_CARDS = 6  # the batch loaded and sold
SPARE_CARDS = 3  # a second batch of the product: blanks for replacements, "another batch"
ANY = 5  # the `mode` that picks among every card or hold, not only those that fit
ORDER_LIMIT = 10**9  # order_amount_minor: never the bound that refuses (not the model's)
CURRENCY = "CNY"
PAID = "commerce.order.paid.v1"
REFUNDED = "commerce.order.refunded.v1"
CANCELLED = "commerce.order.cancelled.v1"
SUCCEEDED = "commerce.payment.succeeded.v1"
ROLES = {
    "mgr.wang": ("manager",),
    "req.li": ("requester",),
    "ap.chen": ("approver",),
    "op.sun": ("operator",),
    # The maker also holds the checker's role: its own review is refused for being the maker.
    "ld.zhao": ("loader", "reviewer"),
    "rv.qian": ("reviewer",),
    "sa.zhou": ("sales",),
    "fi.wu": ("finance",),
}


def label(person: str) -> str:
    """The principal label an operator's actions are recorded under."""
    return f"operator:{person}"


@dataclass
class CardRef:
    card_id: str
    number: str
    pin: str
    batch_id: str


@dataclass
class LoadRef:
    load_id: str
    card_ids: list[str]
    total: int
    loaded_by: str
    pending: bool = True


@dataclass
class OrderRef:
    order_id: str
    member: str
    holds: list[str] = field(default_factory=list)  # in placement order
    state: str = "open"  # open | paid | cancelled
    waiting: list[int] = field(default_factory=list)  # refunds received before the payment
    refunds: int = 0


@dataclass
class TopUpRef:
    top_up_id: str
    member: str
    refunded: bool = False


class Disagreement(AssertionError):
    pass


class World:
    """One example: the service on clean tables, the model, and what the steps made."""

    def __init__(self, app, giftcard, wallet, tokens, publish, consumed, published) -> None:
        # False: the model as it is, without the MODEL GAP parts done to it (reproductions).
        self.fill_gaps = True
        self.app = app
        self.giftcard = giftcard
        self.wallet = wallet
        self.tokens = tokens  # person → metadata; "checkout" → the storefront's
        self.publish = publish
        self.consumed = consumed
        self.published = published
        self.zone = ZoneInfo(app.deps.settings.business_zone)
        self.trace: list[str] = []
        self.n = 0

    def who(self, person: str):
        return self.tokens[person]

    @property
    def checkout(self):
        return self.tokens["checkout"]

    def next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    # --- the start of an example --------------------------------------------------------------
    async def start(self) -> None:
        await harness.reset(self.app)
        self.trace = []
        self.published.clear()  # the inbox was emptied: count only this example's events
        self.app.deps.clock.set(T0)
        settings = self.app.deps.settings
        self.model = Model(
            T0,
            RULES,
            validity_months=VALIDITY_MONTHS,
            zone=settings.business_zone,
            hold_seconds=settings.hold_seconds,
        )
        self.cards: dict[str, CardRef] = {}
        self.loads: list[LoadRef] = []
        self.requisitions: dict[str, list[str]] = {}  # fulfilled: id → its cards
        self.orders: list[OrderRef] = []
        self.hold_order: dict[str, OrderRef] = {}
        self.captured: dict[str, list[str]] = {}  # order → hold ids, as model.captures[order]
        self.top_ups: list[TopUpRef] = []
        self.members = [str(uuid.uuid4()), str(uuid.uuid4())]
        self.day = self._day()
        self.day_start = copy.deepcopy(self.model.flows)
        self.day_opening = liability.balances_report(self.model.balances())

        product = await self.giftcard.CreateProduct(
            gpb.CreateProductRequest(
                request_id=uid(),
                product=res.Product(
                    display_name="Card 100 CNY",
                    kind=res.PRODUCT_KIND_DENOMINATION,
                    currency_code=CURRENCY,
                    face_value_minor=FACE,
                    validity_months=VALIDITY_MONTHS,
                    channels=["online"],
                    enabled=True,
                ),
            ),
            metadata=self.who("mgr.wang"),
        )
        self.product_id = product.product.product_id
        await self.giftcard.SetBonusPolicy(
            gpb.SetBonusPolicyRequest(
                request_id=uid(),
                policy=res.BonusPolicy(
                    currency_code=CURRENCY,
                    enabled=True,
                    tiers=[res.BonusTier(min_top_up_minor=m, bonus_minor=b) for m, b in TIERS],
                ),
            ),
            metadata=self.who("mgr.wang"),
        )
        self.batch = await self._batch(STOCK_CARDS)
        self.spare_batch = await self._batch(SPARE_CARDS)
        await self.check()

    async def _batch(self, count: int) -> str:
        """A batch generated and exported (the numbers and PINs learnt), its cards ISSUED."""
        made = await self.giftcard.CreateBatch(
            gpb.CreateBatchRequest(request_id=uid(), product_id=self.product_id, card_count=count),
            metadata=self.who("req.li"),
        )
        batch_id = made.batch.batch_id
        await self.giftcard.ApproveBatch(
            gpb.ApproveBatchRequest(request_id=uid(), batch_id=batch_id),
            metadata=self.who("ap.chen"),
        )
        await self.giftcard.GenerateBatchCards(
            gpb.GenerateBatchCardsRequest(request_id=uid(), batch_id=batch_id),
            metadata=self.who("op.sun"),
        )
        while True:
            page = await self.giftcard.ExportBatchSecrets(
                gpb.ExportBatchSecretsRequest(request_id=uid(), batch_id=batch_id),
                metadata=self.who("op.sun"),
            )
            for row in page.rows:
                self.cards[row.card_id] = CardRef(row.card_id, row.card_number, row.pin, batch_id)
                self.model.issue(row.card_id, batch_id, FACE)
            if page.remaining_count == 0:
                return batch_id

    # --- agreement ----------------------------------------------------------------------------
    def _day(self) -> dt.date:
        return self.model.now.astimezone(self.zone).date()

    async def _txns(self) -> int:
        return await self.app.pool.fetchval("SELECT count(*) FROM journal_transactions")

    async def call(self, rpc) -> tuple[Any, str | None]:
        """The response, or the refusal's reason (its status code when it names none); the
        step's line in the trace says which."""
        try:
            response, reason = await rpc, None
        except grpc.aio.AioRpcError as error:
            failure = failure_of(error)
            response, reason = None, failure.reason or failure.code.name
        if self.trace:
            self.trace[-1] += f" → {reason or 'done'}"
        return response, reason

    def refused_alike(
        self,
        what: str,
        reason: str,
        model_step: Callable[[Model], object],
        same: Callable[[str, str], bool] = lambda service, model: service == model,
    ) -> None:
        """The service refused: the model (on a copy) must refuse too, for the same reason."""
        trial = copy.deepcopy(self.model)
        try:
            model_step(trial)
        except Refused as refused:
            if not same(reason, refused.reason):
                self.disagree(f"{what}: the service refused {reason}, the model {refused.reason}")
            return
        self.disagree(f"{what}: the service refused {reason}, the model accepted")

    def accepted(self, what: str, model_step: Callable[[Model], object]) -> Any:
        """The service carried the step out: the model must accept it."""
        try:
            return model_step(self.model)
        except Refused as refused:
            self.disagree(f"{what}: the service accepted, the model refused {refused.reason}")

    def disagree(self, message: str) -> NoReturn:
        raise Disagreement(f"{message}\nsteps so far:\n  " + "\n  ".join(self.trace))

    async def unchanged(self, before: int, what: str) -> None:
        after = await self._txns()
        if after != before:
            self.disagree(f"{what}: refused, yet {after - before} journal transactions written")

    async def check(self) -> None:
        """Every balance, state and the liability, the service's against the model's."""
        m, pool = self.model, self.app.pool
        rows = await pool.fetch(
            "SELECT card_id, state, balance_minor, held_minor, expire_time, has_consumption"
            " FROM cards"
        )
        actual = {
            str(r["card_id"]): (r["state"], r["balance_minor"], r["held_minor"]) for r in rows
        }
        expected = {i: (c.state.value, c.available, c.held) for i, c in m.cards.items()}
        self._same("cards (state, balance, held)", expected, actual)
        self._same(
            "cards' expiry",
            {i: c.valid_until for i, c in m.cards.items() if c.valid_until is not None},
            {
                str(r["card_id"]): r["expire_time"]
                for r in rows
                if m.cards[str(r["card_id"])].valid_until is not None
            },
        )
        self._same(
            "cards' consumption record",
            {i: c.consumed for i, c in m.cards.items()},
            {str(r["card_id"]): r["has_consumption"] for r in rows},
        )
        holds = await pool.fetch("SELECT hold_id, state FROM holds")
        self._same(
            "holds",
            {h: hold.state.value for h, hold in m.holds.items()},
            {str(r["hold_id"]): r["state"] for r in holds},
        )
        for member in self.members:
            got = await self.wallet.GetStoredValue(
                wpb.GetStoredValueRequest(member_id=member), metadata=self.checkout
            )
            sv = got.stored_value
            available, held = m.account_balance(member)
            row = await pool.fetchrow(
                "SELECT held_principal_minor, held_bonus_minor FROM stored_value"
                " WHERE member_id = $1",
                uuid.UUID(member),
            )
            self._same(
                f"stored value of {member}",
                (available.principal, available.bonus, held.total, held.principal, held.bonus),
                (
                    sv.principal_minor,
                    sv.bonus_minor,
                    sv.held_minor,
                    row["held_principal_minor"] if row else 0,
                    row["held_bonus_minor"] if row else 0,
                ),
            )
        # The liability: the day's report (unstored) against the model's flows since the day
        # began and its outstanding lines; no finding at all.
        report = await self.app.usecases.reconciliation.compute(
            self._day(), CURRENCY, m.now, "test"
        )
        self._same("reconciliation findings", [], report.findings)
        balances = m.balances()
        self._same(
            "liability closing (cards, principal, bonus)",
            (balances.cards, balances.principal, balances.bonus),
            (report.closing.cards, report.closing.principal, report.closing.bonus),
        )
        self._same("the day's report", self._day_report(), report.flows)
        self._same("journal problems", {}, await journal.problems(pool))
        self._same("the model's own invariants", [], m.problems())

    def _day_report(self) -> dict[str, int]:
        flows, start = self.model.flows, self.day_start

        def delta(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
            return {k: v - then.get(k, 0) for k, v in now.items()}

        return liability.report(
            liability.CardFlows(**delta(flows.cards, start.cards)),
            liability.PrincipalFlows(**delta(flows.principal, start.principal)),
            liability.BonusFlows(**delta(flows.bonus, start.bonus)),
            self.day_opening,
        )

    def _same(self, what: str, expected, actual) -> None:
        if expected != actual:
            if isinstance(expected, dict) and isinstance(actual, dict):
                keys = sorted(set(expected) | set(actual), key=str)
                diff = {k: (expected.get(k), actual.get(k)) for k in keys}
                shown = {k: v for k, v in diff.items() if v[0] != v[1]}
                self.disagree(f"{what}: (model, service) differ at {shown}")
            self.disagree(f"{what}: model {expected!r}, service {actual!r}")

    # --- time ---------------------------------------------------------------------------------
    def advance(self, delta: dt.timedelta) -> None:
        before = self._day()
        self.model.advance(delta)
        self.app.deps.clock.set(self.model.now)
        if self._day() != before:  # a new business day: its flows start from here
            self.day = self._day()
            self.day_start = copy.deepcopy(self.model.flows)
            self.day_opening = liability.balances_report(self.model.balances())

    # --- picks --------------------------------------------------------------------------------
    def cards_in(self, *states: CardState) -> list[str]:
        return [i for i, c in self.model.cards.items() if c.state in states]

    def pick_cards(self, fitting: Sequence[str], pick: int, count: int, mode: int) -> list[str]:
        """`count` distinct cards from `fitting` (from every card when mode is ANY or none
        fits), starting at `pick`."""
        pool = list(fitting) if fitting and mode != ANY else list(self.model.cards)
        start = pick % len(pool)
        return [pool[(start + k) % len(pool)] for k in range(min(count, len(pool)))]

    def number(self, card_id: str) -> str:
        return self.cards[card_id].number

    async def wait(self, type_: str) -> None:
        await self.consumed(type_, len(self.published.get(type_, ())))

    def note(self, text: str) -> None:
        self.trace.append(f"{self.model.now:%Y-%m-%d %H:%M} {text}")

    # --- load and review (开户/充值 → 复核) ----------------------------------------------------
    async def load(self, pick: int, count: int, amount_variant: int, other_batch: bool, mode: int):
        chosen = self.pick_cards(
            [i for i in self.cards_in(CardState.ISSUED) if self.cards[i].batch_id == self.batch],
            pick,
            count,
            mode,
        )
        own = self.cards[chosen[0]].batch_id
        batch = (self.spare_batch if own == self.batch else self.batch) if other_batch else own
        amount = (FACE, FACE - 1, 0)[amount_variant % 3]
        self.note(f"load {chosen} into {batch[:8]} at {amount}")
        before = await self._txns()
        made, reason = await self.call(
            self.giftcard.LoadCards(
                gpb.LoadCardsRequest(
                    request_id=uid(),
                    batch_id=batch,
                    entries=[
                        gpb.LoadEntryInput(card_number=self.number(c), amount_minor=amount)
                        for c in chosen
                    ],
                ),
                metadata=self.who("ld.zhao"),
            )
        )

        def step(m: Model) -> None:
            for card_id in chosen:
                m.load(card_id, batch, amount, label("ld.zhao"))

        if reason:
            self.refused_alike("load", reason, step)
            await self.unchanged(before, "load")
            return
        self.accepted("load", step)
        self.loads.append(
            LoadRef(made.load.load_id, chosen, made.load.total_minor, made.load.loaded_by)
        )

    async def review(self, pick: int, by_the_loader: bool) -> None:
        pending = [x for x in self.loads if x.pending]
        if not pending:
            return
        load = pending[pick % len(pending)]
        person = "ld.zhao" if by_the_loader else "rv.qian"
        self.note(f"review load of {load.card_ids} by {person}")
        _, reason = await self.call(
            self.giftcard.ApproveLoad(
                gpb.ApproveLoadRequest(
                    request_id=uid(),
                    load_id=load.load_id,
                    card_count=len(load.card_ids),
                    total_minor=load.total,
                ),
                metadata=self.who(person),
            )
        )

        def step(m: Model) -> None:
            for card_id in load.card_ids:
                m.review(card_id, label(person))

        if reason:
            self.refused_alike("review", reason, step)
            return
        self.accepted("review", step)
        load.pending = False

    # --- requisition and sale (领用 → 销售) ---------------------------------------------------
    async def sell(self, pick: int, count: int, stop_drawn: bool, mode: int) -> None:
        chosen = self.pick_cards(self.cards_in(CardState.READY), pick, count, mode)
        self.note(f"requisition {chosen}" + ("" if stop_drawn else " and sell them"))
        created = await self.giftcard.CreateRequisition(
            gpb.CreateRequisitionRequest(
                request_id=uid(),
                kind=res.REQUISITION_KIND_SALES_DESK,
                sales_desk="store-1/desk-1",
                lines=[res.RequisitionLine(product_id=self.product_id, card_count=len(chosen))],
            ),
            metadata=self.who("req.li"),
        )
        requisition_id = created.requisition.requisition_id
        await self.giftcard.ApproveRequisition(
            gpb.ApproveRequisitionRequest(request_id=uid(), requisition_id=requisition_id),
            metadata=self.who("ap.chen"),
        )
        before = await self._txns()
        _, reason = await self.call(
            self.giftcard.FulfilRequisition(
                gpb.FulfilRequisitionRequest(
                    request_id=uid(),
                    requisition_id=requisition_id,
                    card_numbers=[self.number(c) for c in chosen],
                ),
                metadata=self.who("op.sun"),
            )
        )

        def step(m: Model) -> None:
            for card_id in chosen:
                m.requisition(card_id)

        if reason:
            # The service names what is wrong with the list (REQUISITION_CARDS_MISMATCH), the
            # model what is wrong with the first card's state: the same refusal.
            self.refused_alike(
                "requisition", reason, step, lambda s, _: s == "REQUISITION_CARDS_MISMATCH"
            )
            await self.unchanged(before, "requisition")
            return
        self.accepted("requisition", step)
        self.requisitions[requisition_id] = chosen
        if not stop_drawn:
            await self._sale(requisition_id, chosen)

    async def sell_drawn(self, pick: int) -> None:
        """A later sale of what a requisition still has drawn."""
        open_ = [
            (r, [c for c in cards if self.model.cards[c].state is CardState.REQUISITIONED])
            for r, cards in self.requisitions.items()
        ]
        open_ = [(r, cards) for r, cards in open_ if cards]
        if not open_:
            return
        requisition_id, cards = open_[pick % len(open_)]
        self.note(f"sell {cards}")
        await self._sale(requisition_id, cards)

    async def _sale(self, requisition_id: str, cards: list[str]) -> None:
        _, reason = await self.call(
            self.giftcard.CreateSale(
                gpb.CreateSaleRequest(
                    request_id=uid(),
                    requisition_id=requisition_id,
                    card_numbers=[self.number(c) for c in cards],
                    paid_amount_minor=FACE * len(cards),
                    payment_method="pos",
                ),
                metadata=self.who("sa.zhou"),
            )
        )

        def step(m: Model) -> None:
            for card_id in cards:
                m.sell(card_id)

        if reason:
            self.refused_alike("sale", reason, step)
            return
        self.accepted("sale", step)

    # --- checkout -------------------------------------------------------------------------------
    async def hold(self, order_pick: int, new_order: bool, sources: Sequence[tuple]) -> None:
        """PlaceHolds: 1 or 2 sources, each (on_card, pick, mode, by_share, share, fixed)."""
        open_ = [o for o in self.orders if o.state == "open"]
        if new_order or not open_:
            order = OrderRef(self.next("order"), self.members[order_pick % 2])
            fresh = True
        else:
            order, fresh = open_[order_pick % len(open_)], False
        placed: list[tuple[str, int, wpb.HoldSource]] = []  # (model source, amount, proto)
        for on_card, pick, mode, by_share, share, fixed in sources:
            if on_card:
                (card_id,) = self.pick_cards(self.cards_in(CardState.ACTIVE), pick, 1, mode)
                source = card_source(card_id)
                if any(s == source for s, _, _ in placed):
                    continue  # a card once per call
                available = self.model.cards[card_id].available
                ref = self.cards[card_id]
                proto = wpb.HoldSource(
                    kind=res.HOLD_SOURCE_KIND_CARD_SECRET,
                    card=wpb.CardSecret(card_number=ref.number, pin=ref.pin),
                )
            else:
                source = account_source(order.member)
                if any(s == source for s, _, _ in placed):
                    continue
                available = self.model.account_balance(order.member)[0].total
                proto = wpb.HoldSource(kind=res.HOLD_SOURCE_KIND_STORED_VALUE)
            amount = max(1, available * share // 100) if by_share else fixed
            proto.amount_minor = amount
            placed.append((source, amount, proto))
        self.note(f"hold on {order.order_id}: {[(s, a) for s, a, _ in placed]}")
        before = await self._txns()
        made, reason = await self.call(
            self.wallet.PlaceHolds(
                wpb.PlaceHoldsRequest(
                    request_id=uid(),
                    order_id=order.order_id,
                    member_id=order.member,
                    currency_code=CURRENCY,
                    order_amount_minor=ORDER_LIMIT,
                    channel="online",
                    sources=[p for _, _, p in placed],
                ),
                metadata=self.checkout,
            )
        )
        ids = [h.hold_id for h in made.holds] if made else [uid() for _ in placed]

        def step(m: Model) -> None:
            for hold_id, (source, amount, _) in zip(ids, placed, strict=True):
                m.hold(hold_id, order.order_id, source, amount)

        if reason:
            self.refused_alike("hold", reason, step)
            await self.unchanged(before, "hold")
            return
        self.accepted("hold", step)
        if fresh:
            self.orders.append(order)
        for hold_id in ids:
            order.holds.append(hold_id)
            self.hold_order[hold_id] = order

    def _a_hold(self, pick: int, mode: int) -> str | None:
        """A held hold; with mode ANY (or none held) any hold, or now and then one that does not
        exist; None when there is no hold to ask about."""
        if not self.model.holds and mode != ANY:
            return None
        held = [h for h, x in self.model.holds.items() if x.state is HoldState.HELD]
        if held and mode != ANY:
            return held[pick % len(held)]
        every = [*self.model.holds, "unknown"]
        chosen = every[pick % len(every)]
        return uid() if chosen == "unknown" else chosen

    def _captured(self, hold_id: str) -> None:
        """MODEL GAP (refund order): the model gives an order refund back latest *capture*
        first; the contract (WalletService: commerce.order.refunded) and the service give it
        back to the most recently *placed* hold first. Holds captured out of their placing
        order (CaptureHold on a later hold, then order.paid) would make the two allocate a
        refund differently, so the model's captures of the order are kept in placing order."""
        order = self.hold_order[hold_id]
        captured = self.captured.setdefault(order.order_id, [])
        captured.append(hold_id)
        if not self.fill_gaps:
            return
        records = self.model.captures[order.order_id]
        assert len(records) == len(captured)
        place = {h: i for i, h in enumerate(order.holds)}
        ranked = sorted(zip(captured, records, strict=True), key=lambda x: place[x[0]])
        captured[:] = [h for h, _ in ranked]
        records[:] = [r for _, r in ranked]

    async def capture(self, pick: int, mode: int) -> None:
        hold_id = self._a_hold(pick, mode)
        if hold_id is None:
            return
        self.note(f"capture {hold_id}")
        before = await self._txns()
        _, reason = await self.call(
            self.wallet.CaptureHold(
                wpb.CaptureHoldRequest(request_id=uid(), hold_id=hold_id), metadata=self.checkout
            )
        )
        if reason:
            self.refused_alike("capture", reason, lambda m: m.capture(hold_id))
            await self.unchanged(before, "capture")
            return
        self.accepted("capture", lambda m: m.capture(hold_id))
        self._captured(hold_id)

    async def release(self, pick: int, mode: int) -> None:
        hold_id = self._a_hold(pick, mode)
        if hold_id is None:
            return
        self.note(f"release {hold_id}")
        before = await self._txns()
        _, reason = await self.call(
            self.wallet.ReleaseHold(
                wpb.ReleaseHoldRequest(request_id=uid(), hold_id=hold_id), metadata=self.checkout
            )
        )
        if reason:
            self.refused_alike("release", reason, lambda m: m.release(hold_id))
            await self.unchanged(before, "release")
            return
        self.accepted("release", lambda m: m.release(hold_id))

    async def pay(self, pick: int, reverse: bool = False) -> None:
        """commerce.order.paid naming the order's holds that are held and within their time,
        or captured already (a lapsed hold is taken again by the service, which the model
        does not do), in the order they were placed (`reverse`: the other way round; refunds
        still go back by the order of placing)."""
        open_ = [o for o in self.orders if o.state == "open"]
        if not open_:
            return
        order = open_[pick % len(open_)]
        holds = self.model.holds
        named = [
            h
            for h in order.holds
            if holds[h].state is HoldState.CAPTURED
            or (holds[h].state is HoldState.HELD and holds[h].expires_at > self.model.now)
        ]
        if not named:
            return
        if reverse:
            named.reverse()
        total = sum(holds[h].amount for h in named)
        self.note(f"order.paid {order.order_id}: {named} for {total}")
        await self.publish(
            PAID,
            order.order_id,
            commerce.OrderPaid(
                order_id=order.order_id,
                member_id=order.member,
                currency_code=CURRENCY,
                paid_amount_minor=total,
                gift_card_hold_ids=named,
                gift_card_amount_minor=total,
            ),
        )
        await self.wait(PAID)
        for hold_id in named:
            if holds[hold_id].state is HoldState.HELD:
                self.accepted("order.paid", methodcaller("capture", hold_id))
                self._captured(hold_id)
        order.state = "paid"
        for amount in order.waiting:  # refunds that came first, in the order they came
            self._refund_model(order, amount)
        order.waiting = []

    async def cancel(self, pick: int) -> None:
        open_ = [o for o in self.orders if o.state == "open"]
        if not open_:
            return
        order = open_[pick % len(open_)]
        self.note(f"order.cancelled {order.order_id}")
        await self.publish(
            CANCELLED,
            order.order_id,
            commerce.OrderCancelled(order_id=order.order_id, member_id=order.member),
        )
        await self.wait(CANCELLED)
        for hold_id in order.holds:
            if self.model.holds[hold_id].state is HoldState.HELD:
                self.accepted("order.cancelled", methodcaller("release", hold_id))
        order.state = "cancelled"

    def _refundable(self, order: OrderRef) -> int:
        return sum(c.amount - c.returned for c in self.model.captures.get(order.order_id, []))

    def _refund_model(self, order: OrderRef, amount: int) -> None:
        """The service gives back what the order's captures still can and records the rest as
        unreturned; the model refuses more than that whole, so it is given what can go back."""
        giving = min(amount, self._refundable(order))
        if giving > 0:
            self.accepted("order.refunded", lambda m: m.refund_order(order.order_id, giving))

    async def refund(
        self, pick: int, waiting: bool, by_share: bool, share: int, fixed: int, twice: bool
    ) -> None:
        """commerce.order.refunded: a paid order's (or, `waiting`, an unpaid one's: it waits
        for the payment), now and then delivered twice."""
        candidates = [o for o in self.orders if o.state == ("open" if waiting else "paid")]
        if not candidates:
            return
        order = candidates[pick % len(candidates)]
        room = self._refundable(order)
        amount = max(1, room * share // 100) if by_share and room else fixed
        order.refunds += 1
        refund_id = f"r{order.refunds}"
        self.note(
            f"order.refunded {order.order_id}/{refund_id}: {amount}" + (" ×2" if twice else "")
        )
        event = commerce.OrderRefunded(
            order_id=order.order_id,
            member_id=order.member,
            refund_id=refund_id,
            currency_code=CURRENCY,
            refunded_amount_minor=amount,
            gift_card_amount_minor=amount,
        )
        for _ in range(2 if twice else 1):
            await self.publish(REFUNDED, order.order_id, event)
        await self.wait(REFUNDED)
        if order.state == "paid":
            self._refund_model(order, amount)
        else:
            order.waiting.append(amount)

    # --- stored value -------------------------------------------------------------------------
    async def top_up(self, member_pick: int, amount: int, by_event: bool) -> None:
        member = self.members[member_pick % 2]
        made = await self.wallet.CreateTopUp(
            wpb.CreateTopUpRequest(
                request_id=uid(), member_id=member, currency_code=CURRENCY, amount_minor=amount
            ),
            metadata=self.checkout,
        )
        top_up = made.top_up
        self.note(f"top up {member[:8]} {amount}" + (" (payment event)" if by_event else ""))
        if by_event:
            await self.publish(
                SUCCEEDED,
                top_up.top_up_id,
                commerce.PaymentSucceeded(
                    payment_id=self.next("pay"),
                    member_id=member,
                    purpose="stored_value_top_up",
                    reference_id=top_up.top_up_id,
                    amount=money_pb2.Money(currency_code=CURRENCY, amount_minor=amount),
                ),
            )
            await self.wait(SUCCEEDED)
        else:
            await self.wallet.ConfirmTopUp(
                wpb.ConfirmTopUpRequest(
                    request_id=uid(),
                    top_up_id=top_up.top_up_id,
                    payment_reference=self.next("pay"),
                    amount_minor=amount,
                ),
                metadata=self.checkout,
            )
        bonus = self.accepted("top-up", lambda m: m.top_up(top_up.top_up_id, member, amount))
        self._same("the top-up's bonus", bonus, top_up.bonus_minor)
        self.top_ups.append(TopUpRef(top_up.top_up_id, member))

    async def refund_top_up(self, pick: int) -> None:
        """RefundTopUp pays back what is left of the top-up's principal in the account: the
        model is asked to refund that much."""
        if not self.top_ups:
            return
        ref = self.top_ups[pick % len(self.top_ups)]
        t = self.model.top_ups[ref.top_up_id]
        amount = min(t.principal - t.refunded, self.model.account_balance(ref.member)[0].principal)
        self.note(f"refund top-up {ref.top_up_id[:8]} ({amount})")
        before = await self._txns()
        done, reason = await self.call(
            self.giftcard.RefundTopUp(
                gpb.RefundTopUpRequest(
                    request_id=uid(), top_up_id=ref.top_up_id, reason="customer asked"
                ),
                metadata=self.who("fi.wu"),
            )
        )
        if ref.refunded:
            # A top-up is refunded once (REFUNDED is final); the model would refund the rest.
            self._same("a second top-up refund", "TOP_UP_NOT_REFUNDABLE", reason)
            await self.unchanged(before, "refund top-up")
            return
        if reason:
            # Nothing left to refund: the service says TOP_UP_SPENT, the model that 0 is no
            # amount.
            self.refused_alike(
                "refund top-up",
                reason,
                lambda m: m.refund_top_up(ref.top_up_id, amount),
                lambda s, m: s == m or (s, m) == ("TOP_UP_SPENT", "AMOUNT_NOT_POSITIVE"),
            )
            await self.unchanged(before, "refund top-up")
            return
        self.accepted("refund top-up", lambda m: m.refund_top_up(ref.top_up_id, amount))
        ref.refunded = True
        t = self.model.top_ups[ref.top_up_id]
        self._same(
            "the top-up refund (principal, bonus taken back)",
            (t.refunded, t.clawed_back),
            (done.top_up.refunded_minor, done.top_up.bonus_revoked_minor),
        )

    # --- time and the jobs --------------------------------------------------------------------
    async def hold_job(self) -> None:
        await self.app.usecases.holds.expire_due(self.app.pool, 500)
        self.model.time_out_holds()

    async def card_job(self) -> None:
        expired = await jobs.expire_cards(self.app.usecases, self.app.pool)
        due = self.model.expire_due()
        self._same("cards expired by the job", len(due), expired)

    async def timeout(self, minutes: int) -> None:
        self.note(f"+{minutes} min, hold expiry job")
        self.advance(dt.timedelta(minutes=minutes))
        await self.hold_job()

    async def expire(self, days: int) -> None:
        self.note(f"+{days} days, card expiry job")
        self.advance(dt.timedelta(days=days))
        await self.card_job()

    async def pass_time(self, minutes: int) -> None:
        self.note(f"+{minutes} min")
        self.advance(dt.timedelta(minutes=minutes))

    async def both_jobs(self) -> None:
        self.note("hold and card expiry jobs")
        await self.hold_job()
        await self.card_job()

    # --- card administration ------------------------------------------------------------------
    def _release_card_holds(self, m: Model, card_id: str) -> None:
        """MODEL GAP (freeze, loss report): the contract (FreezeCard, ReportCardLost) and the
        service release the card's HELD holds; the model's freeze/report_lost leave them held
        (and its replace would then refuse CARD_HAS_HOLDS). Released here first."""
        if not self.fill_gaps:
            return
        for hold_id, hold in m.holds.items():
            if hold.state is HoldState.HELD and hold.source == card_source(card_id):
                m.release(hold_id)

    async def report_lost(self, pick: int, mode: int) -> None:
        (card_id,) = self.pick_cards(self.cards_in(CardState.ACTIVE), pick, 1, mode)
        self.note(f"report lost {card_id}")
        before = await self._txns()
        _, reason = await self.call(
            self.wallet.ReportCardLost(
                wpb.ReportCardLostRequest(
                    request_id=uid(), card_number=self.number(card_id), reason="lost in a taxi"
                ),
                metadata=self.who("op.sun"),
            )
        )
        if reason:
            self.refused_alike("report lost", reason, lambda m: m.report_lost(card_id))
            await self.unchanged(before, "report lost")
            return

        def step(m: Model) -> None:
            m.card(card_id)
            self._release_card_holds(m, card_id)
            m.report_lost(card_id)

        self.accepted("report lost", step)

    async def card_move(self, pick: int, move: int, mode: int) -> None:
        """FreezeCard, UnfreezeCard, CancelCardLossReport (an operator's) or CancelCard (注销 of
        defective stock)."""
        fits = {  # the rarer first (a pick is more often 0)
            "unfreeze": (CardState.FROZEN,),
            "cancel_loss_report": (CardState.LOST,),
            "freeze": (CardState.ACTIVE,),
            "cancel": (
                CardState.ISSUED,
                CardState.LOADED,
                CardState.READY,
                CardState.REQUISITIONED,
            ),
        }
        # One of the moves some card is in the state for (any of them with mode ANY).
        names = [n for n, states in fits.items() if self.cards_in(*states) or mode == ANY]
        name = names[move % len(names)]
        (card_id,) = self.pick_cards(self.cards_in(*fits[name]), pick, 1, mode)
        number = self.number(card_id)
        self.note(f"{name} {card_id}")
        operator = self.who("op.sun")
        if name == "freeze":
            rpc = self.giftcard.FreezeCard(
                gpb.FreezeCardRequest(request_id=uid(), card_number=number, reason="dispute"),
                metadata=operator,
            )
        elif name == "unfreeze":
            rpc = self.giftcard.UnfreezeCard(
                gpb.UnfreezeCardRequest(request_id=uid(), card_number=number, reason="settled"),
                metadata=operator,
            )
        elif name == "cancel_loss_report":
            rpc = self.wallet.CancelCardLossReport(
                wpb.CancelCardLossReportRequest(
                    request_id=uid(), card_number=number, reason="found again"
                ),
                metadata=operator,
            )
        else:
            rpc = self.giftcard.CancelCard(
                gpb.CancelCardRequest(request_id=uid(), card_number=number, reason="misprinted"),
                metadata=operator,
            )
        before = await self._txns()
        value = self.model.cards[card_id].available
        done, reason = await self.call(rpc)
        if (
            self.fill_gaps
            and name == "cancel"
            and self.model.cards[card_id].state is CardState.LOADED
        ):
            # MODEL GAP (cancel): the contract (CancelCard) and the service refuse to cancel a
            # card whose load awaits review (the reviewer rejects the load first); the model
            # cancels it and writes its value off.
            self._same("cancelling a loaded card", "CARD_LOAD_PENDING_REVIEW", reason)
            await self.unchanged(before, name)
            return
        if reason:
            self.refused_alike(name, reason, lambda m: getattr(m, name)(card_id))
            await self.unchanged(before, name)
            return

        def step(m: Model) -> None:
            if name == "freeze":
                m.card(card_id)
                self._release_card_holds(m, card_id)
            getattr(m, name)(card_id)
            card = m.cards[card_id]
            if (
                self.fill_gaps
                and name == "unfreeze"
                and after_sale.expiry_due(card.state, card.valid_until, m.now)
                and not card.held
            ):
                # MODEL GAP (unfreeze): the contract (UnfreezeCard) and the service expire a
                # card whose validity ended while it was frozen (its breakage posted) at once;
                # the model makes it ACTIVE until the expiry job runs.
                m.expire(card_id)

        self.accepted(name, step)
        if name == "cancel":
            self._same("the value written off", value, done.written_off_minor)

    async def replace(self, old_pick: int, new_pick: int, wrong_cause: bool, mode: int) -> None:
        (old,) = self.pick_cards(self.cards_in(CardState.ACTIVE, CardState.LOST), old_pick, 1, mode)
        (new,) = self.pick_cards(self.cards_in(CardState.ISSUED), new_pick, 1, mode)
        lost = self.model.cards[old].state is CardState.LOST
        cause = ReplacementCause.LOST if lost != wrong_cause else ReplacementCause.DAMAGED
        self.note(f"replace {old} by {new} ({cause.name})")
        before = await self._txns()
        done, reason = await self.call(
            self.giftcard.ReplaceCard(
                gpb.ReplaceCardRequest(
                    request_id=uid(),
                    card_number=self.number(old),
                    cause=res.ReplacementCause.Value(f"REPLACEMENT_CAUSE_{cause.name}"),
                    new_card_number=self.number(new),
                    reason="chip damaged" if cause is ReplacementCause.DAMAGED else "lost",
                ),
                metadata=self.who("op.sun"),
            )
        )
        # The cause is the service's alone (the model's replace takes none): a lost card is
        # replaced as LOST, any other as DAMAGED (domain.selling.cause_refusal).
        wrong = None if old == new else selling.cause_refusal(cause, self.model.cards[old].state)
        if wrong is not None:
            self._same("a replacement with the wrong cause", wrong.reason, reason)
            await self.unchanged(before, "replace")
            return
        if reason:
            self.refused_alike("replace", reason, lambda m: m.replace(old, new))
            await self.unchanged(before, "replace")
            return
        moving = self.model.cards[old].available
        self.accepted("replace", lambda m: m.replace(old, new))
        self._same("the balance moved", moving, done.transferred_minor)

    async def refund_card(self, pick: int, mode: int) -> None:
        """退卡: requested by the sales desk, carried out by a manager's approval (refused for a
        card with a consumption record, which a replacement inherits: see
        test_model_agreement.py::test_a_used_card_cannot_be_refunded_through_its_replacement)."""
        (card_id,) = self.pick_cards(self.cards_in(CardState.ACTIVE), pick, 1, mode)
        self.note(f"refund card {card_id}")
        before = await self._txns()
        asked, reason = await self.call(
            self.giftcard.RequestCardRefund(
                gpb.RequestCardRefundRequest(
                    request_id=uid(), card_number=self.number(card_id), reason="unwanted gift"
                ),
                metadata=self.who("sa.zhou"),
            )
        )
        if reason:
            self.refused_alike("refund card", reason, lambda m: m.refund_card(card_id))
            await self.unchanged(before, "refund card")
            return
        _, reason = await self.call(
            self.giftcard.ApproveAfterSale(
                gpb.ApproveAfterSaleRequest(
                    request_id=uid(), after_sale_id=asked.after_sale.after_sale_id
                ),
                metadata=self.who("mgr.wang"),
            )
        )
        if reason:
            self.disagree(f"refund card: requested, then its approval refused {reason}")
        self.accepted("refund card", lambda m: m.refund_card(card_id))


def uid() -> str:
    return str(uuid.uuid4())
