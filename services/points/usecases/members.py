"""What identity and subscription events tell points about a member: registration (sign-up
bonus, referrer, the storefront events that waited for it), status, and the subscriptions that
multiply rebates."""

from __future__ import annotations

import datetime as dt
import uuid

from services.kit import logging

from ..domain import members as members_domain
from ..domain import rules as rules_domain
from ..domain import subscription as subscription_domain
from ..domain.members import MemberStatus
from ..store import members, subscriptions
from .commerce import Commerce
from .earning import Earning

log = logging.get("points.members")


class Members:
    def __init__(self, earning: Earning, commerce: Commerce) -> None:
        self.earning = earning
        self.commerce = commerce

    async def registered(self, conn, member_id: uuid.UUID, referred_by: uuid.UUID | None) -> None:
        await members.lock_arrival(conn, member_id)
        member = await members.ensure_locked(conn, member_id)
        if member.registered:
            return
        await members.update(conn, member_id, registered=True, referred_by=referred_by)
        if members_domain.sign_up_bonus_due(member.status, member.sign_up_bonus_paid):
            await members.update(conn, member_id, sign_up_bonus_paid=True)
            await self.earning.earn_quietly(
                conn,
                member_id,
                rules_domain.CODE_SIGN_UP_BONUS,
                reference="sign_up",
                dedupe_key=f"sign_up:{member_id}",
            )
        # The first order may have completed before this event arrived.
        await self.earning.referral_bonus(conn, member_id)
        await self.commerce.member_arrived(conn, member_id)

    async def status_changed(
        self, conn, member_id: uuid.UUID, status: MemberStatus, at: dt.datetime
    ) -> None:
        """Identity froze, unfroze or closed the member at `at`."""
        member = await members.ensure_locked(conn, member_id)
        after = members_domain.status_after(member.status, member.status_at, status, at)
        if after is None:
            if member.status is not MemberStatus.CLOSED:
                log.info("member_status_stale", status=status.value)  # older, arrived late
            return
        await members.update(conn, member_id, status=after, status_at=at)

    async def subscription_changed(
        self,
        conn,
        subscription_id: str,
        member_id: uuid.UUID,
        change: str,
        multiplier: int,
        period_end: dt.datetime | None,
    ) -> None:
        """A subscription event (`change`: see domain.subscription) moves the projection."""
        current = await subscriptions.lock(conn, subscription_id)
        state = subscription_domain.state_after(current.state if current else None, change)
        if state is None:
            return
        await members.ensure(conn, member_id)
        await subscriptions.upsert(
            conn,
            subscription_id=subscription_id,
            member_id=member_id,
            state=state,
            multiplier=subscription_domain.multiplier_after(
                current.state if current else None, change, multiplier
            ),
            period_end=period_end,
        )
