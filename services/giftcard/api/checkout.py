"""PlaceHolds, CaptureHold, ReleaseHold, GetHold, GetOrder: checkout on cards and stored value.
A storefront's service client (giftcard:checkout) acts for the member it names; a member's own
token acts for itself (its bound cards, its stored value, cards by number and PIN)."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from services.kit import auth, errors, idempotency
from services.kit.errors import Violations

from ..domain import cards as numbers
from ..domain import pins
from ..domain.amounts import MAX_AMOUNT_MINOR
from ..domain.holds import ReleaseReason
from ..domain.refusals import FieldProblem
from ..store import holds as hold_store
from ..usecases.holds import BOUND_CARD, CARD_SECRET, STORED_VALUE, Source
from . import access, views
from .base import Part

MAX_SOURCES = 10
_KINDS = {
    res.HOLD_SOURCE_KIND_CARD_SECRET: CARD_SECRET,
    res.HOLD_SOURCE_KIND_BOUND_CARD: BOUND_CARD,
    res.HOLD_SOURCE_KIND_STORED_VALUE: STORED_VALUE,
}


def caller_key(principal: auth.Principal) -> str:
    return principal.label[:200]


def card_secret(v: Violations, path: str, secret: pb.CardSecret) -> tuple[str, str] | None:
    """The card number and PIN of a request, or violations (their format tells nothing)."""
    number = numbers.parse(secret.card_number, f"{path}.card_number")
    pin = pins.parse(secret.pin, f"{path}.pin")
    for parsed in (number, pin):
        if isinstance(parsed, FieldProblem):
            v.add(parsed.field, parsed.description)
    if isinstance(number, FieldProblem) or isinstance(pin, FieldProblem):
        return None
    return number, pin


def check_amount(v: Violations, path: str, amount: int) -> None:
    v.check(0 < amount <= MAX_AMOUNT_MINOR, path, f"between 1 and {MAX_AMOUNT_MINOR}")


def check_currency(v: Violations, path: str, code: str) -> None:
    v.check(len(code) == 3 and code.isascii() and code.isupper(), path, "an ISO 4217 code")


class CheckoutApi(Part):
    async def PlaceHolds(
        self, request: pb.PlaceHoldsRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlaceHoldsResponse:
        principal = access.member_or_checkout()
        errors.at_most("sources", request.sources, MAX_SOURCES, minimum=1)
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        v.text("order_id", request.order_id, maximum=128)
        v.text("channel", request.channel, maximum=32)
        check_currency(v, "currency_code", request.currency_code)
        check_amount(v, "order_amount_minor", request.order_amount_minor)
        member_id = None
        if request.member_id:
            member_id = v.uuid("member_id", request.member_id, "a member id")
        if principal.kind == "member":
            if member_id is None:
                member_id = uuid.UUID(principal.subject)
            elif str(member_id) != principal.subject:
                raise errors.permission_denied("NOT_OWNER", "a member may act only on itself")
        secrets: dict[int, tuple[str, str]] = {}
        drafts: list[tuple[str, int, uuid.UUID | None]] = []
        for i, source in enumerate(request.sources):
            path = f"sources[{i}]"
            kind = _KINDS.get(source.kind)
            check_amount(v, f"{path}.amount_minor", source.amount_minor)
            card_id = None
            if kind is None:
                v.add(f"{path}.kind", "CARD_SECRET, BOUND_CARD or STORED_VALUE")
            elif kind == CARD_SECRET:
                found = card_secret(v, f"{path}.card", source.card)
                if found:
                    secrets[i] = found
            elif kind == BOUND_CARD:
                card_id = v.uuid(f"{path}.card_id", source.card_id, "a card id")
                v.check(member_id is not None, "member_id", "required for a bound card")
            else:
                v.check(member_id is not None, "member_id", "required for stored value")
            drafts.append((kind or "", source.amount_minor, card_id))
        v.check(
            sum(a for _, a, _ in drafts) <= request.order_amount_minor,
            "sources",
            "the amounts add up to more than order_amount_minor",
        )
        v.raise_if_any()
        # Card secrets are judged first, each on its own (a wrong one is counted even though
        # nothing is held).
        opened: dict[int, uuid.UUID] = {}
        for i, (number, pin) in secrets.items():
            opened[i] = await self.uc.card_access.open(number, pin, caller_key(principal))
        sources = [
            Source(kind, amount, opened.get(i, card_id))
            for i, (kind, amount, card_id) in enumerate(drafts)
        ]

        async def work(conn: asyncpg.Connection) -> pb.PlaceHoldsResponse:
            made = await self.uc.holds.place(
                conn,
                order_id=request.order_id,
                member_id=member_id,
                currency_code=request.currency_code,
                order_amount_minor=request.order_amount_minor,
                channel=request.channel,
                sources=sources,
                placed_by=principal.label,
            )
            return pb.PlaceHoldsResponse(holds=[await views.hold(conn, h) for h in made])

        return await idempotency.once(self.pool, request, work)

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.CaptureHoldResponse:
        principal = access.require_any(access.CHECKOUT)
        hold_id = errors.parse_uuid(request.hold_id, "hold_id", "a hold id")

        async def work(conn: asyncpg.Connection) -> pb.CaptureHoldResponse:
            hold = await hold_store.lock(conn, hold_id)
            if hold is None:
                raise errors.not_found("HOLD", str(hold_id))
            txn = await self.uc.holds.capture(conn, hold, on_time_only=True, actor=principal.label)
            captured = await hold_store.get(conn, hold_id)
            assert captured is not None
            return pb.CaptureHoldResponse(
                transaction_id=str(txn), hold=await views.hold(conn, captured)
            )

        return await idempotency.once(self.pool, request, work)

    async def ReleaseHold(
        self, request: pb.ReleaseHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseHoldResponse:
        principal = access.member_or_checkout()
        hold_id = errors.parse_uuid(request.hold_id, "hold_id", "a hold id")

        async def work(conn: asyncpg.Connection) -> pb.ReleaseHoldResponse:
            hold = await hold_store.lock(conn, hold_id)
            if hold is None or not principal.owns(hold.member_id):
                raise errors.not_found("HOLD", str(hold_id))
            await self.uc.holds.release(conn, hold, ReleaseReason.REQUESTED, principal.label)
            released = await hold_store.get(conn, hold_id)
            assert released is not None
            return pb.ReleaseHoldResponse(hold=await views.hold(conn, released))

        return await idempotency.once(self.pool, request, work)

    async def GetHold(
        self, request: pb.GetHoldRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHoldResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.FINANCE)
        hold_id = errors.parse_uuid(request.hold_id, "hold_id", "a hold id")
        async with self.pool.acquire() as conn:
            hold = await hold_store.get(conn, hold_id)
            if hold is None or not principal.owns(hold.member_id):
                raise errors.not_found("HOLD", str(hold_id))
            return pb.GetHoldResponse(hold=await views.hold(conn, hold))

    async def GetOrder(
        self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOrderResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.FINANCE)
        v = Violations()
        v.text("order_id", request.order_id, maximum=128)
        v.raise_if_any()
        async with self.pool.acquire() as conn:
            order = await views.order(conn, request.order_id)
        if order is None or (principal.kind == "member" and order.member_id != principal.subject):
            raise errors.not_found("ORDER", request.order_id)
        return pb.GetOrderResponse(order=order)
