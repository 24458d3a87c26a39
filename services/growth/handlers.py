"""Growth's consumers: storefront orders and activity, identity's members, the risk system's
assessments and the credit bureau's scores. Each event is checked and turned into facts by
`ingest` (a bad one is `errors.Malformed`: dead-lettered at once, nothing recorded), which are
recorded in the event's inbox transaction. Recording is idempotent per fact, so an event the
inbox has not seen that repeats a fact (a new event id for the same order) changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.message import Message

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.credit.v1 import events_pb2 as credit
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.risk.v1 import events_pb2 as risk
from services.kit.events import Envelope
from services.kit.inbox import Subscription

from .ingest import MemberClosed, MemberSeen, ingest

if TYPE_CHECKING:
    import asyncpg

    from .usecases import GrowthUseCases

# One queue per source: a flood (or an outage of dead letters) from one stalls no other.
CONSUMERS: dict[str, tuple[type[Message], ...]] = {
    "growth.commerce": (
        commerce.OrderPaid,
        commerce.OrderRefunded,
        commerce.ReviewPosted,
        commerce.QuestionAnswered,
        commerce.ProductShared,
    ),
    "growth.identity": (
        identity.MemberRegistered,
        identity.MemberVerified,
        identity.MemberAccountLinked,
        identity.MemberAccountUnlinked,
        identity.MemberProfileUpdated,
        identity.MemberClosed,
    ),
    "growth.risk": (risk.ReputationAssessed,),
    "growth.credit": (credit.ScoreReported,),
}


class Handlers:
    def __init__(self, usecases: GrowthUseCases) -> None:
        self.uc = usecases

    def subscriptions(self) -> list[Subscription]:
        found = []
        for queue, messages in CONSUMERS.items():
            subscription = Subscription(queue)
            for message in messages:
                subscription.add(message, self.apply)
            found.append(subscription)
        return found

    async def apply(self, conn: asyncpg.Connection, event: Message, envelope: Envelope) -> None:
        """Every event alike: what it records, in order (the member before their profile)."""
        for item in ingest(event, envelope, self.uc.deps.now()):
            if isinstance(item, MemberSeen):
                await self.uc.facts.member_seen(conn, item.member_id, item.at)
            elif isinstance(item, MemberClosed):
                await self.uc.facts.member_closed(conn, item.member_id, item.at)
            else:
                await self.uc.facts.record(conn, item)
