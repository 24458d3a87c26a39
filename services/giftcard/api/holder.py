"""CheckCardBalance, BindCard, UnbindCard, ListMemberCards, ListCardEntries, ReportCardLost,
CancelCardLossReport: the holder's side of cards."""

from __future__ import annotations

import grpc

from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from services.kit import errors
from services.kit.errors import Violations

from ..store import cards as card_store
from . import access, convert
from .base import Part
from .checkout import caller_key, card_secret


class HolderApi(Part):
    async def CheckCardBalance(
        self, request: pb.CheckCardBalanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckCardBalanceResponse:
        principal = access.member_or_checkout()
        v = Violations()
        found = card_secret(v, "card", request.card)
        v.raise_if_any()
        assert found is not None
        card_id = await self.uc.card_access.open(*found, caller_key(principal))
        async with self.pool.acquire() as conn:
            card = await card_store.get(conn, card_id)
        if card is None:  # deleted between the two reads: cards are never deleted
            raise errors.not_found("CARD", str(card_id))
        return pb.CheckCardBalanceResponse(card=convert.card_proto(card))
