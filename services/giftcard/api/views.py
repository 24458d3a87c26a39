"""Holds and orders as proto resources (read with the cards they name)."""

from __future__ import annotations

from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit.timestamps import to_proto

from ..domain import cards as numbers
from ..store import cards as card_store
from ..store import holds as hold_store
from ..store import orders as order_store
from ..store.holds import Hold
from ..usecases.hold_books import source_kind

_STATES = {
    "held": res.HOLD_STATE_HELD,
    "captured": res.HOLD_STATE_CAPTURED,
    "released": res.HOLD_STATE_RELEASED,
    "expired": res.HOLD_STATE_EXPIRED,
}
_RELEASE = {
    "released": res.HOLD_RELEASE_REASON_REQUESTED,
    "order_cancelled": res.HOLD_RELEASE_REASON_ORDER_CANCELLED,
    "expired": res.HOLD_RELEASE_REASON_EXPIRED,
    "card_blocked": res.HOLD_RELEASE_REASON_CARD_BLOCKED,
}


async def hold(conn, h: Hold) -> res.Hold:
    card = await card_store.get(conn, h.card_id) if h.card_id else None
    return res.Hold(
        hold_id=str(h.hold_id),
        order_id=h.order_id,
        member_id=str(h.member_id or ""),
        source_kind=source_kind(h.source_kind),
        card_id=str(h.card_id or ""),
        masked_card_number=numbers.mask(card.card_number) if card else "",
        currency_code=h.currency_code,
        amount_minor=h.amount_minor,
        bonus_minor=h.bonus_minor,
        state=_STATES[h.state.value],
        returned_minor=h.returned_minor,
        expire_time=to_proto(h.expire_time),
        create_time=to_proto(h.create_time),
        capture_time=to_proto(h.capture_time),
        release_time=to_proto(h.release_time),
        release_reason=_RELEASE.get(h.release_reason, res.HOLD_RELEASE_REASON_UNSPECIFIED),
    )


async def order(conn, order_id: str) -> res.Order | None:
    holds = await hold_store.of_order(conn, order_id)
    payment = await order_store.payment(conn, order_id)
    refunds = await order_store.refunds(conn, order_id)
    if not holds and payment is None and not refunds:
        return None
    returns = await order_store.returns(conn, order_id)
    by_hold = {h.hold_id: h for h in holds}
    views = {h.hold_id: await hold(conn, h) for h in holds}
    member = next((str(h.member_id) for h in holds if h.member_id), "")
    result = res.Order(
        order_id=order_id,
        member_id=member,
        currency_code=holds[0].currency_code if holds else "",
        holds=list(views.values()),
        refunds=[
            res.OrderRefund(
                refund_id=r.refund_id,
                gift_card_amount_minor=r.gift_card_amount_minor,
                returned_minor=r.returned_minor,
                unreturned_minor=r.unreturned_minor,
                state=(
                    res.ORDER_REFUND_STATE_APPLIED
                    if r.state == "applied"
                    else res.ORDER_REFUND_STATE_WAITING_FOR_PAYMENT
                ),
                returns=[
                    res.ValueReturn(
                        hold_id=str(v.hold_id),
                        source_kind=views[v.hold_id].source_kind,
                        card_id=str(by_hold[v.hold_id].card_id or ""),
                        masked_card_number=views[v.hold_id].masked_card_number,
                        amount_minor=v.amount_minor,
                        bonus_minor=v.bonus_minor,
                    )
                    for v in returns
                    if v.refund_id == r.refund_id and v.hold_id in views
                ],
                receive_time=to_proto(r.receive_time),
                apply_time=to_proto(r.apply_time),
            )
            for r in refunds
        ],
    )
    if payment is not None:
        result.payment.CopyFrom(
            res.OrderPayment(
                apply_time=to_proto(payment.apply_time),
                hold_ids=[str(i) for i in payment.hold_ids],
                gift_card_amount_minor=payment.gift_card_amount_minor,
                captured_minor=payment.captured_minor,
                problem=payment.problem,
                description=payment.description,
            )
        )
    cancelled = [h.release_time for h in holds if h.release_reason == "order_cancelled"]
    if cancelled and cancelled[0] is not None:
        result.cancel_time.FromDatetime(cancelled[0])
    return result
