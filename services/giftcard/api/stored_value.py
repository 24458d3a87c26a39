"""GetStoredValue, ListStoredValueEntries, CreateTopUp, ConfirmTopUp, GetTopUp: a member's
stored value (余额) and its top-ups (充值)."""

from __future__ import annotations

import asyncpg
import grpc

from loyalty.giftcard.v1 import resources_pb2 as res
from loyalty.giftcard.v1 import wallet_service_pb2 as pb
from services.kit import auth, errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import accounts as acc
from ..store import members as member_store
from ..store import sv_entries
from ..store import top_ups as top_up_store
from ..store.top_ups import TopUp
from . import access
from .base import Part
from .checkout import check_amount

_TOP_UP_STATES = {
    "pending": res.TOP_UP_STATE_PENDING,
    "confirmed": res.TOP_UP_STATE_CONFIRMED,
    "failed": res.TOP_UP_STATE_FAILED,
    "refunded": res.TOP_UP_STATE_REFUNDED,
}


def top_up_proto(t: TopUp) -> res.TopUp:
    return res.TopUp(
        top_up_id=str(t.top_up_id),
        member_id=str(t.member_id),
        currency_code=t.currency_code,
        amount_minor=t.amount_minor,
        bonus_minor=t.bonus_minor,
        bonus_policy_version=t.bonus_policy_version or 0,
        state=_TOP_UP_STATES[t.state],
        payment_reference=t.payment_reference,
        refunded_minor=t.refunded_principal_minor,
        bonus_revoked_minor=t.clawed_back_bonus_minor,
        refund_reason=t.refund_reason,
        failure_reason=t.failure_reason,
        create_time=to_proto(t.create_time),
        confirm_time=to_proto(t.confirm_time),
        close_time=to_proto(t.close_time),
    )


async def stored_value_proto(conn, member_id, currency_code: str) -> res.StoredValue:
    account = await member_store.stored_value(conn, member_id)
    status = await member_store.status(conn, member_id)
    pending = await top_up_store.pending_total(conn, member_id)
    return res.StoredValue(
        member_id=str(member_id),
        currency_code=account.currency_code if account else currency_code,
        principal_minor=account.principal_minor if account else 0,
        bonus_minor=account.bonus_minor if account else 0,
        held_minor=(account.held_principal_minor + account.held_bonus_minor) if account else 0,
        pending_top_up_minor=pending,
        member_closed=status == "closed",
    )


_ENTRY_KINDS = {
    (acc.TOP_UP, acc.SV_PRINCIPAL): res.STORED_VALUE_ENTRY_KIND_TOP_UP,
    (acc.TOP_UP, acc.SV_BONUS): res.STORED_VALUE_ENTRY_KIND_BONUS,
    (acc.HOLD, None): res.STORED_VALUE_ENTRY_KIND_HOLD,
    (acc.HOLD_RELEASE, None): res.STORED_VALUE_ENTRY_KIND_HOLD_RELEASE,
    (acc.HOLD_CAPTURE, None): res.STORED_VALUE_ENTRY_KIND_HOLD_CAPTURE,
    (acc.REDEMPTION_RETURN, None): res.STORED_VALUE_ENTRY_KIND_REDEMPTION_RETURN,
    (acc.TOP_UP_REFUND, None): res.STORED_VALUE_ENTRY_KIND_TOP_UP_REFUND,
    (acc.BONUS_CLAWBACK, None): res.STORED_VALUE_ENTRY_KIND_BONUS_REVOKE,
}
_BUCKETS = {
    acc.SV_PRINCIPAL: res.STORED_VALUE_BUCKET_PRINCIPAL,
    acc.SV_BONUS: res.STORED_VALUE_BUCKET_BONUS,
    acc.SV_HELD_PRINCIPAL: res.STORED_VALUE_BUCKET_HELD,
    acc.SV_HELD_BONUS: res.STORED_VALUE_BUCKET_HELD,
}


def _entry_kind(kind: str, account: str) -> res.StoredValueEntryKind.ValueType:
    return _ENTRY_KINDS.get((kind, account)) or _ENTRY_KINDS.get(
        (kind, None), res.STORED_VALUE_ENTRY_KIND_UNSPECIFIED
    )


class StoredValueApi(Part):
    async def GetStoredValue(
        self, request: pb.GetStoredValueRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStoredValueResponse:
        member_id = _member(request.member_id, access.CHECKOUT, access.FINANCE)
        async with self.pool.acquire() as conn:
            value = await stored_value_proto(conn, member_id, self.deps.settings.currency_code)
        return pb.GetStoredValueResponse(stored_value=value)

    async def ListStoredValueEntries(
        self, request: pb.ListStoredValueEntriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStoredValueEntriesResponse:
        member_id = _member(request.member_id, access.CHECKOUT, access.FINANCE)
        size = paging.size(request.page_size)
        query = {"member": str(member_id), "kind": int(request.kind)}
        after = paging.cursor(request.page_token, query, int)
        async with self.pool.acquire() as conn:
            rows = await sv_entries.page(conn, member_id, after, size + 1)
        rows, token = paging.page(rows, size, query, lambda r: r.posting_id)
        entries = [
            res.StoredValueEntry(
                entry_id=str(r.posting_id),
                transaction_id=str(r.txn_id),
                kind=_entry_kind(r.entry_kind, r.account),
                bucket=_BUCKETS.get(r.account, res.STORED_VALUE_BUCKET_UNSPECIFIED),
                amount_minor=r.amount,
                reference=r.reference,
                reason=r.reason,
                create_time=to_proto(r.created_at),
            )
            for r in rows
        ]
        if request.kind:
            entries = [e for e in entries if e.kind == request.kind]
        return pb.ListStoredValueEntriesResponse(entries=entries, next_page_token=token)

    async def CreateTopUp(
        self, request: pb.CreateTopUpRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTopUpResponse:
        principal = auth.require_owner_or_scope(access.CHECKOUT)
        member_id = _member(request.member_id, access.CHECKOUT)
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        maximum = self.deps.settings.max_top_up_minor
        v.check(0 < request.amount_minor <= maximum, "amount_minor", f"between 1 and {maximum}")
        currency = self.deps.settings.currency_code
        v.check(
            request.currency_code == currency, "currency_code", f"stored value is in {currency}"
        )
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.CreateTopUpResponse:
            made = await self.uc.stored_value.create(
                conn, member_id, request.currency_code, request.amount_minor, principal.label
            )
            return pb.CreateTopUpResponse(top_up=top_up_proto(made))

        return await idempotency.once(self.pool, request, work)

    async def ConfirmTopUp(
        self, request: pb.ConfirmTopUpRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmTopUpResponse:
        principal = access.require_any(access.CHECKOUT, access.FINANCE)
        top_up_id = errors.parse_uuid(request.top_up_id, "top_up_id", "a top-up id")
        v = Violations()
        v.text("request_id", request.request_id, maximum=128)
        v.text("payment_reference", request.payment_reference, maximum=128)
        check_amount(v, "amount_minor", request.amount_minor)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.ConfirmTopUpResponse:
            done = await self.uc.stored_value.confirm(
                conn, top_up_id, request.payment_reference, request.amount_minor, principal.label
            )
            value = await stored_value_proto(conn, done.member_id, done.currency_code)
            return pb.ConfirmTopUpResponse(top_up=top_up_proto(done), stored_value=value)

        return await idempotency.once(self.pool, request, work)

    async def GetTopUp(
        self, request: pb.GetTopUpRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTopUpResponse:
        principal = access.member_or_scope(access.CHECKOUT, access.FINANCE)
        top_up_id = errors.parse_uuid(request.top_up_id, "top_up_id", "a top-up id")
        async with self.pool.acquire() as conn:
            found = await top_up_store.get(conn, top_up_id)
        if found is None or not principal.owns(found.member_id):
            raise errors.not_found("TOP_UP", str(top_up_id))
        return pb.GetTopUpResponse(top_up=top_up_proto(found))


def _member(raw: str, *scopes: str):
    """The member a call is about: a member only itself; others need one of `scopes`."""
    access.member_or_scope(*scopes)
    member_id = errors.parse_uuid(raw)
    principal = auth.require()
    if not principal.owns(member_id):
        raise errors.permission_denied("NOT_OWNER", "a member may act only on itself")
    return member_id
