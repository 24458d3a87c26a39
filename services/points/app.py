"""The points process: the use cases, the gRPC API, event consumers and scheduled jobs."""

from __future__ import annotations

import json
from pathlib import Path

from services.kit.inbox import Subscription
from services.kit.jobs import Job
from services.kit.service import ServiceApp

from . import jobs
from .api import PointsApi
from .config import PointsSettings
from .handlers import Handlers
from .store import reconcile as reconciliation
from .usecases import PointsUseCases


class PointsApp(ServiceApp[PointsSettings]):
    settings_class = PointsSettings
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, settings: PointsSettings | None = None) -> None:
        super().__init__(settings)
        # Built here, not in setup(), so jobs and tests can use them without starting the server.
        self.usecases = PointsUseCases.build(self.deps)

    def servicers(self) -> list[object]:
        return [PointsApi(self.deps, self.usecases)]

    def subscriptions(self) -> list[Subscription]:
        return Handlers(self.usecases).subscriptions()

    def jobs(self) -> list[Job]:
        return jobs.scheduled(self.usecases)


async def expire_now(app: PointsApp) -> None:
    """Run the expiry, hold-timeout, expiring-notice and parked-event jobs once, now (events
    relayed on next serve)."""

    pool = app.pool
    done = {
        "expired_points": await jobs.expire_lots(app.usecases, pool),
        "holds_released": await jobs.release_timed_out_holds(app.usecases, pool),
        "expiring_notices": await jobs.notify_expiring(app.usecases, pool),
        "parked_given_up": await jobs.give_up_parked(app.usecases, pool),
    }
    print(json.dumps(done))


async def parked(app: PointsApp, after: str = "0") -> None:
    """Print the storefront events still parked (waiting for their member, or held for an
    operator), oldest first, 100 at a time: `parked [AFTER_PARKED_ID]`."""
    try:
        start = int(after)
    except ValueError:
        raise SystemExit("parked: AFTER_PARKED_ID is a number (the last parked_id shown)") from None
    async with app.pool.acquire() as conn:
        counts = await app.usecases.parking.count_open(conn)
        found = await app.usecases.parking.open_events(conn, start, 100)
    report = {
        "open": {state.value: n for state, n in counts.items()},
        "events": [
            {
                "parked_id": e.parked_id,
                "state": e.state.value,
                "reason": e.reason,
                "detail": e.detail,
                "event_id": e.event_id,
                "event_type": e.event_type,
                "member_id": str(e.member_id),
                "order_id": e.order_id,
                "parked_at": e.parked_at.isoformat(),
                "wait_until": e.wait_until.isoformat() if e.wait_until else None,
            }
            for e in found
        ],
    }
    print(json.dumps(report, indent=2))


async def reconcile(app: PointsApp) -> None:
    """Prove the books: prints every broken invariant; exits non-zero when there is one."""
    problems = await reconciliation.snapshot(app.pool)
    print(json.dumps({"consistent": not problems, "problems": problems}, indent=2))
    if problems:
        raise SystemExit(1)
