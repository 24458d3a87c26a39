"""The events growth consumes, built as their publishers send them (storefront, identity, the
risk system, the credit bureau), and sent over the real broker as each type's own broker user.

A builder returns an `Event` (type, subject as the contract names it, message); a `Sender`
publishes it. Times are the events' business times; amounts are fen."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from google.protobuf.message import Message

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.credit.v1 import events_pb2 as credit
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.risk.v1 import events_pb2 as risk
from services.kit import events, publishers
from tests.support import servers

PAID = events.type_of(commerce.OrderPaid)
REFUNDED = events.type_of(commerce.OrderRefunded)
REVIEWED = events.type_of(commerce.ReviewPosted)
ANSWERED = events.type_of(commerce.QuestionAnswered)
SHARED = events.type_of(commerce.ProductShared)
REGISTERED = events.type_of(identity.MemberRegistered)
VERIFIED = events.type_of(identity.MemberVerified)
LINKED = events.type_of(identity.MemberAccountLinked)
UNLINKED = events.type_of(identity.MemberAccountUnlinked)
PROFILE_UPDATED = events.type_of(identity.MemberProfileUpdated)
CLOSED = events.type_of(identity.MemberClosed)
ASSESSED = events.type_of(risk.ReputationAssessed)
REPORTED = events.type_of(credit.ScoreReported)

Publish = Callable[..., Awaitable[str]]  # the `publish` fixture


@dataclass(frozen=True)
class Event:
    type: str
    subject: str
    message: Message


def _at(message: Message, name: str, at: dt.datetime | None) -> Message:
    if at is not None:
        getattr(message, name).FromDatetime(at)
    return message


def paid(
    member: str,
    order_id: str,
    at: dt.datetime | None,
    lines: Iterable[tuple[str, str, int]] = (("l1", "books", 10_000),),
    *,
    currency: str = "CNY",
    platform: int = 0,
) -> Event:
    """`lines`: (line id, category, paid fen); paid_amount_minor is their sum."""
    made = [
        commerce.OrderLine(line_id=i, sku=f"sku-{i}", category=c, quantity=1, paid_amount_minor=a)
        for i, c, a in lines
    ]
    message = commerce.OrderPaid(
        order_id=order_id,
        member_id=member,
        currency_code=currency,
        lines=made,
        paid_amount_minor=sum(line.paid_amount_minor for line in made),
        merchant_id="shop-1",
        platform_payment_amount_minor=platform,
    )
    return Event(PAID, order_id, _at(message, "paid_time", at))


def refunded(
    member: str,
    order_id: str,
    refund_id: str,
    at: dt.datetime | None,
    lines: Iterable[tuple[str, int]] = (("l1", 10_000),),
    *,
    currency: str = "CNY",
) -> Event:
    """`lines`: (line id, refunded fen)."""
    made = [commerce.RefundLine(line_id=i, amount_minor=a) for i, a in lines]
    message = commerce.OrderRefunded(
        order_id=order_id,
        member_id=member,
        refund_id=refund_id,
        currency_code=currency,
        lines=made,
        refunded_amount_minor=sum(line.amount_minor for line in made),
    )
    return Event(REFUNDED, order_id, _at(message, "refund_time", at))


def reviewed(member: str, review_id: str, at: dt.datetime | None, photos: bool = False) -> Event:
    message = commerce.ReviewPosted(
        review_id=review_id, order_id="o-reviewed", member_id=member, has_photos=photos
    )
    return Event(REVIEWED, review_id, _at(message, "posted_time", at))


def answered(member: str, answer_id: str, at: dt.datetime | None) -> Event:
    message = commerce.QuestionAnswered(
        answer_id=answer_id, question_id="q-1", member_id=member, sku="sku-1"
    )
    return Event(ANSWERED, answer_id, _at(message, "answered_time", at))


def shared(member: str, share_id: str, at: dt.datetime | None, channel: str = "wechat") -> Event:
    message = commerce.ProductShared(
        share_id=share_id, member_id=member, sku="sku-1", channel=channel
    )
    return Event(SHARED, share_id, _at(message, "shared_time", at))


def registered(member: str, at: dt.datetime | None, filled: Iterable[str] = ()) -> Event:
    message = identity.MemberRegistered(member_id=member, filled_fields=list(filled))
    return Event(REGISTERED, member, _at(message, "registered_time", at))


def verified(member: str, at: dt.datetime | None) -> Event:
    message = identity.MemberVerified(member_id=member)
    return Event(VERIFIED, member, _at(message, "verified_time", at))


def linked(member: str, provider: str, at: dt.datetime | None) -> Event:
    message = identity.MemberAccountLinked(member_id=member, provider=provider)
    return Event(LINKED, member, _at(message, "linked_time", at))


def unlinked(member: str, provider: str, at: dt.datetime | None) -> Event:
    message = identity.MemberAccountUnlinked(member_id=member, provider=provider)
    return Event(UNLINKED, member, _at(message, "unlinked_time", at))


def profile_updated(member: str, filled: Iterable[str], at: dt.datetime | None) -> Event:
    filled = list(filled)
    message = identity.MemberProfileUpdated(
        member_id=member, changed_fields=filled[:1], filled_fields=filled
    )
    return Event(PROFILE_UPDATED, member, _at(message, "updated_time", at))


def closed(member: str, at: dt.datetime | None) -> Event:
    message = identity.MemberClosed(member_id=member)
    return Event(CLOSED, member, _at(message, "closed_time", at))


def assessed(
    member: str, assessment_id: str, score: int, at: dt.datetime | None, **fields
) -> Event:
    """`fields`: reason_codes, model_version, risk_level, as a test needs them."""
    values = {
        "assessment_id": assessment_id,
        "member_id": member,
        "score": score,
        "risk_level": risk.RISK_LEVEL_LOW,
        "reason_codes": ["clean_history"],
        "model_version": "m-7",
        **fields,
    }
    return Event(ASSESSED, member, _at(risk.ReputationAssessed(**values), "assessed_time", at))


def reported(
    member: str, report_id: str, score: int, at: dt.datetime | None, bureau: str = "xiaobai"
) -> Event:
    message = credit.ScoreReported(
        report_id=report_id, member_id=member, bureau=bureau, score=score
    )
    return Event(REPORTED, member, _at(message, "reported_time", at))


class Sender:
    """Sends events as their publishers: the suite's and the storefronts' through the `publish`
    fixture; the outside systems' (risk, credit) on a connection as their own broker user
    without declaring the exchange, which such a user may not (it may only publish its types):
    the `publish` fixture declares it, so it cannot send theirs. Every id sent is added to
    `published`, which the `consumed` fixtures wait on."""

    def __init__(self, publish: Publish, producers, published: dict[str, set[str]]) -> None:
        self.publish = publish
        self.producers = producers
        self.published = published

    async def __call__(self, event: Event, event_id: str | None = None) -> str:
        source = publishers.source_of(event.type)
        if source not in publishers.OUTSIDE:
            return await self.publish(event.type, event.subject, event.message, event_id=event_id)
        connection = await self.producers(source)
        sent = event_id or str(uuid.uuid4())
        channel = await connection.channel(publisher_confirms=True)
        try:
            exchange = await channel.get_exchange(
                servers.broker_settings()["events_exchange"], ensure=False
            )
            message = events.to_amqp(
                event_id=sent,
                type_=event.type,
                source=f"/loyalty/{source}",
                subject=event.subject,
                data=events.payload_json(event.message),
                user_id=connection.url.user or "guest",
            )
            await exchange.publish(message, routing_key=event.type, timeout=10)
        finally:
            await channel.close()
        self.published.setdefault(event.type, set()).add(sent)
        return sent
