"""CheckCardBalance, BindCard, UnbindCard, ListMemberCards, ListCardEntries, ReportCardLost,
CancelCardLossReport: the holder's side of cards."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging, timestamps
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import accounts as acc
from ..domain import cards as numbers
from ..domain import pins
from ..domain.refusals import FieldProblem
from ..store import cards as card_store
from ..store import holder as holder_store
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

    async def BindCard(
        self, request: pb.BindCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.BindCardResponse:
        principal = access.member_or_checkout()
        member_id = _member(request.member_id)
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        found = card_secret(v, "card", request.card)
        v.raise_if_any()
        assert found is not None
        card_id = await self.uc.card_access.open(*found, caller_key(principal))

        async def work(conn: asyncpg.Connection) -> pb.BindCardResponse:
            card = await self.uc.wallet.bind(conn, card_id, member_id)
            return pb.BindCardResponse(card=convert.card_proto(card))

        return await idempotency.once(self.pool, request, work)

    async def UnbindCard(
        self, request: pb.UnbindCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnbindCardResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.OPERATOR)
        card_id = errors.parse_uuid(request.card_id, "card_id", "a card id")
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.UnbindCardResponse:
            card = await self.uc.wallet.unbind(conn, card_id, principal.owns)
            return pb.UnbindCardResponse(card=convert.card_proto(card, principal))

        return await idempotency.once(self.pool, request, work)

    async def ListMemberCards(
        self, request: pb.ListMemberCardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMemberCardsResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.OPERATOR)
        member_id = _member(request.member_id)
        size = paging.size(request.page_size)
        state = convert.card_state_of(request.state) if request.state else None
        query = {"member": str(member_id), "state": state.value if state else ""}
        after = paging.cursor(request.page_token, query, str)
        cursor = _bound_cursor(after) if after else None
        async with self.pool.acquire() as conn:
            rows = await holder_store.member_cards(
                conn, member_id, state.value if state else None, cursor, size + 1
            )
        rows, token = paging.page(
            rows, size, query, lambda c: f"{(c.bind_time or _EPOCH).isoformat()}|{c.card_id}"
        )
        return pb.ListMemberCardsResponse(
            cards=[convert.card_proto(c, principal) for c in rows], next_page_token=token
        )

    async def ListCardEntries(
        self, request: pb.ListCardEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCardEntriesResponse:
        principal = access.member_or_scope(access.OPERATOR, access.FINANCE)
        card_id = errors.parse_uuid(request.card_id, "card_id", "a card id")
        v = Violations()
        start = timestamps.field(v, request, "start_time")
        end = timestamps.field(v, request, "end_time")
        v.raise_if_any()
        size = paging.size(request.page_size)
        kind = _ENTRY_KINDS_BY_VALUE.get(request.kind) if request.kind else None
        query = {
            "card": str(card_id),
            "kind": int(request.kind),
            "start": str(start),
            "end": str(end),
        }
        before = paging.cursor(request.page_token, query, int)
        async with self.pool.acquire() as conn:
            card = await card_store.get(conn, card_id)
            if card is None:
                raise errors.not_found("CARD", str(card_id))
            if principal.kind == "member" and (
                card.member_id is None or not principal.owns(card.member_id)
            ):
                raise errors.not_found("CARD_NOT_BOUND", str(card_id))
            rows = await holder_store.card_entries(
                conn, card_id, kind, start, end, before, size + 1
            )
        rows, token = paging.page(rows, size, query, lambda e: e.posting_id)
        return pb.ListCardEntriesResponse(
            entries=[
                res.CardEntry(
                    entry_id=str(e.posting_id),
                    transaction_id=str(e.txn_id),
                    card_id=str(card_id),
                    kind=_ENTRY_KINDS.get(e.entry_kind, res.CARD_ENTRY_KIND_UNSPECIFIED),
                    bucket=(
                        res.CARD_BUCKET_HELD
                        if e.account == acc.CARD_HELD
                        else res.CARD_BUCKET_AVAILABLE
                    ),
                    amount_minor=e.amount,
                    reference=e.reference,
                    reason=e.reason,
                    actor=e.actor if principal.kind != "member" else "",
                    create_time=to_proto(e.created_at),
                )
                for e in rows
            ],
            next_page_token=token,
        )

    async def ReportCardLost(
        self, request: pb.ReportCardLostRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportCardLostResponse:
        principal = access.member_or_scope(access.OPERATOR)
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        v.text("reason", request.reason, maximum=256, required=principal.kind != "member")
        v.raise_if_any()
        by_member = principal.kind == "member"

        async def work(conn: asyncpg.Connection) -> pb.ReportCardLostResponse:
            card = await self._target(conn, request.card_id, request.card_number, principal)
            done = await self.uc.wallet.report_lost(conn, card, by_member, principal.label)
            await access.record(
                conn, principal, "card.report_lost", card.card_id, reason=request.reason
            )
            return pb.ReportCardLostResponse(card=convert.card_proto(done, principal))

        return await idempotency.once(self.pool, request, work)

    async def CancelCardLossReport(
        self, request: pb.CancelCardLossReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelCardLossReportResponse:
        principal = access.member_or_scope(access.OPERATOR)
        by_member = principal.kind == "member"
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        pin = None
        if by_member:
            parsed = pins.parse(request.pin)
            if isinstance(parsed, FieldProblem):
                v.add(parsed.field, parsed.description)
            else:
                pin = parsed
        else:
            v.text("reason", request.reason, maximum=256)
        v.raise_if_any()
        if pin is not None:  # the member proves the card is back in hand
            async with self.pool.acquire() as conn:
                card = await self._target(conn, request.card_id, request.card_number, principal)
            await self.uc.card_access.open(card.card_number, pin, caller_key(principal))

        async def work(conn: asyncpg.Connection) -> pb.CancelCardLossReportResponse:
            card = await self._target(conn, request.card_id, request.card_number, principal)
            done = await self.uc.wallet.cancel_loss_report(conn, card, by_member)
            await access.record(
                conn, principal, "card.cancel_loss_report", card.card_id, reason=request.reason
            )
            return pb.CancelCardLossReportResponse(card=convert.card_proto(done, principal))

        return await idempotency.once(self.pool, request, work)

    async def _target(self, conn, raw_id: str, raw_number: str, principal):
        """The card a loss report is about, locked: a member names its bound card by id; an
        operator by id or number."""
        if raw_id or principal.kind == "member":
            card_id = errors.parse_uuid(raw_id, "card_id", "a card id")
            card = await card_store.lock(conn, card_id)
        else:
            number = numbers.parse(raw_number)
            if isinstance(number, FieldProblem):
                raise errors.invalid_field(number)
            card = await card_store.by_number(conn, number, for_update=True)
        if card is None:
            raise errors.not_found("CARD", raw_id or "by number")
        if principal.kind == "member" and (
            card.member_id is None or not principal.owns(card.member_id)
        ):
            raise errors.not_found("CARD_NOT_BOUND", str(card.card_id))
        return card


_ENTRY_KINDS = {
    acc.LOAD: res.CARD_ENTRY_KIND_LOAD,
    acc.LOAD_REVERSAL: res.CARD_ENTRY_KIND_LOAD_REVERSAL,
    acc.HOLD: res.CARD_ENTRY_KIND_HOLD,
    acc.HOLD_RELEASE: res.CARD_ENTRY_KIND_HOLD_RELEASE,
    acc.HOLD_CAPTURE: res.CARD_ENTRY_KIND_HOLD_CAPTURE,
    acc.REDEMPTION_RETURN: res.CARD_ENTRY_KIND_REDEMPTION_RETURN,
    acc.CARD_REFUND: res.CARD_ENTRY_KIND_CARD_REFUND,
    acc.EXCHANGE: res.CARD_ENTRY_KIND_EXCHANGE,
    acc.TRANSFER_OUT: res.CARD_ENTRY_KIND_TRANSFER_OUT,
    acc.TRANSFER_IN: res.CARD_ENTRY_KIND_TRANSFER_IN,
    acc.EXPIRE: res.CARD_ENTRY_KIND_EXPIRE,
    acc.EXPIRY_REVERSAL: res.CARD_ENTRY_KIND_EXPIRY_REVERSAL,
    acc.CANCEL: res.CARD_ENTRY_KIND_CANCEL,
}
_ENTRY_KINDS_BY_VALUE = {value: kind for kind, value in _ENTRY_KINDS.items()}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # bound cards always have a bind time


def _member(raw: str) -> uuid.UUID:
    member_id = errors.parse_uuid(raw)
    if not auth.require().owns(member_id):
        raise errors.permission_denied("NOT_OWNER", "a member may act only on itself")
    return member_id


def _bound_cursor(after: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        when, card_id = after.split("|")
        return dt.datetime.fromisoformat(when), uuid.UUID(card_id)
    except ValueError:
        raise errors.invalid([("page_token", "not a token of this listing")]) from None
