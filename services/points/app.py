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
    """Run the expiry, hold-timeout and expiring-notice jobs once, now (relayed on next serve)."""

    pool = app.pool
    done = {
        "expired_points": await jobs.expire_lots(app.usecases, pool),
        "holds_released": await jobs.release_timed_out_holds(app.usecases, pool),
        "expiring_notices": await jobs.notify_expiring(app.usecases, pool),
    }
    print(json.dumps(done))


async def reconcile(app: PointsApp) -> None:
    """Prove the books: prints every broken invariant; exits non-zero when there is one."""
    problems = await reconciliation.snapshot(app.pool)
    print(json.dumps({"consistent": not problems, "problems": problems}, indent=2))
    if problems:
        raise SystemExit(1)
