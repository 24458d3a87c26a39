"""RedeemCode (the member, or a storefront's checkout acting for it)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_service_pb2 as pb
from services.kit import errors, idempotency, ratelimit
from services.kit.refusals import FieldProblem

from ..domain import codes
from ..usecases.codes import CodeRejected
from . import access
from .base import Part
from .convert import subscription_proto


def with_code_batches(
    subscription: res.Subscription, term_batches: dict[int, uuid.UUID]
) -> res.Subscription:
    """`subscription` with the code batch of each term a code gave (code_batch_id)."""
    for term in subscription.terms:
        if term.sequence in term_batches:
            term.code_batch_id = str(term_batches[term.sequence])
    return subscription


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
        lead = dt.timedelta(seconds=self.deps.settings.renewal_lead_seconds)

        async def work(conn: asyncpg.Connection) -> pb.RedeemCodeResponse:
            done = await self.uc.codes.redeem(conn, member_id, code)
            subscription = with_code_batches(
                subscription_proto(done.held, self.deps.now(), lead), done.term_batches
            )
            (term,) = (t for t in subscription.terms if t.sequence == done.term_sequence)
            return pb.RedeemCodeResponse(subscription=subscription, term=term)

        try:
            # The kit keeps the code out of the request's fingerprint (SECRET_FIELDS).
            return await idempotency.once(self.pool, request, work, subject=member_id)
        except CodeRejected:
            raise await self.uc.codes.rejected(member_id, caller) from None
