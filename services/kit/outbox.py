"""Transactional outbox: events are written with the change and relayed to RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aio_pika
import aiormq
import asyncpg
from google.protobuf.message import Message

from . import events, ids, logging, metrics

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
    """Writes a service's events inside the caller's transaction."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.source = f"/loyalty/{service}"

    async def add(
        self,
        conn: asyncpg.Connection,
        name: str,
        subject: str,
        payload: Message,
        traceparent: str | None = None,
    ) -> str:
        event_id = ids.new_id()
        await conn.execute(
            "INSERT INTO outbox (id, event_type, source, subject, payload, traceparent)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            event_id,
            events.event_type(self.service, name),
            self.source,
            subject,
            events.payload_json(payload),
            traceparent,
        )
        return str(event_id)


class Relay:
    """Publishes unpublished outbox rows with publisher confirms; safe with many replicas."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        connection: aio_pika.abc.AbstractRobustConnection,
        exchange: str,
        batch: int = 200,
        poll_seconds: float = 1.0,
    ) -> None:
        self.pool = pool
        self.connection = connection
        self.exchange_name = exchange
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._exchange = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task:
            await self._task

    async def _connect(self) -> None:
        # Confirms + mandatory + on_return_raises: a message no queue takes is an error.
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        (self._exchange,) = await events.declare_exchanges(channel, self.exchange_name)

    def _notified(self, *_args) -> None:
        self._wake.set()

    async def _listen(self) -> asyncpg.Connection:
        conn = await self.pool.acquire()
        await conn.add_listener("outbox", self._notified)
        return conn

    async def _unlisten(self, conn: asyncpg.Connection) -> None:
        with contextlib.suppress(Exception):
            await conn.remove_listener("outbox", self._notified)
            await self.pool.release(conn)

    async def _run(self) -> None:
        listener = None
        while not self._stopping.is_set():
            try:
                if self._exchange is None:
                    await self._connect()
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                published = await self.publish_batch()
                metrics.OUTBOX_LAG.set(await self._lag())
                if published >= self.batch:
                    continue  # more is waiting: do not sleep
            except Exception as exc:  # broker or database trouble: keep the relay alive, retry
                log.warning("relay_retry", error=type(exc).__name__, detail=str(exc)[:200])
                if listener is not None:
                    await self._unlisten(listener)
                    listener = None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
        if listener is not None:
            await self._unlisten(listener)

    async def _lag(self) -> float:
        oldest = await self.pool.fetchval(
            "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox"
            " WHERE published_at IS NULL"
        )
        return float(oldest or 0)

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch in one transaction; returns how many were sent."""
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
                elif isinstance(result, aiormq.exceptions.DeliveryError):
                    await conn.execute(_MARK_FAILED, row["id"], "unroutable or nacked")
                    metrics.EVENTS_PUBLISH_FAILED.labels(row["event_type"]).inc()
                    log.error(
                        "event_unroutable", event_type=row["event_type"], event_id=str(row["id"])
                    )
                else:
                    raise result  # connection trouble: roll back, nothing is marked
            await conn.execute(_MARK_PUBLISHED, done)
            for row in rows:
                if row["id"] in done:
                    metrics.EVENTS_PUBLISHED.labels(row["event_type"]).inc()
            log.debug("relay_batch", count=len(done), seconds=time.perf_counter() - started)
            return len(done)

    async def _publish(self, row) -> None:
        message = events.to_amqp(
            event_id=str(row["id"]),
            type_=row["event_type"],
            source=row["source"],
            subject=row["subject"],
            data=row["payload"],
            time=row["created_at"],
            traceparent=row["traceparent"],
        )
        await self._exchange.publish(
            message, routing_key=row["event_type"], mandatory=True, timeout=10
        )
