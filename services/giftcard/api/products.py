"""CreateProduct, UpdateProduct, GetProduct, ListProducts."""

from __future__ import annotations

import re
import uuid

import asyncpg
import grpc

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.kit import auth, errors, idempotency, paging
from services.kit.errors import Violations
from services.kit.timestamps import to_proto

from ..domain import products as rules
from ..domain.stock import MAX_FACE_VALUE_MINOR
from ..store.products import ProductRow
from ..usecases.products import CUSTOM, DENOMINATION, MUTABLE
from . import access
from .base import Part

MAX_CHANNELS = 20
MAX_CHANNEL = 32
MAX_NAME = 128
_CURRENCY = re.compile(r"[A-Z]{3}")
_KINDS = {res.PRODUCT_KIND_DENOMINATION: DENOMINATION, res.PRODUCT_KIND_CUSTOM: CUSTOM}


def product_proto(row: ProductRow) -> res.Product:
    return res.Product(
        product_id=str(row.product_id),
        display_name=row.display_name,
        kind=res.PRODUCT_KIND_DENOMINATION if row.kind == DENOMINATION else res.PRODUCT_KIND_CUSTOM,
        currency_code=row.currency_code,
        face_value_minor=row.face_value_minor,
        validity_months=row.validity_months,
        channels=list(row.channels),
        enabled=row.enabled,
        create_time=to_proto(row.create_time),
        update_time=to_proto(row.update_time),
    )


def currency(v: Violations, field_path: str, value: str) -> None:
    v.check(bool(_CURRENCY.fullmatch(value)), field_path, "an ISO 4217 code, e.g. CNY")


def _channels(v: Violations, values) -> tuple[str, ...]:
    channels = tuple(values)
    if len(set(channels)) != len(channels):
        v.add("product.channels", "a channel is listed once")
    if any(len(c) > MAX_CHANNEL for c in channels):
        v.add("product.channels", f"a channel code has at most {MAX_CHANNEL} characters")
    return channels


def _short(channels: tuple[str, ...]) -> frozenset[str]:
    """The channels short enough to be described in a violation (domain.products checks
    their form)."""
    return frozenset(c for c in channels if len(c) <= MAX_CHANNEL)


def _problems(v: Violations, product: rules.Product) -> None:
    for problem in rules.product_problems(product):
        v.add(f"product.{problem.field}", problem.description)


class ProductsApi(Part):
    async def CreateProduct(
        self, request: pb.CreateProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateProductResponse:
        principal = access.require_any(access.MANAGER)
        given = request.product
        errors.at_most("product.channels", given.channels, MAX_CHANNELS)
        v = Violations()
        v.text("product.display_name", given.display_name, maximum=MAX_NAME)
        kind = _KINDS.get(given.kind)
        v.check(kind is not None, "product.kind", "DENOMINATION or CUSTOM")
        currency(v, "product.currency_code", given.currency_code)
        face = given.face_value_minor
        if kind == CUSTOM:
            v.check(face == 0, "product.face_value_minor", "a CUSTOM product leaves it 0")
        elif kind == DENOMINATION and face > MAX_FACE_VALUE_MINOR:
            v.add("product.face_value_minor", f"at most {MAX_FACE_VALUE_MINOR}")
        channels = _channels(v, given.channels)
        validity = given.validity_months or rules.DEFAULT_VALIDITY_MONTHS
        face_value = face if kind == DENOMINATION and face <= MAX_FACE_VALUE_MINOR else None
        _problems(v, rules.Product("", face_value, validity, _short(channels)))
        v.raise_if_any()
        assert kind is not None

        async def work(conn: asyncpg.Connection) -> pb.CreateProductResponse:
            row = await self.uc.products.create(
                conn,
                display_name=given.display_name,
                kind=kind,
                currency_code=given.currency_code,
                face_value_minor=face,
                validity_months=validity,
                channels=channels,
                enabled=given.enabled,
                created_by=principal.label,
            )
            await access.record(
                conn,
                principal,
                "product.create",
                row.product_id,
                role=access.MANAGER,
                display_name=row.display_name,
                kind=row.kind,
                currency_code=row.currency_code,
                face_value_minor=row.face_value_minor,
                validity_months=row.validity_months,
                channels=list(row.channels),
                enabled=row.enabled,
            )
            return pb.CreateProductResponse(product=product_proto(row))

        return await idempotency.once(self.pool, request, work)

    async def UpdateProduct(
        self, request: pb.UpdateProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateProductResponse:
        principal = access.require_any(access.MANAGER)
        given = request.product
        errors.at_most("product.channels", given.channels, MAX_CHANNELS)
        errors.at_most("update_mask.paths", request.update_mask.paths, len(MUTABLE) * 2)
        v = Violations()
        product_id = v.uuid("product.product_id", given.product_id, "a product id")
        paths = list(request.update_mask.paths)
        v.check(bool(paths), "update_mask", f"name the fields to update: {', '.join(MUTABLE)}")
        changes: dict[str, object] = {}
        for path in paths:
            if path not in MUTABLE:
                v.add("update_mask", f"{path[:64]!r} cannot change; only {', '.join(MUTABLE)}")
            elif path in changes:
                v.add("update_mask", f"{path} is named twice")
            elif path == "display_name":
                v.text("product.display_name", given.display_name, maximum=MAX_NAME)
                changes[path] = given.display_name
            elif path == "channels":
                changes[path] = _channels(v, given.channels)
            elif path == "validity_months":
                changes[path] = given.validity_months
            else:
                changes[path] = given.enabled
        v.raise_if_any()

        async def work(conn: asyncpg.Connection) -> pb.UpdateProductResponse:
            before, after = await self.uc.products.update(conn, product_id, changes)
            await access.record(
                conn,
                principal,
                "product.update",
                product_id,
                role=access.MANAGER,
                changed={
                    name: {"from": _plain(getattr(before, name)), "to": _plain(value)}
                    for name, value in changes.items()
                },
            )
            return pb.UpdateProductResponse(product=product_proto(after))

        return await idempotency.once(self.pool, request, work)

    async def GetProduct(
        self, request: pb.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProductResponse:
        auth.require()
        product_id = errors.parse_uuid(request.product_id, "product_id", "a product id")
        return pb.GetProductResponse(product=product_proto(await self.uc.products.get(product_id)))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProductsResponse:
        auth.require()
        query = {"enabled_only": request.enabled_only}
        size = paging.size(request.page_size)
        after = _cursor(paging.cursor(request.page_token, query))
        rows = await self.uc.products.listed(
            after=after, limit=size + 1, enabled_only=request.enabled_only
        )
        rows, token = paging.page(
            rows, size, query, key=lambda p: f"{p.display_name}\n{p.product_id}"
        )
        return pb.ListProductsResponse(
            products=[product_proto(p) for p in rows], next_page_token=token
        )


def _cursor(raw: str | None) -> tuple[str, uuid.UUID] | None:
    """(display name, product id) of the last product of the previous page."""
    if raw is None:
        return None
    name, _, product_id = raw.rpartition("\n")
    try:
        return name, uuid.UUID(product_id)
    except ValueError:
        raise errors.invalid([("page_token", "malformed page token")]) from None


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
