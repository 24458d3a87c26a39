"""The events the points use cases publish (payloads in loyalty/points/v1/events.proto): ids
and amounts become the payload's strings and enums here."""

from __future__ import annotations

import datetime as dt
import uuid

from loyalty.points.v1 import events_pb2 as ev
from loyalty.points.v1 import resources_pb2 as res
from services.kit import timestamps

from ..domain import postings
from ..domain.holds import ReleaseReason
from ..domain.postings import Transaction
from ..store.holds import Hold
from ..store.lots import Expiring

RELEASE_REASONS = {
    ReleaseReason.REQUESTED: ev.HOLD_RELEASE_REASON_REQUESTED,
    ReleaseReason.TIMED_OUT: ev.HOLD_RELEASE_REASON_EXPIRED,
    ReleaseReason.ORDER_CANCELLED: ev.HOLD_RELEASE_REASON_ORDER_CANCELLED,
}


def entry_kind(kind: str) -> res.LedgerEntryKind.ValueType:
    """The LedgerEntryKind of a journal entry kind (postings.CREDIT, …)."""
    return res.LedgerEntryKind.Value(f"LEDGER_ENTRY_KIND_{kind.upper()}")


def credited(
    txn: Transaction,
    txn_id: uuid.UUID,
    amount: int,
    now: dt.datetime,
    kind: str,
    expires_at: dt.datetime | None = None,
    repaid: int = 0,
) -> ev.PointsCredited:
    return ev.PointsCredited(
        member_id=str(txn.member_id),
        transaction_id=str(txn_id),
        points=amount,
        rule_code=txn.rule_code,
        reference=txn.reference,
        pending=kind == postings.PENDING_CREDIT,
        expire_time=timestamps.to_proto(expires_at),
        credited_time=timestamps.to_proto(now),
        kind=entry_kind(kind),
        debt_repaid=repaid,
    )


def debited(
    txn: Transaction, txn_id: uuid.UUID, amount: int, kind: str, now: dt.datetime, debt: int = 0
) -> ev.PointsDebited:
    return ev.PointsDebited(
        member_id=str(txn.member_id),
        transaction_id=str(txn_id),
        points=amount,
        kind=entry_kind(kind),
        reason=txn.reason,
        reference=txn.reference,
        debited_time=timestamps.to_proto(now),
        debt_points=debt,
    )


def held(hold: Hold) -> ev.PointsHeld:
    return ev.PointsHeld(
        member_id=str(hold.member_id),
        hold_id=str(hold.hold_id),
        points=hold.amount,
        order_id=hold.order_id,
        expire_time=timestamps.to_proto(hold.expires_at),
    )


def hold_released(hold: Hold, why: ReleaseReason, now: dt.datetime) -> ev.PointsHoldReleased:
    return ev.PointsHoldReleased(
        member_id=str(hold.member_id),
        hold_id=str(hold.hold_id),
        points=hold.amount,
        reason=RELEASE_REASONS[why],
        released_time=timestamps.to_proto(now),
    )


def expired(
    member_id: uuid.UUID, points: int, lot_count: int, txn_id: uuid.UUID, now: dt.datetime
) -> ev.PointsExpired:
    return ev.PointsExpired(
        member_id=str(member_id),
        points=points,
        lot_count=lot_count,
        transaction_id=str(txn_id),
        expired_time=timestamps.to_proto(now),
    )


def expiring(group: Expiring) -> ev.PointsExpiring:
    return ev.PointsExpiring(
        member_id=str(group.member_id),
        points=group.points,
        expire_time=timestamps.to_proto(group.expires_at),
    )
