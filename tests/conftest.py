"""Fixtures shared by every test: logging as in production, the real broker connection."""

from __future__ import annotations

import aio_pika
import pytest

from services.kit import logging as kit_logging
from tests.support import logs, servers


@pytest.fixture(scope="session", autouse=True)
def _logging():
    kit_logging.configure("test", "INFO")


@pytest.fixture(scope="session")
def log_capture():
    import logging

    capture = logs.Capture()
    logging.getLogger().addHandler(capture)
    yield capture
    logging.getLogger().removeHandler(capture)


@pytest.fixture(scope="session")
async def amqp():
    connection = await aio_pika.connect_robust(servers.AMQP_URL)
    yield connection
    await servers.delete_exchanges(connection)  # after every app using them has stopped
    await connection.close()
