"""RedeemCode (the member, or a storefront's checkout acting for it)."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import errors, idempotency, ratelimit
from services.kit.refusals import FieldProblem

from ..domain import codes
from ..usecases.codes import CodeRejected
from . import access
from .base import Part
from .views import subscription_view


class CodesApi(Part):
    async def RedeemCode(
        self, request: pb.RedeemCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RedeemCodeResponse:
        member_id = access.member_target(request.member_id, access.CHECKOUT)
        principal = access.member_or_scope(access.CHECKOUT)
        code = codes.parse(request.code)  # a typo is told as such, and is not an attempt
        if isinstance(code, FieldProblem):
            raise errors.invalid_field(code)
        caller = ratelimit.source(context.peer(), principal)
        await self.uc.codes.admit(member_id, caller)

        async def work(conn: asyncpg.Connection) -> pb.RedeemCodeResponse:
            done = await self.uc.codes.redeem(conn, member_id, code)
            subscription = await subscription_view(self.uc, conn, done.held)
            (term,) = (t for t in subscription.terms if t.sequence == done.term_sequence)
            return pb.RedeemCodeResponse(subscription=subscription, term=term)

        try:
            # The kit keeps the code out of the request's fingerprint (SECRET_FIELDS).
            return await idempotency.once(self.pool, request, work, subject=member_id)
        except CodeRejected:
            raise await self.uc.codes.rejected(member_id, caller) from None
