"""What the public API cannot tell: the outboxes (each service's database, read-only: chaos is
an operator's tool), what the broker delivered (a tap queue of chaos's own bound to every event
of the events exchange), the dead letters and their reasons (each service's `dead-letters list`
and its log), and the books (`reconcile` of points and giftcard). Also the wait for the suite to
settle after the load, and the replays of every acknowledged request and event."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections import Counter
from zoneinfo import ZoneInfo

import aio_pika
import asyncpg
import grpc

from services.kit import events

from .book import Book
from .report import Check
from .suite import APPS, Suite

TAP = "chaos.tap"
ZONE = ZoneInfo("Asia/Shanghai")  # the suite's business zone (LOYALTY_BUSINESS_ZONE)


async def bind_tap(suite: Suite) -> None:
    """A quorum queue (it survives the broker's restarts) taking every suite event."""
    connection = await aio_pika.connect(suite.servers.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(TAP, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind("loyalty.events", routing_key="#")


async def drain_tap(suite: Suite) -> Counter[str]:
    """Every event id the tap received, with how often (at least once is the promise)."""
    seen: Counter[str] = Counter()
    last = [time.monotonic()]

    async def received(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        seen[str(message.message_id)] += 1
        last[0] = time.monotonic()

    connection = await aio_pika.connect(suite.servers.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.declare_queue(TAP, passive=True)
        tag = await queue.consume(received, no_ack=True)
        while time.monotonic() - last[0] < 3:  # until nothing came for 3 s
            await asyncio.sleep(0.5)
        await queue.cancel(tag)
    return seen


async def outboxes(suite: Suite, query: str = "") -> dict[str, list[asyncpg.Record]]:
    """Each service's outbox rows (or what `query` reads of them), read-only."""
    query = (
        query or "SELECT id::text, event_type, payload::text AS payload, published_at FROM outbox"
    )
    found = {}
    for service in APPS:
        conn = await asyncpg.connect(
            suite.database(service), server_settings={"default_transaction_read_only": "on"}
        )
        try:
            found[service] = await conn.fetch(query)
        finally:
            await conn.close()
    return found


async def settled(suite: Suite, timeout: float) -> tuple[bool, float]:
    """Wait until no outbox holds an unpublished row and no queue a message (ready or unacked),
    three times in a row: (whether it came to that, seconds waited)."""
    began = time.monotonic()
    calm = 0
    while time.monotonic() - began < timeout:
        try:
            counted = await outboxes(
                suite, "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            unpublished = sum(rows[0][0] for rows in counted.values())
            busy = await _queued(suite)
        except (OSError, asyncpg.PostgresError, RuntimeError):
            unpublished, busy = 1, 1
        calm = calm + 1 if unpublished == 0 and busy == 0 else 0
        if calm >= 3:
            return True, time.monotonic() - began
        await asyncio.sleep(1)
    return False, time.monotonic() - began


async def _queued(suite: Suite) -> int:
    """Messages in the suite's consumer queues, ready or delivered and not acknowledged."""
    process = await asyncio.create_subprocess_exec(
        suite.servers.ctl, "-q", "list_queues", "name", "messages",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    if process.returncode:
        raise RuntimeError("list_queues failed")
    total = 0
    for line in out.decode().splitlines():
        name, _, count = line.rpartition("\t")
        if (
            name != TAP
            and not name.endswith(".dlq")
            and name != "loyalty.unrouted"
            and count.isdigit()
        ):
            total += int(count)
    return total


def published_and_delivered(
    rows: dict[str, list[asyncpg.Record]], tap: Counter[str]
) -> list[Check]:
    out = Check("outboxes: every row published", "databases (read-only)")
    delivered = Check("broker: every published event delivered (tap queue)", "broker")
    for service, found in rows.items():
        for row in found:
            out.checked += 1
            delivered.checked += 1
            if row["published_at"] is None:
                out.problem(f"{service}: {row['event_type']} {row['id']} unpublished")
            elif tap[row["id"]] == 0:
                delivered.problem(f"{service}: {row['event_type']} {row['id']} never delivered")
    return [out, delivered]


class Events:
    """The outbox rows by (type, payload field, value): how many events say that."""

    def __init__(self, rows: dict[str, list[asyncpg.Record]]) -> None:
        self.count: Counter[tuple[str, str, str]] = Counter()
        self.payloads: dict[str, list[dict]] = {}
        for found in rows.values():
            for row in found:
                payload = json.loads(row["payload"])
                self.payloads.setdefault(row["event_type"], []).append(payload)
                for key, value in payload.items():
                    if isinstance(value, str | bool):
                        self.count[(row["event_type"], key, str(value))] += 1

    def of(self, message_class, key: str, value: str) -> int:
        return self.count[(events.type_of(message_class), key, value)]


def expect_once(
    check: Check, found: Events, what: str, message_class, key: str, value: str
) -> None:
    check.checked += 1
    count = found.of(message_class, key, value)
    if count != 1:
        name = message_class.DESCRIPTOR.name
        check.problem(f"{what}: {count} {name} events with {key} {value}")


async def dead_letters(suite: Suite) -> Check:
    """Every dead letter of every consumer, each explained by its service's log (the reason it
    logged when it gave the message up)."""
    check = Check("dead letters: each with its reason logged", "command + logs")
    for service in APPS:
        code, out = await suite.command(service, "dead-letters", "list")
        if code:
            check.problem(f"{service}: dead-letters list failed: {out[-500:]}")
        # Its lines beside the service's own log lines (JSON too, with an `event`).
        letters = [d for d in map(_json, out.splitlines()) if "queue" in d and "event" not in d]
        log = [
            _json(line)
            for line in (suite.logs / f"{service}.log").read_text(errors="replace").splitlines()
        ]
        for letter in letters:
            check.checked += 1
            reasons = [
                entry.get("reason") or entry.get("event")
                for entry in log
                if entry.get("event_id") == letter["id"]
                and (entry.get("event") == "event_malformed" or entry.get("dead_letter") is True)
            ]
            if not reasons:
                check.problem(
                    f"{service} {letter['queue']}: {letter['type']} {letter['id']} ({letter['reason']}) without a logged reason"
                )
            else:
                check.notes.append(f"{service}: {letter['type']} {letter['id']}: {reasons[-1]}")
    return check


def _document(out: str) -> dict:
    """The JSON document a command printed (indented: from a line `{` to a line `}`), among
    the log lines it may have printed too."""
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "{"]
    for start in reversed(starts):
        ends = [i for i in range(start, len(lines)) if lines[i] == "}"]
        if ends:
            return _json("\n".join(lines[start : ends[0] + 1]))
    return {}


def _json(line: str) -> dict:
    try:
        found = json.loads(line)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


async def reconciliations(suite: Suite, since: dt.datetime) -> list[Check]:
    points = Check("points: reconcile (the books' invariants)", "command")
    points.checked = 1
    code, out = await suite.command("points", "reconcile")
    if code or not _document(out).get("consistent"):
        points.problem(out.strip()[-1500:])
    giftcard = Check("giftcard: reconcile (opening + flows = closing)", "command")
    today = dt.datetime.now(ZONE).date()
    day = since.astimezone(ZONE).date()
    while day <= today:
        giftcard.checked += 1
        code, out = await suite.command("giftcard", "reconcile", day.isoformat())
        if code or not _document(out).get("balanced"):
            giftcard.problem(f"{day}: {out.strip()[-1500:]}")
        day += dt.timedelta(days=1)
    return [points, giftcard]


async def replays(book: Book, concurrency: int = 8) -> Check:
    """Every acknowledged request sent again with its id: the same answer, to the byte."""
    check = Check("replays: every acknowledged request answered the same", "gRPC")
    gate = asyncio.Semaphore(concurrency)

    async def again(ack) -> None:
        async with gate:
            try:
                response = await book.read(ack.caller, ack.stub, ack.method, ack.request)
            except grpc.aio.AioRpcError as exc:
                check.problem(
                    f"{ack.stub}.{ack.method} {ack.request.request_id}: {exc.code().name} {exc.details()}"
                )
                return
            if response != ack.response:
                check.problem(f"{ack.stub}.{ack.method} {ack.request.request_id}: another answer")

    check.checked = len(book.acks)
    await asyncio.gather(*(again(ack) for ack in book.acks))
    return check


async def republish(book: Book) -> int:
    """Every acknowledged storefront event published again with its id (applied once)."""
    for sent in list(book.published):
        await book.publish(sent.message, sent.event_id, record=False)
    return len(book.published)
