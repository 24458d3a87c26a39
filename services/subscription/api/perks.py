"""Operators (scope subscription:admin): perk pools, the partner codes uploaded into them (never
echoed, listed or logged: counts only) and their inventory. Changes are audited."""

from __future__ import annotations

import re
import uuid

import asyncpg
import grpc

from loyalty.subscription.v1 import resources_pb2 as res
from loyalty.subscription.v1 import subscription_admin_service_pb2 as admin
from services.kit import errors, idempotency, paging, timestamps
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain.benefits import DEFAULT_LOW_INVENTORY
from ..store.perks import PoolRow
from . import access
from .base import Part

MAX_NAME = 128
MAX_PARTNER = 64
MAX_THRESHOLD = 1_000_000
MAX_CODES = 10_000
MUTABLE = ("display_name", "low_stock_threshold")
_CODE = re.compile(r"[\x20-\x7e]{1,256}")  # printable ASCII


def pool_proto(p: PoolRow) -> res.PerkPool:
    return res.PerkPool(
        perk_pool_id=str(p.perk_pool_id),
        display_name=p.display_name,
        partner=p.partner,
        uploaded_count=p.uploaded_count,
        claimed_count=p.claimed_count,
        expired_count=p.expired,
        available_count=p.available,
        low_stock_threshold=p.low_stock_threshold,
        next_expire_time=to_proto(p.next_expire_time),
        created_by=p.created_by,
        create_time=to_proto(p.create_time),
        update_time=to_proto(p.update_time),
    )


def _threshold(v: Violations, field: str, value: int) -> None:
    v.check(0 <= value <= MAX_THRESHOLD, field, f"0 to {MAX_THRESHOLD:,}")


def _cursor(raw: str | None) -> tuple[str, uuid.UUID] | None:
    """(display_name, perk_pool_id) of the last pool of the previous page."""
    if raw is None:
        return None
    name, _, pool_id = raw.rpartition("\n")
    try:
        return name, uuid.UUID(pool_id)
    except ValueError:
        raise errors.invalid([("page_token", "malformed page token")]) from None


class PerksApi(Part):
    async def CreatePerkPool(
        self, request: admin.CreatePerkPoolRequest, context: grpc.aio.ServicerContext
    ) -> admin.CreatePerkPoolResponse:
        principal = access.require_any(access.ADMIN)
        v = Violations()
        v.text("display_name", request.display_name, maximum=MAX_NAME)
        v.text("partner", request.partner, maximum=MAX_PARTNER)
        threshold = DEFAULT_LOW_INVENTORY
        if request.HasField("low_stock_threshold"):
            threshold = request.low_stock_threshold
        _threshold(v, "low_stock_threshold", threshold)
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> admin.CreatePerkPoolResponse:
            pool = await self.uc.perks.create(
                conn, request.display_name, request.partner, threshold, principal.label
            )
            await access.record(
                conn,
                principal,
                "perk_pool.create",
                pool.perk_pool_id,
                display_name=pool.display_name,
                partner=pool.partner,
                low_stock_threshold=threshold,
            )
            return admin.CreatePerkPoolResponse(pool=pool_proto(pool))

        return await idempotency.once(self.pool, request, work)

    async def UpdatePerkPool(
        self, request: admin.UpdatePerkPoolRequest, context: grpc.aio.ServicerContext
    ) -> admin.UpdatePerkPoolResponse:
        principal = access.require_any(access.ADMIN)
        errors.at_most("update_mask.paths", request.update_mask.paths, len(MUTABLE) * 2)
        v = Violations()
        pool_id = v.uuid("pool.perk_pool_id", request.pool.perk_pool_id, "a perk pool id")
        paths = list(request.update_mask.paths)
        v.check(bool(paths), "update_mask", f"name the fields to update: {', '.join(MUTABLE)}")
        name: str | None = None
        threshold: int | None = None
        for i, path in enumerate(paths):
            if path not in MUTABLE:
                v.add("update_mask", f"{path[:64]!r} cannot change; only {', '.join(MUTABLE)}")
            elif path in paths[:i]:
                v.add("update_mask", f"{path} is named twice")
            elif path == "display_name":
                v.text("pool.display_name", request.pool.display_name, maximum=MAX_NAME)
                name = request.pool.display_name
            else:
                _threshold(v, "pool.low_stock_threshold", request.pool.low_stock_threshold)
                threshold = request.pool.low_stock_threshold
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> admin.UpdatePerkPoolResponse:
            pool = await self.uc.perks.update(conn, pool_id, name, threshold)
            detail: dict[str, object] = {}
            if name is not None:
                detail["display_name"] = name
            if threshold is not None:
                detail["low_stock_threshold"] = threshold
            await access.record(conn, principal, "perk_pool.update", pool_id, **detail)
            return admin.UpdatePerkPoolResponse(pool=pool_proto(pool))

        return await idempotency.once(self.pool, request, work)

    async def UploadPerkCodes(
        self, request: admin.UploadPerkCodesRequest, context: grpc.aio.ServicerContext
    ) -> admin.UploadPerkCodesResponse:
        principal = access.require_any(access.ADMIN)
        errors.at_most("codes", request.codes, MAX_CODES, minimum=1)
        v = Violations()
        pool_id = v.uuid("perk_pool_id", request.perk_pool_id, "a perk pool id")
        for i, code in enumerate(request.codes):
            if not _CODE.fullmatch(code):  # the description never repeats the code
                v.add(f"codes[{i}]", "1 to 256 printable ASCII characters")
        expire_time = timestamps.field(v, request, "expire_time")
        if expire_time is not None:
            v.check(expire_time > self.deps.now(), "expire_time", "must be in the future")
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> admin.UploadPerkCodesResponse:
            upload = await self.uc.perks.upload(conn, pool_id, list(request.codes), expire_time)
            await access.record(
                conn,
                principal,
                "perk_pool.upload",
                pool_id,
                added=upload.added,
                duplicates=upload.duplicates,
                expire_time=expire_time.isoformat() if expire_time else None,
            )
            return admin.UploadPerkCodesResponse(
                pool=pool_proto(upload.pool),
                added_count=upload.added,
                duplicate_count=upload.duplicates,
            )

        return await idempotency.once(self.pool, request, work)

    async def GetPerkInventory(
        self, request: admin.GetPerkInventoryRequest, context: grpc.aio.ServicerContext
    ) -> admin.GetPerkInventoryResponse:
        access.require_any(access.ADMIN)
        pool_id = errors.parse_uuid(request.perk_pool_id, "perk_pool_id", "a perk pool id")
        async with self.pool.acquire() as conn:
            pool = await self.uc.perks.inventory(conn, pool_id)
        return admin.GetPerkInventoryResponse(
            pool=pool_proto(pool), as_of_time=to_proto(self.deps.now())
        )

    async def ListPerkPools(
        self, request: admin.ListPerkPoolsRequest, context: grpc.aio.ServicerContext
    ) -> admin.ListPerkPoolsResponse:
        access.require_any(access.ADMIN)
        size = paging.size(request.page_size)
        query = {"low_stock_only": request.low_stock_only}
        after = _cursor(paging.cursor(request.page_token, query))
        async with self.pool.acquire() as conn:
            pools = await self.uc.perks.listing(
                conn, after=after, limit=size + 1, low_stock_only=request.low_stock_only
            )
        pools, token = paging.page(
            pools, size, query, key=lambda p: f"{p.display_name}\n{p.perk_pool_id}"
        )
        return admin.ListPerkPoolsResponse(
            pools=[pool_proto(p) for p in pools], next_page_token=token
        )
