"""StartTrial, CancelSubscription, ResumeSubscription."""

from __future__ import annotations

from .base import Part


class ChoicesApi(Part):
    pass
