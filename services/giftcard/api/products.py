"""CreateProduct, UpdateProduct, GetProduct, ListProducts."""

from __future__ import annotations

from .base import Part


class ProductsApi(Part):
    pass
