"""PlaceHolds, CaptureHold, ReleaseHold, GetHold, GetOrder."""

from __future__ import annotations

from .base import Part


class CheckoutApi(Part):
    pass
