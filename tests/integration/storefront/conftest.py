"""The storefront client on this run's broker, as the run's storefront user (its own broker
user where the broker can be administered: tests/support/servers.py)."""

from __future__ import annotations

import pytest

from loyalty_storefront import Storefront
from tests.support import servers

NAMES = servers.broker_settings()


@pytest.fixture
async def storefront():
    """A Storefront connected as the run's storefront user, on the run's exchanges and queues."""
    store = await Storefront.connect(
        servers.publisher_urls()["commerce"],
        source="/storefront/test",
        commerce_exchange=NAMES["commerce_exchange"],
        events_exchange=NAMES["events_exchange"],
        queue_prefix=NAMES["queue_prefix"],
    )
    yield store
    await store.close()
