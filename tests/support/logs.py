"""Captures every log line the services write, formatted exactly as in production."""

from __future__ import annotations

import json
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


def malformed_reason(capture: Capture, event_id: str, service: str) -> str:
    """The reason `service`'s inbox logged when it dead-lettered the event: every service
    consuming the same event (points and growth both take order.paid) logs its own."""
    for line in reversed(capture.lines):
        entry = json.loads(line)
        if (
            entry.get("event") == "event_malformed"
            and entry.get("event_id") == event_id
            and f".{service}." in f".{entry.get('consumer', '')}"
        ):
            return entry["reason"]
    raise AssertionError(f"no event_malformed logged by {service} for {event_id}")
