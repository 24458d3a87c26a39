"""AIP-158 pagination: opaque page tokens bound to the query that made them.

A keyed listing reads one row more than the page (`size + 1`) after the cursor and hands the
rows to `page`, which cuts the page and makes the next token from the last row's key:

    size = paging.size(request.page_size)
    after = paging.cursor(request.page_token, query, uuid.UUID)
    rows = await store.list_members(conn, after=after, limit=size + 1, ...)
    rows, token = paging.page(rows, size, query, key=lambda m: m.member_id)
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from . import errors

DEFAULT_SIZE = 50
MAX_SIZE = 500
MAX_TOKEN_LENGTH = 1024  # a token this suite makes is far shorter; a longer one is not ours
INT64 = 2**63 - 1

T = TypeVar("T")
C = TypeVar("C", str, int, uuid.UUID)


def size(requested: int, field: str = "page_size") -> int:
    """0 means the default; larger than the maximum means the maximum; negative is refused."""
    if requested < 0:
        raise errors.invalid([(field, "must not be negative")])
    return min(requested or DEFAULT_SIZE, MAX_SIZE)


def token(cursor: object, query: dict[str, Any]) -> str:
    """The token of the page after `cursor` for this query (its filters)."""
    after = cursor if isinstance(cursor, int) else str(cursor)
    raw = json.dumps({"after": after, "query": query}, sort_keys=True, default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _malformed() -> errors.AppError:
    return errors.invalid([("page_token", "malformed page token")])


def cursor(page_token: str, query: dict[str, Any], kind: type[C] = str) -> C | None:  # type: ignore[assignment]
    """Where a page starts, as a `kind` (str, int or UUID); a malformed token, one with a
    cursor of another kind, or one from another query is refused as INVALID_ARGUMENT."""
    if not page_token:
        return None
    if len(page_token) > MAX_TOKEN_LENGTH:
        raise _malformed()
    try:
        data = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        after, made_for = data["after"], data["query"]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError) as exc:
        raise _malformed() from exc
    if made_for != json.loads(json.dumps(query, sort_keys=True, default=str)):
        raise errors.invalid([("page_token", "belongs to a query with other filters")])
    return _typed(after, kind)


def _typed(after: object, kind: type[C]) -> C:
    if kind is int:
        if type(after) is not int or not -INT64 - 1 <= after <= INT64:
            raise _malformed()
        return after  # type: ignore[return-value]
    if not isinstance(after, str) or len(after) > 256:
        raise _malformed()
    if kind is uuid.UUID:
        try:
            return uuid.UUID(after)  # type: ignore[return-value]
        except ValueError as exc:
            raise _malformed() from exc
    return after  # type: ignore[return-value]


def page(
    rows: list[T], size: int, query: dict[str, Any], key: Callable[[T], object]
) -> tuple[list[T], str]:
    """The page (the first `size` of `rows`, read as `size + 1`) and the next page's token
    (empty on the last page)."""
    if len(rows) <= size:
        return rows, ""
    rows = rows[:size]
    return rows, token(key(rows[-1]), query)
