"""Time-ordered identifiers."""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    """UUIDv7: sorts by creation time, so indexes stay compact."""
    return uuid.UUID(int=uuid6.uuid7().int)


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None if it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
