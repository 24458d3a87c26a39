"""Cards bound to a member's account: spent at checkout without the PIN, by their owner only.

A card is bound by someone who proved the PIN; after that the binding stands in for the PIN,
so a bound card answers only its member. When the member closes the account the cards are
unbound (they stay cards: their value is still owed to whoever holds them with the PIN).
"""

from __future__ import annotations

import uuid

from .refusals import Refusal
from .states import CardOperation, CardState, card_refusal


def bind_refusal(state: CardState, bound_to: uuid.UUID | None, member: uuid.UUID) -> Refusal | None:
    """Binding an active card (the caller proved the PIN). Binding it again to the same
    member is no change; to another member, refused (the first must unbind it)."""
    refusal = card_refusal(state, CardOperation.HOLD)
    if refusal:
        return refusal
    if bound_to is not None and bound_to != member:
        return Refusal("CARD_BOUND_TO_ANOTHER_MEMBER", "the card is bound to another account")
    return None


def use_refusal(bound_to: uuid.UUID | None, member: uuid.UUID) -> Refusal | None:
    """Spending a card by its binding (no PIN): only the member it is bound to."""
    if bound_to == member:
        return None
    return Refusal("CARD_NOT_BOUND_TO_MEMBER", "the card is not bound to this account")
