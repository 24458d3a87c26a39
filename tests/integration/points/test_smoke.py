"""Smoke: grant, redeem, balance and history through the gRPC API."""

from __future__ import annotations

from loyalty.points.v1 import points_service_pb2 as pb
from tests.support.points import adjust_request, assert_reconciled, redeem_request


async def test_adjust_then_redeem(points, points_app, operator, new_member, balance):
    member = await new_member()
    await points.Adjust(adjust_request(member, 300, "welcome"), metadata=operator)
    response = await points.Redeem(
        redeem_request(member, 120, "coupon.free_shipping"), metadata=operator
    )
    assert response.balance.available == 180
    b = await balance(member)
    assert b.available == 180
    history = await points.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(member_id=member), metadata=operator
    )
    assert [(e.kind, e.amount) for e in history.entries] == [(2, -120), (13, 300)]
    await assert_reconciled(points_app.pool)
