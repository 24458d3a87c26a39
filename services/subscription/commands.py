"""The operating commands of subscription (beside the kit's `serve`, `migrate`,
`dead-letters`): none yet."""

from __future__ import annotations

from services.kit.service import Command

COMMANDS: dict[str, Command] = {}
