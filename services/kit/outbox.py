"""Transactional outbox: events are written with the change and relayed to RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import aio_pika
import aiormq
import asyncpg
from google.protobuf.message import Message
from opentelemetry import trace

from . import db, events, ids, logging, metrics, tracing

log = logging.get("kit.outbox")

_CLAIM = """
SELECT id, event_type, source, subject, payload, traceparent, created_at
FROM outbox
WHERE published_at IS NULL AND next_attempt_at <= now()
ORDER BY created_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_MARK_PUBLISHED = (
    "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)"
)
# A failed row backs off exponentially (capped at 10 minutes) so it never blocks the others.
_MARK_FAILED = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2,
    next_attempt_at = now() + least(interval '10 minutes', interval '1 second' * power(2, attempts))
WHERE id = $1
"""


class Outbox:
    """Writes a service's events inside the caller's transaction (or on its Batch)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.source = f"/loyalty/{service}"
        self.tracer = tracing.tracer(service)

    async def add(
        self,
        conn: asyncpg.Connection | db.Batch,
        subject: str | uuid.UUID,
        payload: Message,
        traceparent: str | None = None,
    ) -> str:
        """Queue `payload` as an event about `subject`; its type is its message's (type_of).

        A span records the write, under `traceparent` if given, else under the current span
        (the call's, in a gRPC method); the row keeps the span's traceparent, which the relay
        continues (on a Batch the span covers the queueing, not the round trip)."""
        event_id = ids.new_id()
        type_ = events.type_of(payload)
        with tracing.span(
            self.tracer,
            f"create {type_}",
            parent=tracing.extract({"traceparent": traceparent}) if traceparent else None,
            attributes=_attributes("create", type_, event_id),
        ):
            await conn.execute(
                "INSERT INTO outbox (id, event_type, source, subject, payload, traceparent)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                event_id,
                type_,
                self.source,
                str(subject),
                events.payload_json(payload),
                tracing.traceparent(),
            )
        return str(event_id)


def _attributes(operation: str, event_type: str, event_id: object) -> dict[str, str | int]:
    """OpenTelemetry's messaging attributes of an event the service itself made."""
    return {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.rabbitmq.destination.routing_key": event_type,
        "messaging.message.id": str(event_id),
    }


class Relay:
    """Publishes unpublished outbox rows with publisher confirms; safe with many replicas."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        connection: aio_pika.abc.AbstractRobustConnection,
        exchange: str,
        batch: int = 200,
        poll_seconds: float = 1.0,
        gather_seconds: float = 0.02,
        lag_seconds: float = 1.0,
        unrouted: str | None = None,
        user_id: str | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.pool = pool
        self.connection = connection
        self.exchange_name = exchange
        self.batch = batch
        self.poll_seconds = poll_seconds
        # Woken by a commit, the relay waits this long so that the commits of a busy moment go
        # out in one batch (one claim, one mark) rather than one batch each.
        self.gather_seconds = gather_seconds
        self.lag_seconds = lag_seconds  # how often the outbox lag gauge is measured
        # The alternate exchange (and queue) that keeps events no queue is bound for; without
        # it, such an event is an error (mandatory), retried with back-off.
        self.unrouted = unrouted
        # The connection's broker user: the broker refuses another, consumers trust this one.
        self.user_id = user_id
        self.tracer = tracer or tracing.noop()
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._lag_measured = float("-inf")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in flight, then stop; past `timeout` the batch is abandoned (its
        transaction rolls back and another replica or the next start publishes the rows)."""
        self._stopping.set()
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _connect(self) -> None:
        # Confirms + mandatory + on_return_raises: a message no queue takes is an error.
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        (self._exchange,) = await events.declare_exchanges(
            channel, self.exchange_name, unrouted=self.unrouted
        )
        self._channel = channel

    def _notified(self, *_args) -> None:
        self._wake.set()

    async def _listen(self) -> asyncpg.Connection:
        conn = await self.pool.acquire()
        try:
            await conn.add_listener("outbox", self._notified)
        except BaseException:
            await self._unlisten(conn)
            raise
        return conn

    async def _unlisten(self, conn: asyncpg.Connection) -> None:
        # The connection goes back to the pool even when UNLISTEN fails (it may be dead); a live
        # one is closed then, as the pool keeps sessions as they are (see db.create_pool).
        try:
            await conn.remove_listener("outbox", self._notified)
        except Exception:
            with contextlib.suppress(Exception):
                conn.terminate()
        with contextlib.suppress(Exception):
            await self.pool.release(conn)

    async def _run(self) -> None:
        listener = None
        while not self._stopping.is_set():
            try:
                if self._exchange is None:
                    await self._connect()
                if listener is not None and not _alive(listener):
                    await self._unlisten(listener)
                    listener = None
                if listener is None:
                    listener = await self._listen()
                published = await self.publish_batch()
                if time.monotonic() - self._lag_measured >= self.lag_seconds:
                    metrics.OUTBOX_LAG.set(await self._lag())
                    await self._count_unrouted()
                    self._lag_measured = time.monotonic()
                if published >= self.batch:
                    continue  # more is waiting: do not sleep
            except Exception as exc:  # broker or database trouble: keep the relay alive, retry
                log.warning("relay_retry", error=type(exc).__name__, detail=str(exc)[:200])
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            if self._wake.is_set() and not self._stopping.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.gather_seconds)
            self._wake.clear()
        if listener is not None:
            await self._unlisten(listener)

    async def _count_unrouted(self) -> None:
        if self.unrouted and self._channel is not None:
            # The channel hands back the queue object it has for the name; its declare() asks
            # the broker again (a passive declaration answers the current depth).
            queue = await self._channel.declare_queue(self.unrouted, passive=True)
            declared = await queue.declare()
            metrics.EVENTS_UNROUTED.set(declared.message_count or 0)

    async def _lag(self) -> float:
        oldest = await self.pool.fetchval(
            "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox"
            " WHERE published_at IS NULL"
        )
        return float(oldest or 0)

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch in one transaction; returns how many were sent.

        Confirmed rows are marked even when the connection drops mid-batch: only the rows whose
        confirm never came stay unpublished (sent again later: at least once), and the
        connection error is raised after the commit. A row the broker could not route or
        refused is an error: it keeps `published_at` NULL, records `last_error` and backs off.
        """
        trouble: BaseException | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch)
            if not rows:
                return 0
            started = time.perf_counter()
            results = await asyncio.gather(
                *(self._publish(row) for row in rows), return_exceptions=True
            )
            done = []
            for row, result in zip(rows, results, strict=True):
                if result is None:
                    done.append(row["id"])
                elif isinstance(result, aiormq.exceptions.DeliveryError | _Unroutable):
                    reason = (
                        "nacked by the broker"
                        if type(result) is aiormq.exceptions.DeliveryError
                        else "unroutable: no queue is bound for this routing key"
                    )
                    await conn.execute(_MARK_FAILED, row["id"], reason)
                    metrics.EVENTS_PUBLISH_FAILED.labels(row["event_type"]).inc()
                    log.error(
                        "event_not_published",
                        event_type=row["event_type"],
                        event_id=str(row["id"]),
                        reason=reason,
                    )
                elif trouble is None:
                    trouble = result  # connection trouble: this row's outcome is unknown
            await conn.execute(_MARK_PUBLISHED, done)
        for row in rows:
            if row["id"] in done:
                metrics.EVENTS_PUBLISHED.labels(row["event_type"]).inc()
        log.debug("relay_batch", count=len(done), seconds=time.perf_counter() - started)
        if trouble is not None:
            if not isinstance(trouble, Exception):
                # A publish cancelled by its connection closing, not this task being cancelled.
                raise ConnectionError("publish cancelled: the broker connection closed")
            raise trouble
        return len(done)

    async def _publish(self, row) -> None:
        # The publish continues the trace of the write (the row's traceparent; a row without
        # one starts a trace of its own), and the message carries the publish span's context,
        # so that each consumer's span follows the broker's leg.
        attributes = _attributes("send", row["event_type"], row["id"])
        attributes["messaging.destination.name"] = self.exchange_name
        with tracing.span(
            self.tracer,
            f"publish {row['event_type']}",
            kind=tracing.PRODUCER,
            parent=tracing.extract({"traceparent": row["traceparent"]}),
            attributes=attributes,
        ):
            message = events.to_amqp(
                event_id=str(row["id"]),
                type_=row["event_type"],
                source=row["source"],
                subject=row["subject"],
                data=row["payload"],
                time=row["created_at"],
                traceparent=tracing.traceparent(),
                user_id=self.user_id,
            )
            assert self._exchange is not None  # the relay connects before it claims a batch
            confirmation = await self._exchange.publish(
                message, routing_key=row["event_type"], mandatory=True, timeout=10
            )
            # Only a Basic.Ack means "queued"; a returned message (were on_return_raises lost
            # on a channel restore) must not be marked published.
            if not isinstance(confirmation, aiormq.spec.Basic.Ack):
                raise _Unroutable(row["event_type"])


def _alive(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool has already taken the dead connection back
        return False


class _Unroutable(Exception):
    """The broker handed the message back: no queue is bound for its routing key."""
