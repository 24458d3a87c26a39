"""The storefront's side of the loyalty suite's events: publish commerce events with the
suite's envelope as the storefront's broker user, and read the suite's events as proto
messages. The payload messages are the suite's contract, generated from its `proto/`
(`loyalty.commerce.v1`, `loyalty.growth.v1`, …)."""

from .client import NotRouted, Storefront, Subscription, SuiteEvent, subject_of
from .envelope import COMMERCE_PACKAGE, Envelope, PayloadError, type_of

__all__ = [
    "COMMERCE_PACKAGE",
    "Envelope",
    "NotRouted",
    "PayloadError",
    "Storefront",
    "Subscription",
    "SuiteEvent",
    "subject_of",
    "type_of",
]
