"""The growth process: the use cases, the two gRPC services, the fact consumers and the
settlement job."""

from __future__ import annotations

from pathlib import Path

from services.kit.inbox import Subscription
from services.kit.jobs import Job
from services.kit.outbox import Outbox
from services.kit.service import ServiceApp

from . import jobs
from .config import GrowthSettings
from .deps import GrowthDeps
from .handlers import Handlers
from .usecases import GrowthUseCases


class GrowthApp(ServiceApp[GrowthSettings]):
    settings_class = GrowthSettings
    migrations = Path(__file__).parent / "migrations"
    deps: GrowthDeps

    def __init__(self, settings: GrowthSettings | None = None) -> None:
        super().__init__(settings)
        # Built here, not in setup(), so jobs and tests can use them without starting the server.
        self.usecases = GrowthUseCases.build(self.deps)

    def make_deps(self) -> GrowthDeps:
        return GrowthDeps(self.settings, Outbox(self.name))

    async def setup(self) -> None:
        """The default rule set, version 1, active, when the service has none yet."""
        await self.usecases.rules.ensure_default(self.deps.pool)

    async def stop(self) -> None:
        """Background runs of this replica first (a rehearsal cut short is marked FAILED; a
        settlement resumes on the next tick of any replica's job), then the kit's stop."""
        await self.usecases.rehearsals.stop()
        await self.usecases.settlements.drain()
        await super().stop()

    def servicers(self) -> list[object]:
        from .api import build_servicers

        return build_servicers(self.deps, self.usecases)

    def subscriptions(self) -> list[Subscription]:
        return Handlers(self.usecases).subscriptions()

    def jobs(self) -> list[Job]:
        return jobs.scheduled(self.usecases)
