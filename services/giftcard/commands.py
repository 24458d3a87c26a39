"""The operating commands of giftcard (beside the kit's `serve`, `migrate`, `dead-letters`)."""

from __future__ import annotations

from services.kit.service import Command

COMMANDS: dict[str, Command] = {}
