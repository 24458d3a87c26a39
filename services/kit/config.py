"""Settings every service reads from the environment."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .ports import PORTS
from .publishers import DEFAULT_SPEC


def _env(name: str, service: str) -> AliasChoices:
    """A setting may be given per service (IDENTITY_X) or suite-wide (LOYALTY_X)."""
    return AliasChoices(f"{service.upper()}_{name}", f"LOYALTY_{name}")


class ServiceSettings(BaseSettings):
    """Common settings. A service declares its name when it subclasses this:

        class PointsSettings(ServiceSettings, service="points"): ...

    and reads them with `PointsSettings.load()`: `POINTS_X`, falling back to `LOYALTY_X`; its
    ports default to its row of `ports.PORTS`. Database: `<SVC>_DATABASE_URL` names the service's
    own database; otherwise the database `loyalty_<svc>` on the server of `LOYALTY_PG_URL`.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    service: ClassVar[str] = "kit"

    def __init_subclass__(cls, service: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if service is not None:
            cls.service = service

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """The settings from the environment (and `overrides`, which win)."""
        return cls.for_service(cls.service, **overrides)

    service_name: str = "kit"
    database_url: str | None = None
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/"
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 0  # a service's own come from ports.PORTS (see for_service)
    ops_port: int = 0
    events_exchange: str = "loyalty.events"
    # Alternate exchange of events_exchange, and the queue of the same name that keeps what no
    # queue is bound for ("" for none: such an event is then an error, retried).
    unrouted_exchange: str = "loyalty.unrouted"
    commerce_exchange: str = "commerce.events"
    dead_letter_exchange: str = "loyalty.dlx"
    queue_prefix: str = ""  # isolates the queues of one deployment (or test run) on a shared broker
    # The broker user allowed to publish each source's events (kit.publishers): an event from
    # any other user is dead-lettered. `*=<user>` trusts one user with every source.
    event_publishers: str = DEFAULT_SPEC
    jwks_url: str = f"http://127.0.0.1:{PORTS['identity'].ops}/.well-known/jwks.json"
    jwt_issuer: str = "loyalty-identity"
    jwt_audience: str = "loyalty"
    log_level: str = "INFO"
    business_zone: str = "Asia/Shanghai"
    pool_min: int = 2
    pool_max: int = 10
    # A connection idle this long beyond pool_min is closed: a burst's connections go back to
    # the server (shared by every service) instead of staying open until the next burst.
    pool_idle_seconds: float = 300.0
    consumer_prefetch: int = 32
    delivery_limit: int = 5
    max_event_bytes: int = 256 * 1024  # a consumer dead-letters a bigger message unread
    relay_batch: int = 200
    relay_poll_seconds: float = 1.0
    shutdown_grace_seconds: float = 10.0
    # DEVELOPMENT ONLY: the instant operator commands act at instead of now
    # (kit.clock.command_time); `serve` refuses to start with it.
    dev_command_time: str = ""
    # Load limits of one process: calls in progress (beyond: RESOURCE_EXHAUSTED + RetryInfo),
    # concurrent calls on one client connection (HTTP/2 streams), size of one request.
    grpc_max_concurrent_calls: int = 256
    grpc_max_streams_per_connection: int = 128
    grpc_max_message_bytes: int = 4 * 1024 * 1024
    # Revoked access tokens (kit.revocations): how long a revocation is kept, which must exceed
    # identity's longest token lifetime (IDENTITY_ACCESS_TTL_SECONDS 900 and
    # IDENTITY_CLIENT_TOKEN_TTL_SECONDS 3600 by default); how often a replica checks that it
    # hears of new ones (it reads them all again after a lapse), and reads them all regardless.
    revocation_retention_seconds: int = 86400
    revocation_check_seconds: float = 1.0
    revocation_reload_seconds: float = 60.0
    idempotency_retention_days: int = 30
    inbox_retention_days: int = 30
    outbox_retention_days: int = 7

    @classmethod
    def for_service(cls, service: str, **overrides):
        """Build settings whose env names are prefixed by the service (with LOYALTY_ fallback)."""
        # pydantic-settings resolves aliases when the class is built, so build a bound subclass.
        ports = PORTS.get(service)
        port_defaults = {"grpc_port": ports.grpc, "ops_port": ports.ops} if ports else {}
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {"__annotations__": annotations}
        for name, info in cls.model_fields.items():
            if name == "service_name":
                continue
            annotations[name] = info.annotation
            origin: dict[str, Any]
            if info.default_factory:
                origin = {"default_factory": info.default_factory}
            else:  # the one port table gives the ports
                origin = {"default": port_defaults.get(name, info.default)}
            namespace[name] = Field(validation_alias=_env(name.upper(), service), **origin)
        bound = type(f"{cls.__name__}_{service}", (cls,), namespace)
        return bound(service_name=service, **overrides)

    def dsn(self) -> str:
        """The service's own database."""
        if self.database_url:
            return self.database_url
        base = self.pg_url.rstrip("/")
        if base.count("/") > 2:  # a database was named in the server URL: replace it
            base = base.rsplit("/", 1)[0]
        return f"{base}/loyalty_{self.service_name}"
