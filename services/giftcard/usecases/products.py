"""Card products (denomination or custom amount, validity, channels)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from services.kit import errors, ids

from ..deps import GiftcardDeps
from ..domain import products as rules
from ..store import products as store
from ..store.products import ProductRow

DENOMINATION, CUSTOM = "denomination", "custom"
# What UpdateProduct may change; the rest (kind, currency, face value) is fixed at creation.
MUTABLE = ("display_name", "validity_months", "channels", "enabled")


def domain_product(row: ProductRow) -> rules.Product:
    return rules.Product(
        str(row.product_id),
        row.face_value_minor if row.kind == DENOMINATION else None,
        row.validity_months,
        frozenset(row.channels),
    )


class Products:
    def __init__(self, deps: GiftcardDeps) -> None:
        self.deps = deps

    async def create(
        self,
        conn,
        *,
        display_name: str,
        kind: str,
        currency_code: str,
        face_value_minor: int,
        validity_months: int,
        channels: tuple[str, ...],
        enabled: bool,
        created_by: str,
    ) -> ProductRow:
        """A new product (the caller validated the request against domain.products)."""
        now = self.deps.now()
        return await store.insert(
            conn,
            ProductRow(
                product_id=ids.new_id(),
                display_name=display_name,
                kind=kind,
                currency_code=currency_code,
                face_value_minor=face_value_minor if kind == DENOMINATION else 0,
                validity_months=validity_months,
                channels=channels,
                enabled=enabled,
                created_by=created_by,
                create_time=now,
                update_time=now,
            ),
        )

    async def required(self, conn, product_id: uuid.UUID, *, for_update: bool = False):
        product = await store.get(conn, product_id, for_update=for_update)
        if product is None:
            raise errors.not_found("PRODUCT", str(product_id))
        return product

    async def update(
        self, conn, product_id: uuid.UUID, changes: dict[str, object]
    ) -> tuple[ProductRow, ProductRow]:
        """(before, after): the fields of `changes` (a subset of MUTABLE) set, checked again
        against the product's rules as a whole."""
        before = await self.required(conn, product_id, for_update=True)
        after = replace(before, **changes)
        problems = rules.product_problems(domain_product(after))
        if problems:
            raise errors.invalid([(f"product.{p.field}", p.description) for p in problems])
        stored = await store.update(
            conn,
            product_id,
            display_name=after.display_name,
            validity_months=after.validity_months,
            channels=after.channels,
            enabled=after.enabled,
            now=self.deps.now(),
        )
        return before, stored

    async def get(self, product_id: uuid.UUID) -> ProductRow:
        async with self.deps.pool.acquire() as conn:
            return await self.required(conn, product_id)

    async def listed(
        self, *, after: tuple[str, uuid.UUID] | None, limit: int, enabled_only: bool
    ) -> list[ProductRow]:
        async with self.deps.pool.acquire() as conn:
            return await store.listed(conn, after=after, limit=limit, enabled_only=enabled_only)
