"""Captures every log line the services write, formatted exactly as in production."""

from __future__ import annotations

import logging

from services.kit import logging as kit_logging


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(kit_logging.json_formatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)
