"""The operating commands of growth (beside the kit's `serve`, `migrate`, `dead-letters`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from services.kit.jobs import run_locked
from services.kit.service import Command

from . import jobs

if TYPE_CHECKING:
    from .app import GrowthApp


async def settle(app: GrowthApp, *args: str) -> None:
    """Settle the due period now, or resume it (after an outage, or to catch up).

    settle    runs the settlement of the previous business month to the end (or finds it
              completed) and prints its row as JSON. Safe beside running replicas: it takes
              the settlement job's lock, and when a replica holds it, says so and stops."""
    if args:
        raise SystemExit("settle takes no arguments")
    # A connection for the job's lock and one per settlement worker (a command's pool has 2).
    await app.close()
    await app.open(1, app.settings.settlement_workers + 1)
    await app.usecases.rules.ensure_default(app.pool)
    ran = await run_locked(app.pool, jobs.settlement_job(app.usecases))
    row = (
        await app.usecases.settlements.get(app.pool, app.usecases.settlements.due())
        if ran
        else None
    )
    print(json.dumps({"ran": ran, "settlement": dict(row) if row else None}, default=str))


COMMANDS: dict[str, Command] = {"settle": settle}
