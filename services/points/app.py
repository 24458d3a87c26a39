"""The points process: the ledger, the gRPC API, event consumers and scheduled jobs."""

from __future__ import annotations

import json
from pathlib import Path

from services.kit.inbox import Subscription
from services.kit.jobs import Job
from services.kit.service import ServiceApp

from . import api, jobs
from .config import PointsSettings
from .handlers import Handlers
from .ledger import Ledger
from .store import reconcile as reconciliation


class PointsApp(ServiceApp[PointsSettings]):
    settings_class = PointsSettings
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, settings: PointsSettings | None = None) -> None:
        super().__init__(settings)
        # Built here, not in setup(), so jobs and tests can use it without starting the server.
        self.ledger = Ledger(self.deps)
        self.handlers = Handlers(self.ledger)

    def servicers(self) -> list[object]:
        return [api.PointsApi(self.deps, self.ledger)]

    def subscriptions(self) -> list[Subscription]:
        return self.handlers.subscriptions()

    def jobs(self) -> list[Job]:
        return jobs.scheduled(self.ledger)


async def expire_now(app: PointsApp) -> None:
    """Run the expiry, hold-timeout and expiring-notice jobs once, now (relayed on next serve)."""

    pool = app.pool
    done = {
        "expired_points": await jobs.expire_lots(app.ledger, pool),
        "holds_released": await jobs.release_timed_out_holds(app.ledger, pool),
        "expiring_notices": await jobs.notify_expiring(app.ledger, pool),
    }
    print(json.dumps(done))


async def reconcile(app: PointsApp) -> None:
    """Prove the books: prints every broken invariant; exits non-zero when there is one."""
    problems = await reconciliation.snapshot(app.pool)
    print(json.dumps({"consistent": not problems, "problems": problems}, indent=2))
    if problems:
        raise SystemExit(1)
