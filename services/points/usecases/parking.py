"""Parking: storefront events points keeps instead of applying, with their reason.

An event for a member points has not seen registered waits for `member.registered` (applied
then, see Commerce.member_arrived) at most `POINTS_UNKNOWN_MEMBER_WAIT_SECONDS`, then is given
up. A payment whose hold or currency does not fit is held for an operator; a later payment of
the order that fits supersedes it. Every parked event is logged, counted
(`points_events_parked_total`) and shown by GetOrder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.kit import logging

from .. import metrics
from ..domain import commerce
from ..domain.commerce import Command, ParkedState, ParkReason, Unfit
from ..store import parked
from ..store.parked import Parked
from .accounts import Accounts

log = logging.get("points.parking")


@dataclass(frozen=True)
class Arrival:
    """The event a command came in: its CloudEvents id and type."""

    event_id: str
    event_type: str


class Parking:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.settings = accounts.settings

    async def wait_for_member(self, conn, arrival: Arrival, command: Command) -> None:
        now = self.accounts.now()
        until = now + dt.timedelta(seconds=self.settings.unknown_member_wait_seconds)
        await self._park(
            conn,
            arrival,
            command,
            ParkedState.WAITING,
            Unfit(ParkReason.MEMBER_UNKNOWN, "waiting for member.registered"),
            now,
            until,
        )

    async def hold(self, conn, arrival: Arrival, command: Command, unfit: Unfit) -> None:
        """Keep a payment that does not fit for an operator."""
        await self._park(conn, arrival, command, ParkedState.HELD, unfit, self.accounts.now())

    async def _park(
        self,
        conn,
        arrival: Arrival,
        command: Command,
        state: ParkedState,
        unfit: Unfit,
        now: dt.datetime,
        wait_until: dt.datetime | None = None,
    ) -> None:
        await parked.park(
            conn,
            event_id=arrival.event_id,
            event_type=arrival.event_type,
            kind=commerce.kind_of(command),
            member_id=command.member_id,
            order_id=command.order_id or None,
            command=commerce.encode(command),
            state=state,
            reason=unfit.reason,
            detail=unfit.detail,
            now=now,
            wait_until=wait_until,
        )
        metrics.EVENTS_PARKED.labels(unfit.reason.value).inc()
        log.warning(
            "event_parked",
            reason=unfit.reason.value,
            detail=unfit.detail,
            parked_event_id=arrival.event_id,
            parked_event_type=arrival.event_type,
            order_id=command.order_id,
        )

    async def applied(self, conn, item: Parked) -> None:
        """An event that waited was applied (unless applying it parked it again)."""
        if await parked.settle(conn, item.parked_id, ParkedState.APPLIED, self.accounts.now()):
            metrics.PARKED_SETTLED.labels(item.reason, ParkedState.APPLIED.value).inc()

    async def refused(self, conn, item: Parked, why: str) -> None:
        """An event that waited was refused when its member arrived."""
        await parked.settle(conn, item.parked_id, ParkedState.REFUSED, self.accounts.now(), why)
        metrics.PARKED_SETTLED.labels(item.reason, ParkedState.REFUSED.value).inc()
        log.warning(
            "parked_event_refused",
            reason=item.reason,
            why=why,
            parked_event_id=item.event_id,
            parked_event_type=item.event_type,
        )

    async def superseded(self, conn, order_id: str) -> None:
        """A payment of the order was applied: the ones held before it are settled."""
        for reason in await parked.supersede_payments(conn, order_id, self.accounts.now()):
            metrics.PARKED_SETTLED.labels(reason, ParkedState.SUPERSEDED.value).inc()

    async def give_up_due(self, conn, now: dt.datetime, limit: int) -> int:
        """Give up events whose member did not register in time; how many."""
        given_up = await parked.give_up_due(conn, now, limit)
        for item in given_up:
            metrics.PARKED_SETTLED.labels(item.reason, ParkedState.GIVEN_UP.value).inc()
            log.warning(
                "parked_event_given_up",
                reason=item.reason,
                parked_event_id=item.event_id,
                parked_event_type=item.event_type,
                order_id=item.order_id,
                parked_at=item.parked_at.isoformat(),
            )
        return len(given_up)

    async def count_open(self, conn) -> dict[ParkedState, int]:
        """The events still waiting or held (also set as the `points_parked_events` gauge)."""
        counts = await parked.open_counts(conn)
        for state, n in counts.items():
            metrics.PARKED_OPEN.labels(state.value).set(n)
        return counts

    async def open_events(self, conn, after: int, limit: int) -> list[Parked]:
        """Events still waiting or held, oldest first, after the parked_id `after`."""
        return await parked.open_events(conn, after, limit)
