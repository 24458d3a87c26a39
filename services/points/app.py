"""The points process: the ledger, the gRPC API, event consumers and scheduled jobs."""

from __future__ import annotations

import json
from pathlib import Path

from loyalty.points.v1 import points_service_pb2_grpc as pb_grpc
from services.kit import db
from services.kit.jobs import Job
from services.kit.service import ServiceApp

from . import api, jobs
from .handlers import Handlers
from .ledger import Ledger
from .store import reconcile as reconciliation


class PointsApp(ServiceApp):
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        # Built here, not in setup(), so jobs and tests can use it without starting the server.
        self.ledger = Ledger(settings, self.outbox)
        self.handlers = Handlers(self.ledger)

    def grpc_services(self) -> list[tuple]:
        return [
            (pb_grpc.add_PointsServiceServicer_to_server, api.PointsApi(self), api.SERVICE_NAME)
        ]

    def consumers(self) -> list[dict]:
        return self.handlers.consumers()

    def jobs(self) -> list[Job]:
        return jobs.scheduled(self.ledger)


async def _with_pool(app: PointsApp, work):
    await app.migrate()
    pool = await db.create_pool(app.settings.dsn(), 1, 2)
    try:
        return await work(pool)
    finally:
        await pool.close()


async def expire_now(app: PointsApp) -> None:
    """Run the expiry, hold-timeout and expiring-notice jobs once, now (relayed on next serve)."""

    async def work(pool):
        return {
            "expired_points": await jobs.expire_lots(app.ledger, pool),
            "holds_released": await jobs.release_timed_out_holds(app.ledger, pool),
            "expiring_notices": await jobs.notify_expiring(app.ledger, pool),
        }

    print(json.dumps(await _with_pool(app, work)))


async def reconcile(app: PointsApp) -> None:
    """Prove the books: prints every broken invariant; exits non-zero when there is one."""
    problems = await _with_pool(app, reconciliation.snapshot)
    print(json.dumps({"consistent": not problems, "problems": problems}, indent=2))
    if problems:
        raise SystemExit(1)
