"""Segmentation tags: their shape and how many a member holds."""

from __future__ import annotations

import re
from collections.abc import Iterable

TAG = re.compile(r"^[a-z0-9][a-z0-9_:.-]{0,63}$")
MAX_TAGS = 64  # per member, and per call


def tag_problem(tag: str) -> str | None:
    if not TAG.fullmatch(tag):
        return "lower-case letters, digits and _:.- only, 1 to 64 characters"
    return None


def count_after_adding(held: Iterable[str], adding: Iterable[str]) -> int:
    """A tag already held is kept once."""
    return len(set(held) | set(adding))


def too_many(count: int) -> bool:
    return count > MAX_TAGS
