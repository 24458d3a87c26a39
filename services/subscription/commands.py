"""The operating commands of subscription (beside the kit's `serve`, `migrate`,
`dead-letters`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from services.kit.service import Command

from . import jobs

if TYPE_CHECKING:
    from .app import SubscriptionApp


async def run_jobs(app: SubscriptionApp, *args: str) -> None:
    """Run the clock, the term-starts and the renewal job once now (after an outage, or to
    catch up).

    run-jobs    grace, expiry and lapsed orders first, then the stacked terms whose start has
                come, then the renewal charges due; prints what changed as JSON. The service's
                own schedule does the same every minute; running this beside it is safe (each
                subscription and term is taken once)."""
    if args:
        raise SystemExit("run-jobs takes no arguments")
    now = app.deps.now()
    moved = await jobs.apply_clock(app.usecases, app.pool, now)
    begun = await jobs.begin_terms(app.usecases, app.pool, now)
    requested = await jobs.request_renewals(app.usecases, app.pool, now)
    print(
        json.dumps(
            {
                "clock_changes": moved,
                "terms_begun": begun,
                "renewal_charges_requested": requested,
            }
        )
    )


COMMANDS: dict[str, Command] = {"run-jobs": run_jobs}
