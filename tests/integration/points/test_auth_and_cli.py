"""Who may call what, and the command line (`python -m services.points ...`)."""

from __future__ import annotations

import json
import uuid

import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from tests.support import cli
from tests.support.grpc_errors import fails
from tests.support.points import (
    capture_request,
    grant_request,
    redeem_request,
    release_request,
    reserve_request,
)

DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


async def test_tokens_and_scopes(points, points_app, mint, operator, new_member, fund):
    member, other = await new_member(), await new_member()
    await fund(member, 100)
    own = mint(member)
    assert (
        await points.GetBalance(pb.GetBalanceRequest(member_id=member), metadata=own)
    ).balance.available == 100
    await fails(
        points.GetBalance(pb.GetBalanceRequest(member_id=member)),
        UNAUTHENTICATED,
        "UNAUTHENTICATED",
    )
    await fails(
        points.GetBalance(pb.GetBalanceRequest(member_id=other), metadata=own),
        DENIED,
        "NOT_OWNER",
    )
    await fails(
        points.Grant(grant_request(member, "task", points=5), metadata=own),
        DENIED,
        "MISSING_SCOPE",
    )
    reader = mint("reporting", kind="service", scopes=["points:read"])
    await fails(points.Redeem(redeem_request(member, 1), metadata=reader), DENIED, "MISSING_SCOPE")
    expired = mint(member, ttl=-60)
    await fails(
        points.GetBalance(pb.GetBalanceRequest(member_id=member), metadata=expired),
        UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    )


async def test_members_hold_and_release_their_own_holds_only(
    points, points_app, mint, new_member, fund
):
    member, other = await new_member(), await new_member()
    await fund(member, 100)
    own = mint(member)
    hold = (
        await points.ReserveHold(reserve_request(member, 10, order_amount_minor=500), metadata=own)
    ).hold
    await fails(
        points.CaptureHold(capture_request(hold.hold_id), metadata=own), DENIED, "MISSING_SCOPE"
    )
    await fails(
        points.ReleaseHold(release_request(hold.hold_id), metadata=mint(other)),
        grpc.StatusCode.NOT_FOUND,
        "HOLD_NOT_FOUND",
    )
    await fails(
        points.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id), metadata=mint(other)),
        grpc.StatusCode.NOT_FOUND,
        "HOLD_NOT_FOUND",
    )
    released = await points.ReleaseHold(release_request(hold.hold_id), metadata=own)
    assert released.balance.available == 100


async def test_cli_migrate_expire_now_and_reconcile(points, points_app, new_member, fund):
    member = await new_member()
    await fund(member, 10)
    code, _, _ = await cli.run(points_app, "migrate")
    assert code == 0
    code, out, _ = await cli.run(points_app, "expire-now")
    assert code == 0
    assert json.loads(out) == {
        "expired_points": 0,
        "holds_released": 0,
        "expiring_notices": 0,
        "parked_given_up": 0,
    }
    code, out, _ = await cli.run(points_app, "reconcile")
    assert code == 0 and json.loads(out)["consistent"] is True
    # A balance that no longer matches its journal is reported, and the exit code says so.
    await points_app.pool.execute(
        "UPDATE member_accounts SET available = available + 1 WHERE member_id = $1",
        uuid.UUID(member),
    )
    code, out, _ = await cli.run(points_app, "reconcile")
    assert code == 1
    report = json.loads(out)
    assert set(report["problems"]) == {"member_buckets", "lots_vs_available"}
