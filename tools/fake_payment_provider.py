"""A FAKE payment provider, for tests and `make run`: not part of the suite, never for
production (it takes no money; it says yes or no by a rule).

The suite takes no payment itself: subscription asks the payment provider to charge a member
(`loyalty.subscription.charge.requested.v1`) and the provider answers, as the storefront's
broker user, with `commerce.payment.succeeded.v1` or `commerce.payment.failed.v1` (purpose
"subscription", reference_id = the order id, the amount asked for). This stand-in answers every
charge once (by its charge_id) and none whose order was withdrawn first
(`loyalty.subscription.charge.cancelled.v1`), by a rule the tester sets:

    succeed                  every charge succeeds (the default)
    fail                     every charge fails
    fail-above=AMOUNT        a charge of more than AMOUNT minor units fails
    fail-members=ID[,ID...]  the charges of these members fail
    fail-attempts=N          the first N attempts of an order fail, later ones succeed

Rules combine with ";" (a charge fails when any of them says so), e.g.
"fail-members=0197...;fail-above=20000".

    python -m tools.fake_payment_provider [--rule RULE]

reads STOREFRONT_AMQP_URL (else LOYALTY_AMQP_URL), LOYALTY_EVENTS_EXCHANGE,
LOYALTY_COMMERCE_EXCHANGE and LOYALTY_QUEUE_PREFIX as the services do, and FAKE_PAYMENT_RULE
when --rule is not given. Its queue is `<prefix><broker user>.fake_payment_provider`, which the
storefront's user may read (services/kit/publishers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.subscription.v1 import events_pb2 as ev
from services.kit import events, publishers
from services.kit.errors import Malformed

REQUESTED = events.type_of(ev.ChargeRequested)
WITHDRAWN = events.type_of(ev.ChargeCancelled)
SOURCE = "/payments/fake"
FAILURE_REASON = "card_declined"
STARTUP_ATTEMPTS = 60  # one a second


@dataclass(frozen=True)
class Rule:
    """When a charge fails; anything else succeeds."""

    fail_all: bool = False
    fail_above: int | None = None
    fail_members: frozenset[str] = frozenset()
    fail_attempts: int = 0

    @classmethod
    def parse(cls, spec: str) -> Rule:
        """`succeed`, `fail`, `fail-above=N`, `fail-members=a,b`, `fail-attempts=N`, joined by
        ";". A rule it cannot read is a ValueError (the program stops saying so)."""
        values: dict = {}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            name, _, value = part.partition("=")
            if name == "succeed" and not value:
                continue
            if name == "fail" and not value:
                values["fail_all"] = True
            elif name == "fail-above" and value.isdigit():
                values["fail_above"] = int(value)
            elif name == "fail-members" and value:
                values["fail_members"] = frozenset(m.strip() for m in value.split(","))
            elif name == "fail-attempts" and value.isdigit():
                values["fail_attempts"] = int(value)
            else:
                raise ValueError(f"unknown payment rule {part!r} (see --help)")
        return cls(**values)

    def fails(self, charge: ev.ChargeRequested) -> bool:
        return (
            self.fail_all
            or (self.fail_above is not None and charge.amount.amount_minor > self.fail_above)
            or charge.member_id in self.fail_members
            or charge.attempt <= self.fail_attempts
        )


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.UTC))
    return stamp


def answer(charge: ev.ChargeRequested, rule: Rule) -> Message:
    """The provider's answer to a charge: the payment it took, or why it could not."""
    common: dict[str, Any] = dict(
        payment_id=f"fake-{charge.charge_id}",
        member_id=charge.member_id,
        purpose=charge.purpose,
        reference_id=charge.order_id,
        amount=charge.amount,
    )
    if rule.fails(charge):
        return commerce.PaymentFailed(**common, failure_reason=FAILURE_REASON, failed_time=_now())
    return commerce.PaymentSucceeded(**common, succeeded_time=_now())


class FakePaymentProvider:
    """Consumes charge requests and publishes the answers, on a broker connection as the
    storefront's user (its queue is that user's: `<prefix><user>.fake_payment_provider`)."""

    def __init__(
        self,
        amqp_url: str,
        rule: Rule,
        *,
        events_exchange: str = "loyalty.events",
        commerce_exchange: str = "commerce.events",
        queue_prefix: str = "",
    ) -> None:
        self.amqp_url = amqp_url
        self.rule = rule
        self.events_exchange = events_exchange
        self.commerce_exchange = commerce_exchange
        self.user = publishers.broker_user(amqp_url)
        self.queue_name = f"{queue_prefix}{self.user}.fake_payment_provider"
        self.answered: dict[str, str] = {}  # charge_id → the answer's event type
        self.withdrawn: set[str] = set()  # order ids
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=32)
        (self._exchange,) = await events.declare_exchanges(channel, self.commerce_exchange)
        # The services declare the events exchange; the storefront's user may only read it.
        self._queue = await channel.declare_queue(self.queue_name, durable=True)
        for type_ in (REQUESTED, WITHDRAWN):
            await self._queue.bind(self.events_exchange, routing_key=type_)
        await self._queue.consume(self._on_message)

    async def stop(self, *, delete_queue: bool = False) -> None:
        if self._connection is None:
            return
        if delete_queue and self._queue is not None:
            await self._queue.delete(if_unused=False, if_empty=False)
        await self._connection.close()
        self._connection, self._queue, self._exchange = None, None, None

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            envelope = events.from_amqp(message)
            if envelope.type == WITHDRAWN:
                self.withdrawn.add(envelope.payload(ev.ChargeCancelled).order_id)
            elif envelope.type == REQUESTED:
                await self._charge(envelope.payload(ev.ChargeRequested))
        except (ValueError, Malformed) as exc:  # no CloudEvent, or a payload that does not fit
            print(f"fake payment provider: dropped a message: {exc}", file=sys.stderr)
            await message.reject(requeue=False)
            return
        await message.ack()

    async def _charge(self, charge: ev.ChargeRequested) -> None:
        if charge.charge_id in self.answered or charge.order_id in self.withdrawn:
            return
        reply = answer(charge, self.rule)
        type_ = events.type_of(reply)
        assert self._exchange is not None
        await self._exchange.publish(
            events.to_amqp(
                event_id=str(uuid.uuid4()),
                type_=type_,
                source=SOURCE,
                subject=charge.order_id,
                data=events.payload_json(reply),
                user_id=self.user,
            ),
            routing_key=type_,
        )
        self.answered[charge.charge_id] = type_


async def _main(rule: Rule) -> None:
    url = os.environ.get("STOREFRONT_AMQP_URL") or os.environ.get(
        "LOYALTY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"
    )
    provider = FakePaymentProvider(
        url,
        rule,
        events_exchange=os.environ.get("LOYALTY_EVENTS_EXCHANGE", "loyalty.events"),
        commerce_exchange=os.environ.get("LOYALTY_COMMERCE_EXCHANGE", "commerce.events"),
        queue_prefix=os.environ.get("LOYALTY_QUEUE_PREFIX", ""),
    )
    # Started beside the services (make run): the broker, or the events exchange the services
    # declare, may not be there yet.
    for _ in range(STARTUP_ATTEMPTS):
        try:
            await provider.start()
            break
        except (aio_pika.exceptions.AMQPError, OSError) as exc:
            await provider.stop()
            print(f"fake payment provider: waiting for the broker ({exc!r})", file=sys.stderr)
            await asyncio.sleep(1)
    else:
        raise SystemExit("fake payment provider: the broker or loyalty.events never came")
    print(f"fake payment provider (NOT a real one): answering by {rule}", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await provider.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fake_payment_provider",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rule", default=os.environ.get("FAKE_PAYMENT_RULE", "succeed"))
    options = parser.parse_args()
    try:
        rule = Rule.parse(options.rule)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    asyncio.run(_main(rule))


if __name__ == "__main__":
    main()
