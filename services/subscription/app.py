"""The subscription process: the use cases, the two gRPC services, event consumers and jobs."""

from __future__ import annotations

from pathlib import Path

from services.kit import ratelimit
from services.kit.inbox import Subscription
from services.kit.jobs import Job
from services.kit.outbox import Outbox
from services.kit.service import ServiceApp

from . import jobs
from .api import SubscriptionAdminApi, SubscriptionApi
from .config import SubscriptionSettings
from .deps import SubscriptionDeps, keyring
from .handlers import Handlers
from .usecases import SubscriptionUseCases


class SubscriptionApp(ServiceApp[SubscriptionSettings]):
    settings_class = SubscriptionSettings
    migrations = Path(__file__).parent / "migrations"
    deps: SubscriptionDeps

    def __init__(self, settings: SubscriptionSettings | None = None) -> None:
        super().__init__(settings)
        # Built here, not in setup(), so jobs and tests can use them without starting the server.
        self.usecases = SubscriptionUseCases.build(self.deps)

    def make_deps(self) -> SubscriptionDeps:
        return SubscriptionDeps(self.settings, Outbox(self.name))

    async def setup(self) -> None:
        """The code keys (a missing key stops the service with one line) and the limiter."""
        self.deps.keyring = keyring(self.settings)
        self.deps.limiter = ratelimit.RateLimiter(self.deps.pool, self.deps.now)

    def servicers(self) -> list[object]:
        return [
            SubscriptionApi(self.deps, self.usecases),
            SubscriptionAdminApi(self.deps, self.usecases),
        ]

    def subscriptions(self) -> list[Subscription]:
        return Handlers(self.usecases).subscriptions()

    def jobs(self) -> list[Job]:
        return jobs.scheduled(self.usecases)
