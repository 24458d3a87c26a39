"""Dead letters, for operators: what is in a consumer's dead-letter queue and why, and putting a
message back (after the cause is fixed) or dropping it.

`python -m services.<svc> dead-letters list|show ID|replay ID|--all|drop ID|--all`
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika

from . import logging

log = logging.get("kit.deadletters")

# Headers the broker writes about a message's deaths and deliveries: a replayed message starts
# its life in the source queue anew.
_BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death-", "x-last-death-")


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # the consumer queue it died in
    message_id: str
    type: str
    reason: str  # rejected (its own fault, at once), delivery_limit (failed too often), …
    deaths: int
    headers: dict[str, Any]
    body: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "id": self.message_id,
            "type": self.type,
            "reason": self.reason,
            "deaths": self.deaths,
        }


def _dead_letter(queue: str, message: aio_pika.abc.AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    raw = headers.get("x-death")
    deaths = [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []
    first = deaths[0] if deaths else {}
    return DeadLetter(
        queue=queue,
        message_id=str(message.message_id or headers.get("ce-id") or ""),
        type=str(message.type or headers.get("ce-type") or ""),
        reason=str(first.get("reason", "")),
        deaths=sum(_count(d.get("count", 1)) for d in deaths),
        headers=headers,
        body=message.body,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) else 1


Held = list[tuple[DeadLetter, aio_pika.abc.AbstractIncomingMessage]]


@asynccontextmanager
async def _taken(
    connection: aio_pika.abc.AbstractConnection, queue: str
) -> AsyncIterator[tuple[aio_pika.abc.AbstractChannel, Held]]:
    """Every message of `<queue>.dlq`, held unacknowledged; what is not acked by the caller goes
    back to the queue when the channel closes."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        dlq = await channel.declare_queue(f"{queue}.dlq", passive=True)
        held: Held = []
        while (message := await dlq.get(no_ack=False, fail=False)) is not None:
            held.append((_dead_letter(queue, message), message))
        yield channel, held
    finally:
        await channel.close()


async def depth(connection: aio_pika.abc.AbstractConnection, queue: str) -> int:
    """How many messages wait in `<queue>.dlq`, as the broker answers a passive declaration: on
    a channel of its own, since a passive declaration of a queue that is gone closes its channel
    (a consumer's must not be the one)."""
    channel = await connection.channel()
    try:
        dlq = await channel.declare_queue(f"{queue}.dlq", passive=True)
        return dlq.declaration_result.message_count or 0
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def find(connection, queues: list[str]) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    for queue in queues:
        async with _taken(connection, queue) as (_channel, held):
            found += [letter for letter, _ in held]
    return found


async def replay(
    connection,
    queues: list[str],
    wanted: Callable[[DeadLetter], bool],
    user_id: str | None = None,
) -> int:
    """Send the wanted dead letters back to the queue they died in (only that queue, through the
    default exchange: the other consumers of the event had it already); returns how many.
    `user_id` is the connection's broker user: the consumer trusts a message put back into its
    queue through the default exchange by its own user (kit.publishers)."""
    done = 0
    for queue in queues:
        async with _taken(connection, queue) as (channel, held):
            for letter, message in held:
                if not wanted(letter):
                    continue
                headers = {
                    k: v for k, v in letter.headers.items() if not k.startswith(_BROKER_HEADERS)
                }
                again = aio_pika.Message(
                    body=letter.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    type=message.type,
                    user_id=user_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                # Confirmed in the source queue before it leaves the dead letters: at least once.
                await channel.default_exchange.publish(again, routing_key=queue)
                await message.ack()
                log.info("dead_letter_replayed", queue=queue, event_id=letter.message_id)
                done += 1
    return done


async def drop(connection, queues: list[str], wanted: Callable[[DeadLetter], bool]) -> int:
    """Remove the wanted dead letters for good; returns how many."""
    done = 0
    for queue in queues:
        async with _taken(connection, queue) as (_channel, held):
            for letter, message in held:
                if wanted(letter):
                    await message.ack()
                    log.info("dead_letter_dropped", queue=queue, event_id=letter.message_id)
                    done += 1
    return done


async def command(connection, queues: list[str], *words: str, user_id: str | None = None) -> None:
    """The `dead-letters` command: list | show ID | replay ID|--all | drop ID|--all."""
    action, args = (words[0], words[1:]) if words else ("list", ())
    if action == "list":
        for letter in await find(connection, queues):
            print(json.dumps(letter.summary()))
        return
    if action not in ("show", "replay", "drop") or len(args) != 1:
        raise SystemExit("usage: dead-letters list | show ID | replay ID|--all | drop ID|--all")
    target = args[0]

    def wanted(letter: DeadLetter) -> bool:
        return target == "--all" and action != "show" or letter.message_id == target

    if action == "show":
        for letter in await find(connection, queues):
            if wanted(letter):
                shown = {**letter.summary(), "headers": letter.headers}
                print(json.dumps(shown, default=str, indent=2))
                print(letter.body.decode(errors="replace"))
        return
    if action == "replay":
        count = await replay(connection, queues, wanted, user_id)
    else:
        count = await drop(connection, queues, wanted)
    print(json.dumps({action: count}))
