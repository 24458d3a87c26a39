"""The storefront's events (orders, reviews) and growth's gift packs, gated on the member:
applied for a member points knows from `member.registered`; for any other member parked, never
creating an account, until the member registers (then applied, in the order they came) or the
wait ends (given up)."""

from __future__ import annotations

import uuid

from services.kit import errors

from ..domain import commerce
from ..domain.commerce import Cancellation, Command, Completion, Payment, Refund, Review
from ..domain.growth import GiftPack
from ..store import members, parked
from .earning import Earning
from .orders import Orders
from .parking import Arrival, Parking


class Commerce:
    def __init__(self, parking: Parking, orders: Orders, earning: Earning) -> None:
        self.parking = parking
        self.orders = orders
        self.earning = earning

    async def receive(self, conn, command: Command, arrival: Arrival) -> None:
        """A storefront event or a gift pack: applied, or parked while its member is unknown."""
        await members.lock_arrival(conn, command.member_id)
        member = await members.get(conn, command.member_id)
        if member is None or not member.registered:
            await self.parking.wait_for_member(conn, arrival, command)
            return
        await self._apply(conn, command, arrival)

    async def _apply(self, conn, command: Command, arrival: Arrival) -> None:
        match command:
            case Payment():
                await self.orders.paid(conn, command, arrival)
            case Refund():
                await self.orders.refunded(conn, command)
            case Completion():
                await self.orders.completed(conn, command.order_id, command.member_id)
            case Cancellation():
                await self.orders.cancelled(conn, command.order_id, command.member_id)
            case Review():
                await self.earning.review_posted(
                    conn, command.member_id, command.review_id, command.with_photos
                )
            case GiftPack():
                await self.earning.gift_pack(conn, command)

    async def member_arrived(self, conn, member_id: uuid.UUID) -> None:
        """The member registered (the caller holds the member's arrival lock): apply what
        waited for it, in the order it came. An event refused now (it breaks the contract
        against what points has, or a rule refuses it) is kept as refused, with why; the
        registration and the other events apply regardless."""
        for item in await parked.waiting_for(conn, member_id):
            command = commerce.decode(item.kind, item.command)
            try:
                async with conn.transaction():  # a savepoint: a refusal leaves nothing behind
                    await self._apply(conn, command, Arrival(item.event_id, item.event_type))
            except (errors.Malformed, errors.AppError) as exc:
                await self.parking.refused(conn, item, str(exc))
            else:
                await self.parking.applied(conn, item)
