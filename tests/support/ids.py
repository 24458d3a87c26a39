"""Fresh ids for requests, events and subjects."""

from __future__ import annotations

import uuid


def uid() -> str:
    """A new UUID as the API and event payloads carry it."""
    return str(uuid.uuid4())
