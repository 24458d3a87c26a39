"""Time-ordered identifiers."""

from __future__ import annotations

import re
import uuid

import uuid6

# What a caller's or a publisher's identifier (request id, event id) may look like to be logged
# and stored as it is: bounded, printable, no spaces (UUIDs, ULIDs, "order-42:refund/1").
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:/@+=-]{1,128}")


def new_id() -> uuid.UUID:
    """UUIDv7: sorts by creation time, so indexes stay compact."""
    return uuid.UUID(int=uuid6.uuid7().int)


def parse_id(value: str) -> uuid.UUID | None:
    """The UUID in `value`, or None if it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def identifier(value: str) -> str | None:
    """`value` if it is a well-formed identifier (see _IDENTIFIER), else None."""
    return value if _IDENTIFIER.fullmatch(value) else None


def excerpt(value: str, length: int = 64) -> str:
    """A bounded, printable excerpt of an untrusted value, for a log line about it."""
    return ascii(value[:length]) + (f"…(+{len(value) - length})" if len(value) > length else "")
