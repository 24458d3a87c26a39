"""A service under test, in-process on the real servers: its settings, its own database, its
lifecycle, a stub on it. A service's fixtures take a few lines:

    @pytest.fixture(scope="session")
    async def growth_app(identity_app, amqp):
        async with harness.running(GrowthApp, amqp, identity=identity_app) as app:
            yield app

    @pytest.fixture
    async def growth(growth_app):
        await harness.reset(growth_app)
        return harness.stub(growth_app, growth_service_pb2_grpc.GrowthServiceStub)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

from services.kit.service import ServiceApp
from tests.support import servers
from tests.support.waiting import wait_until

App = TypeVar("App", bound=ServiceApp)
T = TypeVar("T")

# What a service cannot start without in tests, beyond the settings every service gets.
_SERVICE_SETTINGS: dict[str, dict] = {
    "identity": dict(
        data_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        lookup_key="ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
        # Cheap hashes keep the suite fast; the benchmark measures production parameters.
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        # The development sender, as `make run` has (the README's examples read its codes);
        # identity's own tests plug fakes instead (tests/support/identity_fakes.py).
        code_sender="dev-file",
    ),
    "giftcard": dict(pin_key="Z2lmdGNhcmQtdGVzdC1waW4ta2V5LTMyLWJ5dGVzLi4=", pin_key_id="t1"),
    "subscription": dict(code_key="c3Vic2NyaXB0aW9uLXRlc3QtY29kZS1rZXktMzJieXQ=", code_key_id="t1"),
}

# A channel per running app, for as long as it runs: every test's stub reuses its connection.
_channels: dict[ServiceApp, grpc.aio.Channel] = {}


def settings(app_class: type[ServiceApp], *, identity: ServiceApp | None = None, **overrides):
    """The settings of `app_class` for this test run: its own database, free ports on
    127.0.0.1, this run's exchanges and queues, a relay that polls often. Every service but
    identity verifies tokens from the keys `identity` (the identity app under test) publishes,
    as in production. `overrides` win."""
    service = app_class.settings_class.service
    values = dict(
        database_url=servers.database_url(service),
        grpc_host="127.0.0.1",
        grpc_port=0,
        ops_port=0,
        relay_poll_seconds=0.2,
        # Every app of the run shares one server (100 connections): a test's burst of
        # connections goes back soon, not after five minutes.
        pool_idle_seconds=5.0,
        **servers.broker_settings(),
        **servers.publisher_settings(service),
        **_SERVICE_SETTINGS.get(service, {}),
    )
    if identity is not None:
        values["jwks_url"] = f"http://127.0.0.1:{identity.ops_port}/.well-known/jwks.json"
    elif service != "identity":
        raise TypeError(f"{service} verifies identity's tokens: pass identity=<identity app>")
    if "database_url" in overrides and "queue_prefix" not in overrides:
        # Another instance of a service (its own database) gets queues of its own too: on the
        # run's shared queues it would take the events meant for the session's instance.
        database = overrides["database_url"].rsplit("/", 1)[1]
        # (Under the service's name, where its broker user may have queues.)
        values["queue_prefix"] = f"{values['queue_prefix']}{service}.{database}."
    return app_class.settings_class.load(**{**values, **overrides})


@contextlib.asynccontextmanager
async def running(
    app_class: type[App],
    amqp,
    *,
    identity: ServiceApp | None = None,
    schedule: bool = True,
    **overrides,
) -> AsyncIterator[App]:
    """`app_class` started on a fresh, migrated database of its own (`schedule=False`: its jobs
    are left to the tests, which run them with their own clock). On exit it is stopped, its
    queues deleted (a run's quorum queues would otherwise stay) and its database dropped."""
    app = app_class(settings(app_class, identity=identity, **overrides))
    dsn = app.settings.dsn()
    await servers.fresh_database(dsn)
    await app.migrate()
    await app.start(schedule=schedule)
    _channels[app] = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    try:
        yield app
    finally:
        await _channels.pop(app).close()
        await app.stop()
        await servers.delete_queues(amqp, app)
        await servers.drop_database(dsn)


def stub(app: ServiceApp, stub_class: type[T]) -> T:
    """A `stub_class` (a generated `<X>ServiceStub`) on the channel to a running app."""
    return stub_class(_channels[app])


async def reset(app: ServiceApp, keep: tuple[str, ...] = ()) -> None:
    """Empty the app's tables (except `keep`) and give it back real time: a test starts clean."""
    await servers.truncate_all(app.pool, keep=keep)
    app.deps.clock.set(None)


def consumed_by(app: ServiceApp, published: dict[str, set[str]]):
    """`await wait(type_, count=1, timeout=10.0)`: until the app's consumers applied `count`
    of the events of a type in `published` (the ids a test published, by type), so events
    other tests or services publish meanwhile do not count."""

    async def wait(type_: str, count: int = 1, timeout: float = 10.0) -> None:
        ids = list(published.get(type_, ()))

        async def applied() -> bool:
            found = await app.pool.fetchval(
                "SELECT count(*) FROM inbox WHERE event_type = $1 AND event_id = ANY($2)",
                type_,
                ids,
            )
            return found >= count

        what = f"{app.name} to apply {count} {type_}"
        await wait_until(applied, timeout, what, interval=0.02)

    return wait
