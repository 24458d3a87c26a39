"""GetBonusPolicy, SetBonusPolicy, RefundTopUp: stored value's administration (top-up bonus
tiers as data, refunds of top-ups by finance)."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import auth, errors, idempotency
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain.amounts import MAX_AMOUNT_MINOR
from ..store.top_ups import BonusPolicy
from . import access
from .base import Part
from .stored_value import stored_value_proto, top_up_proto

MAX_TIERS = 20


def policy_proto(p: BonusPolicy) -> res.BonusPolicy:
    return res.BonusPolicy(
        version=p.version,
        currency_code=p.currency_code,
        tiers=[res.BonusTier(min_top_up_minor=m, bonus_minor=b) for m, b in p.tiers],
        enabled=p.enabled,
        updated_by=p.updated_by,
        effective_time=to_proto(p.effective_time),
    )


class BonusApi(Part):
    async def GetBonusPolicy(
        self, request: pb.GetBonusPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBonusPolicyResponse:
        auth.require()
        version = request.version if request.HasField("version") else None
        if version is not None and version < 0:
            raise errors.invalid([("version", "must not be negative")])
        async with self.pool.acquire() as conn:
            found = await self.uc.stored_value.bonus_policy(conn, version)
        return pb.GetBonusPolicyResponse(policy=policy_proto(found))

    async def SetBonusPolicy(
        self, request: pb.SetBonusPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetBonusPolicyResponse:
        principal = access.require_any(access.MANAGER)
        errors.at_most("policy.tiers", request.policy.tiers, MAX_TIERS)
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        currency = self.deps.settings.currency_code
        v.check(
            request.policy.currency_code == currency,
            "policy.currency_code",
            f"stored value is in {currency}",
        )
        for i, tier in enumerate(request.policy.tiers):
            for name, value in (
                ("min_top_up_minor", tier.min_top_up_minor),
                ("bonus_minor", tier.bonus_minor),
            ):
                v.check(
                    0 < value <= MAX_AMOUNT_MINOR,
                    f"policy.tiers[{i}].{name}",
                    f"between 1 and {MAX_AMOUNT_MINOR}",
                )
        v.raise_if_any()
        tiers = [(t.min_top_up_minor, t.bonus_minor) for t in request.policy.tiers]

        async def work(conn: asyncpg.Connection) -> pb.SetBonusPolicyResponse:
            saved = await self.uc.stored_value.set_bonus_policy(
                conn, currency, tiers, request.policy.enabled, principal.label
            )
            await access.record(
                conn,
                principal,
                "bonus_policy.set",
                f"bonus_policy:{saved.version}",
                role="manager",
                tiers=[list(t) for t in tiers],
                enabled=request.policy.enabled,
            )
            return pb.SetBonusPolicyResponse(policy=policy_proto(saved))

        return await idempotency.once(self.pool, request, work)

    async def RefundTopUp(
        self, request: pb.RefundTopUpRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefundTopUpResponse:
        principal = access.require_any(access.FINANCE)
        top_up_id = errors.parse_uuid(request.top_up_id, "top_up_id", "a top-up id")
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        v.text("reason", request.reason, maximum=256)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.RefundTopUpResponse:
            done = await self.uc.stored_value.refund(
                conn, top_up_id, request.reason, principal.label
            )
            await access.record(
                conn,
                principal,
                "top_up.refund",
                top_up_id,
                role="finance",
                reason=request.reason,
                principal_minor=done.refunded_principal_minor,
            )
            value = await stored_value_proto(conn, done.member_id, done.currency_code)
            return pb.RefundTopUpResponse(top_up=top_up_proto(done), stored_value=value)

        return await idempotency.once(self.pool, request, work)
