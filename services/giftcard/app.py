"""The giftcard process: the use cases, the two gRPC services, event consumers and jobs."""

from __future__ import annotations

from pathlib import Path

from services.kit import ratelimit
from services.kit.inbox import Subscription
from services.kit.jobs import Job
from services.kit.outbox import Outbox
from services.kit.service import ServiceApp

from . import jobs
from .api import GiftcardApi, WalletApi
from .config import GiftcardSettings
from .deps import GiftcardDeps, keyring
from .handlers import Handlers
from .usecases import GiftcardUseCases


class GiftcardApp(ServiceApp[GiftcardSettings]):
    settings_class = GiftcardSettings
    migrations = Path(__file__).parent / "migrations"
    deps: GiftcardDeps

    def __init__(self, settings: GiftcardSettings | None = None) -> None:
        super().__init__(settings)
        # Built here, not in setup(), so jobs and tests can use them without starting the server.
        self.usecases = GiftcardUseCases.build(self.deps)

    def make_deps(self) -> GiftcardDeps:
        return GiftcardDeps(self.settings, Outbox(self.name))

    async def setup(self) -> None:
        """The PIN keys (a missing key stops the service with one line) and the limiter."""
        self.deps.keyring = keyring(self.settings)
        self.deps.limiter = ratelimit.RateLimiter(self.deps.pool, self.deps.now)

    def servicers(self) -> list[object]:
        return [GiftcardApi(self.deps, self.usecases), WalletApi(self.deps, self.usecases)]

    def subscriptions(self) -> list[Subscription]:
        return Handlers(self.usecases).subscriptions()

    def jobs(self) -> list[Job]:
        return jobs.scheduled(self.usecases)
