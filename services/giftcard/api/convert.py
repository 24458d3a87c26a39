"""Shared conversions between giftcard's rows and the proto resources (a part converts its
own resources itself; cards are everyone's)."""

from __future__ import annotations

import uuid

from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import auth
from services.kit.timestamps import to_proto

from ..domain import cards as numbers
from ..domain.states import CardState
from ..store.cards import Card
from . import access


def card_state(state: CardState) -> res.CardState.ValueType:
    return res.CardState.Value(f"CARD_STATE_{state.name}")


def card_state_of(value: res.CardState.ValueType) -> CardState | None:
    """The state a filter names (None for UNSPECIFIED)."""
    name = res.CardState.Name(value).removeprefix("CARD_STATE_")
    return None if name == "UNSPECIFIED" else CardState[name]


def text(value: uuid.UUID | None) -> str:
    return str(value) if value is not None else ""


def card_proto(card: Card, viewer: auth.Principal | None = None) -> res.Card:
    """A card as `viewer` may see it: the full number only for operators allowed to."""
    return res.Card(
        card_id=str(card.card_id),
        card_number=card.card_number if access.sees_numbers(viewer) else "",
        masked_card_number=numbers.mask(card.card_number),
        product_id=str(card.product_id),
        batch_id=text(card.batch_id),
        state=card_state(card.state),
        currency_code=card.currency_code,
        face_value_minor=card.face_value_minor,
        balance_minor=card.balance_minor,
        held_minor=card.held_minor,
        has_consumption=card.has_consumption,
        expire_time=to_proto(card.expire_time),
        member_id=text(card.member_id),
        bind_time=to_proto(card.bind_time),
        requisition_id=text(card.requisition_id),
        sale_id=text(card.sale_id),
        after_sale_id=text(card.after_sale_id),
        replaces_card_id=text(card.replaces_card_id),
        replaced_by_card_id=text(card.replaced_by_card_id),
        state_reason=card.state_reason,
        create_time=to_proto(card.create_time),
        activate_time=to_proto(card.activate_time),
        update_time=to_proto(card.update_time),
    )
