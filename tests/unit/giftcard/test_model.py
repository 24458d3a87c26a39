"""The in-memory reference model: it keeps its invariants, refuses what the domain refuses
(changing nothing), and its money agrees with the domain's arithmetic, step by step."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.giftcard.domain import holds, liability, stored_value
from services.giftcard.domain.model import Model
from services.giftcard.domain.model_records import Refused, account_source, card_source
from services.giftcard.domain.states import CardState
from services.giftcard.domain.stored_value import BonusRule, Split, TopUp

T0 = dt.datetime(2025, 1, 1, 2, tzinfo=dt.UTC)
FACE = 10_000
RULES = [BonusRule("t100", 10_000, 500), BonusRule("t300", 30_000, 2_000)]


def _sold(model, card_id, batch="b1"):
    model.issue(card_id, batch, FACE)
    model.load(card_id, batch, FACE, "loader")
    model.review(card_id, "reviewer")
    model.requisition(card_id)
    model.sell(card_id)


def _refused(reason, step, *args):
    with pytest.raises(Refused) as caught:
        step(*args)
    assert caught.value.reason == reason


def test_a_card_from_load_to_spend_to_refund():
    m = Model(T0)
    _sold(m, "c1")
    assert m.card("c1").state is CardState.ACTIVE and m.card_balance("c1") == (FACE, 0)
    m.hold("h1", "o1", card_source("c1"), 4_000)
    assert m.card_balance("c1") == (6_000, 4_000)
    m.capture("h1")
    assert m.card_balance("c1") == (6_000, 0)
    assert m.refund_order("o1", 1_000) == [(card_source("c1"), 1_000)]
    assert m.card_balance("c1") == (7_000, 0)
    assert m.problems() == []
    assert m.report()[liability.CARDS] == 7_000


def test_maker_checker_and_wrong_loads_in_the_model():
    m = Model(T0)
    m.issue("c1", "b1", FACE)
    _refused("CARD_NOT_IN_BATCH", m.load, "c1", "b2", FACE, "loader")
    _refused("LOAD_AMOUNT_MISMATCH", m.load, "c1", "b1", FACE - 1, "loader")
    _refused("AMOUNT_NOT_POSITIVE", m.load, "c1", "b1", 0, "loader")
    m.load("c1", "b1", FACE, "loader")
    _refused("CARD_ALREADY_LOADED", m.load, "c1", "b1", FACE, "loader")
    _refused("MAKER_IS_CHECKER", m.review, "c1", "loader")
    _refused("CARD_NOT_REVIEWED", m.sell, "c1")
    _refused("CARD_NOT_FOUND", m.load, "nope", "b1", FACE, "loader")
    assert m.problems() == []


def test_an_order_paid_by_several_cards_and_stored_value_refunds_each_its_share():
    m = Model(T0, RULES)
    for card_id in ("a", "b"):
        _sold(m, card_id)
    assert m.top_up("t1", "mem", 10_000) == 500
    m.hold("h1", "o1", card_source("a"), 10_000)
    m.hold("h2", "o1", card_source("b"), 2_500)
    m.hold("h3", "o1", account_source("mem"), 10_500)  # 10,000 principal + 500 bonus
    for hold_id in ("h1", "h2", "h3"):
        m.capture(hold_id)
    # Latest capture first: stored value, then b, then a.
    assert m.refund_order("o1", 12_000) == [
        (account_source("mem"), 10_500),
        (card_source("b"), 1_500),
    ]
    assert m.account_balance("mem") == (Split(10_000, 500), Split(0, 0))
    assert m.refund_order("o1", 11_000) == [(card_source("b"), 1_000), (card_source("a"), 10_000)]
    assert m.card_balance("a") == (FACE, 0) and m.card_balance("b") == (FACE, 0)
    _refused("REFUND_EXCEEDS_CAPTURED", m.refund_order, "o1", 1)
    assert m.problems() == []


def test_a_stored_value_restore_is_proportional():
    m = Model(T0, RULES)
    m.top_up("t1", "mem", 10_000)  # 10,000 + 500
    m.hold("h1", "o1", account_source("mem"), 10_500)
    m.capture("h1")
    m.refund_order("o1", 1_001)  # bonus 500 × 1001 / 10500 = 47.6 → 47
    assert m.account_balance("mem")[0] == Split(954, 47)
    m.refund_order("o1", 9_499)
    assert m.account_balance("mem")[0] == Split(10_000, 500)


def test_refund_to_a_replaced_card_follows_the_replacement():
    m = Model(T0)
    _sold(m, "old")
    m.issue("new", "b2", FACE)
    m.hold("h1", "o1", card_source("old"), 3_000)
    m.capture("h1")
    m.report_lost("old")
    _refused("CARD_REPORTED_LOST", m.hold, "h2", "o2", card_source("old"), 1)
    m.replace("old", "new")
    assert m.card_balance("new") == (7_000, 0) and m.card_balance("old") == (0, 0)
    assert m.card("new").valid_until == m.card("old").valid_until
    m.refund_order("o1", 3_000)
    assert m.card_balance("new") == (FACE, 0)
    assert m.problems() == []


def test_a_refund_to_an_expired_card_is_breakage():
    m = Model(T0)
    _sold(m, "c1")
    m.hold("h1", "o1", card_source("c1"), 3_000)
    m.capture("h1")
    m.advance(dt.timedelta(days=3 * 366))
    assert m.expire_due() == ["c1"]
    m.refund_order("o1", 3_000)
    assert m.card_balance("c1") == (0, 0)
    assert m.card_flows().expired == 7_000 + 3_000
    assert m.problems() == []


def test_card_refunds_need_an_unused_card_and_a_manager():
    m = Model(T0)
    _sold(m, "c1")
    _sold(m, "c2")
    _refused("APPROVAL_MISSING", m.refund_card, "c1", False)
    assert m.refund_card("c1") == FACE
    m.hold("h1", "o1", card_source("c2"), 1)
    _refused("CARD_HAS_HOLDS", m.exchange, "c2")
    m.capture("h1")
    m.refund_order("o1", 1)
    _refused("CARD_HAS_CONSUMPTION", m.exchange, "c2")
    assert m.card_flows().refunded == FACE and m.problems() == []


def test_holds_time_out_and_capture_after_time_is_refused():
    m = Model(T0)
    _sold(m, "c1")
    m.hold("h1", "o1", card_source("c1"), 1_000)
    m.advance(dt.timedelta(minutes=30))
    _refused("HOLD_EXPIRED", m.capture, "h1")
    m.time_out_holds()
    assert m.card_balance("c1") == (FACE, 0)
    _refused("HOLD_EXPIRED", m.capture, "h1")
    m.release("h1")  # releasing an expired hold changes nothing
    _refused("HOLD_NOT_FOUND", m.capture, "zz")


def test_top_up_refund_with_spent_bonus_keeps_it_back_from_the_cash():
    m = Model(T0, RULES)
    m.top_up("t1", "mem", 10_000)  # +500
    m.hold("h1", "o1", account_source("mem"), 10_500)  # everything
    m.capture("h1")
    m.top_up("t2", "mem", 5_000)  # no bonus
    # t1's principal is long spent, but 5,000 of principal is in the account.
    assert m.refund_top_up("t1", 5_000) == 5_000 - 250
    _refused("TOP_UP_SPENT", m.refund_top_up, "t2", 1)
    _refused("TOP_UP_NOT_FOUND", m.refund_top_up, "t9", 1)
    assert m.problems() == []


def test_problems_finds_a_broken_invariant():
    m = Model(T0)
    _sold(m, "c1")
    m.card("c1").available -= 1
    assert any("liability cards.outstanding" in p for p in m.problems())
    m.card("c1").available = -1
    assert any("negative" in p for p in m.problems())


# --- random programs ------------------------------------------------------------------------
CARDS = [f"c{i}" for i in range(6)]
MEMBERS = ["m0", "m1"]
ORDERS = ["o0", "o1", "o2"]
amounts = st.sampled_from([1, 99, 500, 2_500, 5_000, 9_999, 10_000, 10_001, 30_000])
shares = st.integers(0, 100)  # percent of what an order or a top-up can still give back


class Checkout(RuleBasedStateMachine):
    """Random sequences of load, sell, hold, capture, release, order refund, card refund,
    top-up, top-up refund, expire, replace … Arguments are drawn mostly from what the model
    holds at the moment (a held hold, a paid order), so that most steps do something; each
    rule also draws, now and then, something that must be refused."""

    def __init__(self) -> None:
        super().__init__()
        self.m = Model(T0, RULES)
        for card_id in CARDS[:4]:
            _sold(self.m, card_id)
        for card_id in CARDS[4:]:
            self.m.issue(card_id, "b1", FACE)
        self.n = 0

    def _step(self, action, *args):
        """A refused step changes nothing at all."""
        before = copy.deepcopy(self.m.__dict__)
        try:
            return action(*args)
        except Refused:
            assert self.m.__dict__ == before, (action.__name__, args)
            return None

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    @rule(
        card=st.sampled_from(CARDS),
        amount=st.sampled_from([FACE, FACE - 1]),
        batch=st.sampled_from(["b1", "b2"]),
    )
    def load(self, card, amount, batch):
        self._step(self.m.load, card, batch, amount, "loader")

    @rule(card=st.sampled_from(CARDS), reviewer=st.sampled_from(["loader", "reviewer"]))
    def review(self, card, reviewer):
        self._step(self.m.review, card, reviewer)

    @rule(card=st.sampled_from(CARDS))
    def requisition_and_sell(self, card):
        self._step(self.m.requisition, card)
        self._step(self.m.sell, card)

    def _a_card(self, data) -> str:
        """Mostly an active card (else nearly every hold would be refused), now and then any."""
        active = [c for c in CARDS if self.m.cards[c].state is CardState.ACTIVE]
        return data.draw(
            st.sampled_from(active if active and data.draw(st.integers(0, 4)) else CARDS)
        )

    @rule(data=st.data(), order=st.sampled_from(ORDERS), amount=amounts)
    def hold_card(self, data, order, amount):
        self._step(self.m.hold, self._id("h"), order, card_source(self._a_card(data)), amount)

    @rule(member=st.sampled_from(MEMBERS), order=st.sampled_from(ORDERS), amount=amounts)
    def hold_stored_value(self, member, order, amount):
        self._step(self.m.hold, self._id("h"), order, account_source(member), amount)

    @rule(data=st.data(), order=st.sampled_from(ORDERS), share=st.integers(1, 100))
    def pay(self, data, order, share):
        """Checkout as it usually goes: hold part of what a card or an account has, capture."""
        if data.draw(st.booleans()):
            card = self.m.cards[self._a_card(data)]
            source, available = card_source(card.card_id), card.available
        else:
            member = data.draw(st.sampled_from(MEMBERS))
            source, available = account_source(member), self.m.account_balance(member)[0].total
        hold_id = self._id("h")
        self._step(self.m.hold, hold_id, order, source, max(1, available * share // 100))
        self._step(self.m.capture, hold_id)

    def _a_hold(self, data):
        held = [h for h, hold in self.m.holds.items() if hold.state is holds.HoldState.HELD]
        pool = held if held and data.draw(st.integers(0, 4)) else [*self.m.holds, "none"]
        return data.draw(st.sampled_from(pool))

    @precondition(lambda self: self.m.holds)
    @rule(data=st.data())
    def capture(self, data):
        self._step(self.m.capture, self._a_hold(data))

    @precondition(lambda self: self.m.holds)
    @rule(data=st.data())
    def release(self, data):
        self._step(self.m.release, self._a_hold(data))

    @precondition(lambda self: self.m.captures)
    @rule(data=st.data(), share=shares, amount=amounts)
    def refund_order(self, data, share, amount):
        """The model's allocation is its own loop; the domain's must agree with it."""
        paid = sorted(self.m.captures)
        order_id = data.draw(st.sampled_from([*paid, *ORDERS] if paid else ORDERS))
        captures = self.m.captures.get(order_id, [])
        left = sum(c.amount - c.returned for c in captures)
        if left and data.draw(st.integers(0, 4)):
            amount = max(1, left * share // 100)
        expected = holds.allocate_refund(
            [holds.Capture(c.source, c.amount, c.returned, i) for i, c in enumerate(captures)],
            amount,
        )
        given = self._step(self.m.refund_order, order_id, amount)
        if given is None:
            assert not isinstance(expected, list)
        else:
            assert [(p.source, p.amount) for p in expected] == given

    @rule(card=st.sampled_from(CARDS), approved=st.booleans())
    def refund_card(self, card, approved):
        self._step(self.m.refund_card, card, approved)

    @rule(card=st.sampled_from(CARDS), approved=st.booleans())
    def exchange(self, card, approved):
        self._step(self.m.exchange, card, approved)

    @rule(member=st.sampled_from(MEMBERS), amount=amounts)
    def top_up(self, member, amount):
        self._step(self.m.top_up, self._id("t"), member, amount)

    @precondition(lambda self: self.m.top_ups)
    @rule(data=st.data(), share=shares, amount=amounts)
    def refund_top_up(self, data, share, amount):
        top_up_id = data.draw(st.sampled_from([*sorted(self.m.top_ups), "none"]))
        if top_up_id == "none":
            self._step(self.m.refund_top_up, top_up_id, amount)
            return
        t = self.m.top_ups[top_up_id]
        available = self.m.account_balance(t.member)[0]
        room = min(t.principal - t.refunded, available.principal)
        if room and data.draw(st.integers(0, 4)):
            amount = max(1, room * share // 100)
        expected = stored_value.refund_top_up(
            TopUp(t.principal, t.bonus, t.refunded, t.clawed_back), available, amount
        )
        cash = self._step(self.m.refund_top_up, top_up_id, amount)
        if cash is None:
            assert not isinstance(expected, stored_value.TopUpRefund)
        else:
            assert isinstance(expected, stored_value.TopUpRefund) and expected.cash_out == cash
            assert self.m.account_balance(t.member)[0] == available - Split(
                expected.principal, expected.bonus_clawed_back
            )

    @rule(card=st.sampled_from(CARDS))
    def expire(self, card):
        self._step(self.m.expire, card)

    @rule()
    def expiry_job(self):
        self.m.expire_due()

    @rule()
    def hold_timeout_job(self):
        self.m.time_out_holds()

    @rule(old=st.sampled_from(CARDS), new=st.sampled_from(CARDS))
    def replace(self, old, new):
        self._step(self.m.replace, old, new)

    @rule(
        card=st.sampled_from(CARDS),
        move=st.sampled_from(["freeze", "unfreeze", "report_lost", "cancel_loss_report", "cancel"]),
    )
    def card_move(self, card, move):
        self._step(getattr(self.m, move), card)

    @rule(minutes=st.sampled_from([1, 29, 31, 60 * 24 * 400, 60 * 24 * 1100]))
    def advance(self, minutes):
        self.m.advance(dt.timedelta(minutes=minutes))

    @invariant()
    def keeps_every_invariant(self):
        assert self.m.problems() == []
        # The liability identity, stated once more from the outside.
        report, balances = self.m.report(), self.m.balances()
        assert report[liability.CARDS] == balances.cards >= 0
        assert report[liability.PRINCIPAL] == balances.principal >= 0
        assert report[liability.BONUS] == balances.bonus >= 0


Checkout.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, database=None
)
test_random_programs_keep_every_invariant = Checkout.TestCase
