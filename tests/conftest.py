"""Fixtures shared by every test: logging as in production, the real broker connection."""

from __future__ import annotations

import asyncio
import os
import sys

import aio_pika
import pytest

from services.kit import logging as kit_logging
from tests.support import logs, servers


@pytest.fixture(scope="session", autouse=True)
async def _no_task_outlives_the_run(request):
    """Tasks still running once every fixture has stopped (a client or server some test left
    behind) are cancelled and awaited here, named on stderr. One that does not end within
    10 s would hang the event loop's close for ever (seen once, intermittently, at the very
    end of a full run): its stack is printed and the run ends with its real outcome instead."""
    yield
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if not left:
        return
    # The real stderr: pytest captures a fixture's output, and what it holds is lost on _exit.
    err = sys.__stderr__ or sys.stderr
    for task in left:
        print(f"task left running at the end of the run: {task!r}", file=err)
        task.cancel()
    _, stuck = await asyncio.wait(left, timeout=10)
    if stuck:
        for task in stuck:
            print(f"task that ignores cancellation: {task!r}", file=err)
            task.print_stack(file=err)
        session = request.session
        failed = session.testsfailed
        print(
            f"ending the run here (pytest's summary is skipped): {session.testscollected}"
            f" collected, {failed} failed",
            file=err,
        )
        err.flush()
        sys.stdout.flush()
        os._exit(1 if failed else 0)


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
