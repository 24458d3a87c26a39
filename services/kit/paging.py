"""AIP-158 pagination: opaque page tokens bound to the query that made them."""

from __future__ import annotations

import base64
import binascii
import json

from . import errors

DEFAULT_SIZE = 50
MAX_SIZE = 500


def size(requested: int, field: str = "page_size") -> int:
    """0 means the default; larger than the maximum means the maximum; negative is refused."""
    if requested < 0:
        raise errors.invalid([(field, "must not be negative")])
    return min(requested or DEFAULT_SIZE, MAX_SIZE)


def token(cursor: str, query: dict) -> str:
    """The token of the page after `cursor` for this query (its filters)."""
    raw = json.dumps({"after": cursor, "query": query}, sort_keys=True, default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode()


def cursor(page_token: str, query: dict) -> str | None:
    """Where a page starts; a malformed token, or one from another query, is refused."""
    if not page_token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        after, made_for = data["after"], data["query"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise errors.invalid([("page_token", "malformed page token")]) from exc
    if made_for != json.loads(json.dumps(query, sort_keys=True, default=str)):
        raise errors.invalid([("page_token", "belongs to a query with other filters")])
    return after
