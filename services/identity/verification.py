"""Real-name verification port: the default checks format only; production plugs a real verifier."""

from __future__ import annotations

from typing import Protocol

from .domain import id_number


class RealNameVerifier(Protocol):
    async def problem(self, legal_name: str, number: str) -> str | None:
        """Why the name and number do not verify, or None when they do."""


class FormatVerifier:
    """Accepts any well-formed number: the format and check character (checked by the caller)
    are the only checks."""

    async def problem(self, legal_name: str, number: str) -> str | None:
        return id_number.problem(number)
