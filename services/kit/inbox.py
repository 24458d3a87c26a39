"""Inbox consumer: durable quorum queue, one transaction per event, exactly-once effects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika
import asyncpg
from google.protobuf.message import Message
from opentelemetry import trace

from . import db, deadletters, errors, events, ids, logging, metrics, publishers, tracing

log = logging.get("kit.inbox")

Handler = Callable[[asyncpg.Connection, events.Envelope], Awaitable[None]]
M = TypeVar("M", bound=Message)
# A service's handler: the inbox transaction, the parsed payload, and the envelope (id, time).
TypedHandler = Callable[[asyncpg.Connection, Any, events.Envelope], Awaitable[None]]


@dataclass(frozen=True)
class Binding:
    exchange: str
    pattern: str
    unrouted: str | None = None  # the exchange's alternate exchange (see events.declare_…)


@dataclass
class Subscription:
    """A service's queue and the events it applies, registered by their proto message type:

        identity = Subscription("points.identity")

        @identity.on(MemberRegistered)
        async def registered(conn, event: MemberRegistered, envelope): ...

    The kit binds the queue to each event's type (see events.type_of) on the exchange its
    publisher uses, and hands each handler the payload parsed into its message.
    """

    queue: str
    handlers: dict[type[Message], TypedHandler] = field(default_factory=dict)

    def on(self, message_class: type[M]) -> Callable[[TypedHandler], TypedHandler]:
        def register(handler: TypedHandler) -> TypedHandler:
            self.add(message_class, handler)
            return handler

        return register

    def add(self, message_class: type[Message], handler: TypedHandler) -> None:
        if message_class in self.handlers:
            raise ValueError(f"{message_class.DESCRIPTOR.full_name} is handled twice")
        self.handlers[message_class] = handler

    def bindings(
        self, events_exchange: str, commerce_exchange: str, unrouted: str | None = None
    ) -> list[Binding]:
        return [
            Binding(commerce_exchange, t)
            if t.startswith("commerce.")
            else Binding(events_exchange, t, unrouted)
            for t in (events.type_of(m) for m in self.handlers)
        ]

    def by_type(self) -> dict[str, Handler]:
        """Envelope handlers by CloudEvents type, each parsing its payload first."""
        return {events.type_of(m): _parsing(m, h) for m, h in self.handlers.items()}


def _parsing(message_class: type[Message], handler: TypedHandler) -> Handler:
    async def handle(conn: asyncpg.Connection, envelope: events.Envelope) -> None:
        await handler(conn, envelope.payload(message_class), envelope)

    return handle


class Consumer:
    """Consumes `<svc>.<purpose>`; handlers map an event type to its effect.

    Per message, one transaction records `(consumer, event_id)` and applies the effect, then the
    message is acked. A handler error requeues it after a short pause; past the delivery limit the
    broker moves it to the dead-letter queue. A message that is no CloudEvent at all is
    dead-lettered at once.

    Quorum queues (RabbitMQ 3.10) count returns in the `x-delivery-count` header: absent on the
    first delivery, n on the (n+1)th. A message is dead-lettered when a return would take the count
    past `x-delivery-limit`, so it is tried `delivery_limit + 1` times and the try that sees
    `x-delivery-count == delivery_limit` is its last.
    """

    # Pause before a failed message goes back: a brief database blip should not burn every
    # delivery in a few milliseconds. Doubles per try; short, because it holds a prefetch slot.
    RETRY_BASE_SECONDS = 0.05
    RETRY_MAX_SECONDS = 1.0
    # While the database is away: how soon, and at most how long between, tries of a held message.
    OUTAGE_BASE_SECONDS = 0.2
    OUTAGE_MAX_SECONDS = 10.0
    # How often the depth of the dead-letter queue is measured (metrics.DEAD_LETTERS): alerts
    # look at it over minutes, and each measurement is one round trip to the broker.
    DEAD_LETTER_CHECK_SECONDS = 15.0

    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        connection: aio_pika.abc.AbstractRobustConnection,
        bindings: list[Binding],
        handlers: dict[str, Handler],
        dead_letter_exchange: str,
        publishers: publishers.Publishers,
        own_user: str,
        prefetch: int = 32,
        delivery_limit: int = 5,
        max_body_bytes: int = 256 * 1024,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.name = name
        self.pool = pool
        self.connection = connection
        self.bindings = bindings
        self.handlers = handlers
        self.dlx = dead_letter_exchange
        self.publishers = publishers
        self.own_user = own_user
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.max_body_bytes = max_body_bytes
        self.tracer = tracer or tracing.noop()
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._tag: str | None = None
        self._inflight: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._measuring: asyncio.Task | None = None

    async def start(self) -> None:
        self._stopping.clear()  # a stopped consumer can be started again
        channel = self._channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        (dlx,) = await events.declare_exchanges(channel, self.dlx)
        dlq = await channel.declare_queue(
            f"{self.name}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dlx, routing_key=self.name)
        self._queue = await channel.declare_queue(
            self.name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": self.dlx,
                "x-dead-letter-routing-key": self.name,
            },
        )
        for binding in self.bindings:
            (exchange,) = await events.declare_exchanges(
                channel, binding.exchange, unrouted=binding.unrouted
            )
            await self._queue.bind(exchange, routing_key=binding.pattern)
        self._tag = await self._queue.consume(self._on_message)
        self._measuring = asyncio.create_task(
            self._measure_dead_letters(), name=f"dead-letters-{self.name}"
        )

    async def count_dead_letters(self) -> int:
        """How many messages wait in `<queue>.dlq` (set on metrics.DEAD_LETTERS)."""
        count = await deadletters.depth(self.connection, self.name)
        metrics.DEAD_LETTERS.labels(self.name).set(count)
        return count

    async def _measure_dead_letters(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.count_dead_letters()
            except Exception as exc:  # the broker is away: the gauge keeps its last value
                log.warning(
                    "dead_letter_count_failed", consumer=self.name, error=type(exc).__name__
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.DEAD_LETTER_CHECK_SECONDS)

    async def stop(self) -> None:
        """Stop taking deliveries, let in-flight ones finish, close."""
        self._stopping.set()  # failed messages go back now, without their pause
        if self._measuring is not None:
            self._measuring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._measuring
            self._measuring = None
        if self._queue is not None and self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except Exception as exc:  # broker away: closing the channel returns what is unacked
                log.warning("consumer_cancel_failed", consumer=self.name, error=type(exc).__name__)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._channel is not None:
            try:
                await self._channel.close()
            except Exception as exc:
                log.warning("consumer_close_failed", consumer=self.name, error=type(exc).__name__)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None  # aio-pika runs each delivery in a task of its own
        self._inflight.add(task)
        try:
            # A span per delivery, a child of the publisher's (the message's traceparent, which
            # the propagator checks). It is named after the queue until the event's type has
            # proved a bounded identifier from a trusted publisher, then after the type.
            with tracing.span(
                self.tracer,
                f"process {self.name}",
                kind=tracing.CONSUMER,
                parent=tracing.extract(message.headers or {}),
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "process",
                    "messaging.destination.subscription.name": self.name,
                },
            ):
                await self._handle(message)
        finally:
            self._inflight.discard(task)

    async def _handle(self, message) -> None:
        if len(message.body) > self.max_body_bytes:  # before anything parses it
            await self._dead_letter(message, f"a body over {self.max_body_bytes} bytes")
            return
        try:
            envelope = events.from_amqp(message)
        except ValueError as exc:
            await self._dead_letter(message, ids.excerpt(str(exc), 500))
            return
        if ids.identifier(envelope.id) is None or ids.identifier(envelope.type) is None:
            await self._dead_letter(
                message,
                "the id or type is not a bounded identifier",
                event_id=ids.excerpt(envelope.id),
                event_type=ids.excerpt(envelope.type),
            )
            return
        if not self._trusted(message, envelope.type):
            await self._dead_letter(
                message,
                "not published by the broker user allowed to publish this type",
                event_id=envelope.id,
                event_type=envelope.type,
                publisher=ids.excerpt(message.user_id) if message.user_id else "(none)",
            )
            return
        logging.bind(event_id=envelope.id, event_type=envelope.type, trace_id=tracing.trace_id())
        span = tracing.current()
        span.update_name(f"process {envelope.type}")
        span.set_attribute("messaging.message.id", envelope.id)
        span.set_attribute("messaging.rabbitmq.destination.routing_key", envelope.type)
        handler = self.handlers.get(envelope.type)
        try:
            applied = await self._apply_while_infrastructure_fails(envelope, handler)
        except errors.Malformed as exc:
            await self._dead_letter(message, ids.excerpt(str(exc), 500))
            return
        except Exception as exc:
            returns = self._returns(message)
            last = returns >= self.delivery_limit and not db.is_transient(exc)
            metrics.EVENTS_FAILED.labels(self.name).inc()
            log.exception(
                "event_failed",
                consumer=self.name,
                attempt=returns + 1,
                attempts=self.delivery_limit + 1,
                dead_letter=last,
            )
            tracing.fail(tracing.current(), type(exc).__name__)
            if last:
                metrics.EVENTS_DEAD_LETTERED.labels(self.name).inc()
            elif not db.is_transient(exc):
                await self._pause(returns)
            # Requeued, the broker counts the return and dead-letters past the limit.
            await self._settle(message.nack(requeue=True), "nack")
            return
        if applied:
            label = envelope.type if handler is not None else "other"  # known values only
            metrics.EVENTS_CONSUMED.labels(self.name, label).inc()
        else:
            metrics.EVENTS_DUPLICATE.labels(self.name).inc()
        span.set_attribute("loyalty.event.duplicate", not applied)
        await self._settle(message.ack(), "ack")

    def _trusted(self, message, event_type: str) -> bool:
        """From the user allowed to publish the type (the broker has checked `user_id` against
        the connection's user), or put back into this queue by this service itself through the
        default exchange (`dead-letters replay`, which runs as the service's user)."""
        if self.publishers.trusts(event_type, message.user_id):
            return True
        return message.exchange == "" and message.user_id == self.own_user

    async def _apply_while_infrastructure_fails(
        self, envelope: events.Envelope, handler: Handler | None
    ) -> bool:
        """Apply; while the database is away (db.is_transient), keep the message and try again
        with growing pauses instead of handing it back: a return counts toward the delivery
        limit, and an outage is not the message's fault. The held messages fill the prefetch
        window, so the broker stops sending more until the database is back. Only stopping the
        consumer gives up (the message goes back, to be applied after the restart)."""
        delay = self.OUTAGE_BASE_SECONDS
        while True:
            try:
                return await self.apply(envelope, handler)
            except Exception as exc:
                if not db.is_transient(exc) or self._stopping.is_set():
                    raise
                metrics.EVENTS_DELAYED.labels(self.name).inc()
                log.warning(
                    "event_delayed",
                    consumer=self.name,
                    error=type(exc).__name__,
                    retry_in=round(delay, 2),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(self.OUTAGE_MAX_SECONDS, delay * 2)

    async def _dead_letter(self, message, reason: str, **context: str) -> None:
        """The message's own fault: no retry can succeed, so it goes to the dead letters now."""
        log.error("event_malformed", consumer=self.name, reason=reason, **context)
        tracing.fail(tracing.current(), "dead_lettered")  # the reason may quote the message
        metrics.EVENTS_DEAD_LETTERED.labels(self.name).inc()
        await self._settle(message.reject(requeue=False), "reject")

    @staticmethod
    def _returns(message) -> int:
        """How often the broker has had this message back (quorum queues' x-delivery-count)."""
        try:
            return int((message.headers or {}).get("x-delivery-count") or 0)
        except (TypeError, ValueError):
            return 0

    async def _pause(self, returns: int) -> None:
        delay = min(self.RETRY_MAX_SECONDS, self.RETRY_BASE_SECONDS * 2**returns)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _settle(self, settling: Awaitable, what: str) -> None:
        """Ack, nack or reject; a lost channel means the broker redelivers, and the inbox has
        already recorded anything that was applied, so this is a duplicate later, not a loss."""
        try:
            await settling
        except Exception as exc:
            log.warning("event_settle_lost", consumer=self.name, op=what, error=type(exc).__name__)

    async def apply(self, envelope: events.Envelope, handler: Handler | None) -> bool:
        """Record and apply in one transaction; False when the event was already applied. An
        id seen before with other content is `Malformed`: its publisher reused an id, and taking
        it for a duplicate would drop a real event without a trace."""
        digest = events.content_hash(envelope)
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO inbox (consumer, event_id, event_type, content_hash)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
                self.name,
                envelope.id,
                envelope.type,
                digest,
            )
            if not inserted:
                first = await conn.fetchval(
                    "SELECT content_hash FROM inbox WHERE consumer = $1 AND event_id = $2",
                    self.name,
                    envelope.id,
                )
                if first is not None and first != digest:
                    raise errors.Malformed([("id", "already used by an event with other content")])
                return False
            if handler is not None:
                await handler(conn, envelope)
            return True
