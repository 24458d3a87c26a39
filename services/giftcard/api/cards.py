"""GetCard, ListCards, FreezeCard, UnfreezeCard, CancelCard, ReplaceCard, ExtendCardValidity;
and what the parts of the back office share for requests naming cards and approvals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import auth, idempotency, paging, timestamps
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import after_sale as after_sale_rules
from ..domain import cards as numbers
from ..domain.approvals import Role
from ..domain.refusals import FieldProblem
from ..domain.selling import ReplacementCause
from ..store.approvals import Given
from ..store.card_lists import CardFilter
from ..usecases.card_ops import CardRef
from . import access, convert
from .base import Part

MAX_TEXT = 512


class Checks(Violations):
    """Field violations, and the reason of the first one a domain rule named (the error's
    reason: CARD_NUMBER_CHECK_DIGIT rather than INVALID_ARGUMENT)."""

    def __init__(self) -> None:
        super().__init__()
        self.reason = "INVALID_ARGUMENT"

    def problem(self, problem: FieldProblem) -> None:
        if not self.items:
            self.reason = problem.reason
        self.add(problem.field, problem.description)

    def number(self, field: str, raw: str) -> str:
        """A card number as typed (spaces, dashes, full-width digits), parsed."""
        parsed = numbers.parse(raw, field)
        if isinstance(parsed, FieldProblem):
            self.problem(parsed)
            return ""
        return parsed

    def numbers(self, field: str, raws: Sequence[str]) -> list[str]:
        return [self.number(f"{field}[{i}]", raw) for i, raw in enumerate(raws)]

    def card(self, card_id: str, card_number: str) -> CardRef:
        """Exactly one of a card's id and its number."""
        if bool(card_id) == bool(card_number):
            self.add("card_id", "exactly one of card_id and card_number")
            return ""
        if card_id:
            return self.uuid("card_id", card_id, "a card id")
        return self.number("card_number", card_number)

    def reason_text(self, value: str, field: str = "reason") -> None:
        """Why an operator acts on a card: required, bounded (the domain's rule)."""
        problem = after_sale_rules.reason_problem(value, field)
        if problem:
            self.problem(problem)

    def optional_uuid(self, field: str, value: str, what: str) -> uuid.UUID | None:
        return self.uuid(field, value, what) if value else None

    def role(self, value: str) -> str:
        """An approval role, as a scope ("giftcard:manager") or bare ("manager"); "" for the
        first pending role the caller holds."""
        self.text("role", value, maximum=64, required=False)
        bare = value.removeprefix("giftcard:")
        if value and bare not in {r.value for r in Role}:
            self.add("role", f"one of {', '.join(f'giftcard:{r.value}' for r in Role)}")
        return bare

    def raise_if_any(self, reason: str = "") -> None:
        super().raise_if_any(reason or self.reason)


def approval_proto(given: Given) -> res.Approval:
    return res.Approval(
        approver=given.approval.approver,
        role=f"giftcard:{given.approval.role.value}",
        note=given.note,
        approve_time=to_proto(given.approve_time),
    )


def role_scopes(roles: frozenset[Role]) -> list[str]:
    return [f"giftcard:{r.value}" for r in sorted(roles)]


def acting_role(principal: auth.Principal, *scopes: str) -> str:
    """The first of `scopes` the caller holds: the role it acted in, for the audit trail."""
    return next((s for s in scopes if principal.has_scope(s)), "")


def approved_role(given: list[Given], approver: str) -> str:
    return next(
        (f"giftcard:{g.approval.role.value}" for g in given if g.approval.approver == approver),
        "",
    )


_CAUSES = {
    res.REPLACEMENT_CAUSE_DAMAGED: ReplacementCause.DAMAGED,
    res.REPLACEMENT_CAUSE_LOST: ReplacementCause.LOST,
}


class CardsApi(Part):
    async def GetCard(
        self, request: pb.GetCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCardResponse:
        principal = access.back_office()
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        v.raise_if_any()
        async with self.pool.acquire() as conn:
            card = await self.uc.card_ops.find(conn, ref)
            digest = self.uc.card_access.number_hash(card.card_number)
            locked = await self.uc.card_ops.locked_until(conn, digest)
        answer = convert.card_proto(card, principal)
        if locked is not None:
            answer.lock_expire_time.FromDatetime(locked)
        return pb.GetCardResponse(card=answer)

    async def ListCards(
        self, request: pb.ListCardsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCardsResponse:
        principal = access.back_office()
        v = Checks()
        v.check(request.page_size >= 0, "page_size", "must not be negative")
        where = CardFilter(
            batch_id=v.optional_uuid("batch_id", request.batch_id, "a batch id"),
            product_id=v.optional_uuid("product_id", request.product_id, "a product id"),
            state=_card_state(v, request.state),
            requisition_id=v.optional_uuid(
                "requisition_id", request.requisition_id, "a requisition id"
            ),
            sale_id=v.optional_uuid("sale_id", request.sale_id, "a sale id"),
            member_id=v.optional_uuid("member_id", request.member_id, "a member id"),
        )
        v.raise_if_any()
        query = {
            "batch_id": request.batch_id,
            "product_id": request.product_id,
            "state": int(request.state),
            "requisition_id": request.requisition_id,
            "sale_id": request.sale_id,
            "member_id": request.member_id,
        }
        size = paging.size(request.page_size)
        after = paging.cursor(request.page_token, query, str)
        async with self.pool.acquire() as conn:
            found = await self.uc.card_ops.page(conn, where, after=after, limit=size + 1)
        found, token = paging.page(found, size, query, key=lambda c: c.card_number)
        return pb.ListCardsResponse(
            cards=[convert.card_proto(c, principal) for c in found], next_page_token=token
        )

    async def FreezeCard(
        self, request: pb.FreezeCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.FreezeCardResponse:
        principal = access.require_any(access.OPERATOR)
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        v.reason_text(request.reason)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.FreezeCardResponse:
            card = await self.uc.card_ops.freeze(conn, ref, request.reason, principal.label)
            await access.record(
                conn,
                principal,
                "card.frozen",
                card.card_id,
                role=access.OPERATOR,
                reason=request.reason,
            )
            return pb.FreezeCardResponse(card=convert.card_proto(card, principal))

        return await idempotency.once(self.pool, request, work)

    async def UnfreezeCard(
        self, request: pb.UnfreezeCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnfreezeCardResponse:
        principal = access.require_any(access.OPERATOR)
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        v.reason_text(request.reason)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.UnfreezeCardResponse:
            done = await self.uc.card_ops.unfreeze(conn, ref, request.reason, principal.label)
            await access.record(
                conn,
                principal,
                "card.unfrozen",
                done.card.card_id,
                role=access.OPERATOR,
                reason=request.reason,
                state=done.card.state.value,
                expired_minor=done.expired_minor or 0,
            )
            return pb.UnfreezeCardResponse(card=convert.card_proto(done.card, principal))

        return await idempotency.once(self.pool, request, work)

    async def CancelCard(
        self, request: pb.CancelCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelCardResponse:
        principal = access.require_any(access.OPERATOR)
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        v.reason_text(request.reason)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.CancelCardResponse:
            done = await self.uc.card_ops.cancel(conn, ref, request.reason, principal.label)
            await access.record(
                conn,
                principal,
                "card.cancelled",
                done.card.card_id,
                role=access.OPERATOR,
                reason=request.reason,
                written_off_minor=done.written_off_minor,
            )
            return pb.CancelCardResponse(
                card=convert.card_proto(done.card, principal),
                written_off_minor=done.written_off_minor,
            )

        return await idempotency.once(self.pool, request, work)

    async def ReplaceCard(
        self, request: pb.ReplaceCardRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplaceCardResponse:
        principal = access.require_any(access.OPERATOR)
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        cause = _CAUSES.get(request.cause)
        v.check(cause is not None, "cause", "DAMAGED or LOST")
        new_number = v.number("new_card_number", request.new_card_number)
        v.reason_text(request.reason)
        v.raise_if_any()
        assert cause is not None

        async def work(conn: asyncpg.Connection) -> pb.ReplaceCardResponse:
            done = await self.uc.card_ops.replace(
                conn, ref, cause, new_number, request.reason, principal.label
            )
            await access.record(
                conn,
                principal,
                "card.replaced",
                done.old.card_id,
                role=access.OPERATOR,
                reason=request.reason,
                cause=cause.value,
                new_card_id=str(done.new.card_id),
                transferred_minor=done.transferred_minor,
            )
            return pb.ReplaceCardResponse(
                old_card=convert.card_proto(done.old, principal),
                new_card=convert.card_proto(done.new, principal),
                transferred_minor=done.transferred_minor,
            )

        return await idempotency.once(self.pool, request, work)

    async def ExtendCardValidity(
        self, request: pb.ExtendCardValidityRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExtendCardValidityResponse:
        principal = access.require_any(access.OPERATOR)
        v = Checks()
        ref = v.card(request.card_id, request.card_number)
        expire_time = timestamps.field(v, request, "expire_time")
        v.check(request.HasField("expire_time"), "expire_time", "required")
        v.reason_text(request.reason)
        v.raise_if_any()
        assert expire_time is not None

        async def work(conn: asyncpg.Connection) -> pb.ExtendCardValidityResponse:
            done = await self.uc.card_ops.extend(
                conn, ref, expire_time, request.reason, principal.label
            )
            previous = done.previous_expire_time
            await access.record(
                conn,
                principal,
                "card.validity_extended",
                done.card.card_id,
                role=access.OPERATOR,
                reason=request.reason,
                previous_expire_time=previous.isoformat() if previous else "",
                expire_time=expire_time.isoformat(),
            )
            return pb.ExtendCardValidityResponse(
                card=convert.card_proto(done.card, principal), restored_minor=0
            )

        return await idempotency.once(self.pool, request, work)


def _card_state(v: Violations, value: int):
    if value not in res.CardState.values():
        v.add("state", "not a card state")
        return None
    return convert.card_state_of(res.CardState.ValueType(value))
