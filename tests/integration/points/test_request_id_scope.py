"""A request id belongs to its caller (AIP-155): another member replaying it gets nothing of the
first caller's — not their hold, not their balance."""

from __future__ import annotations

import grpc
import pytest

from loyalty.points.v1 import points_service_pb2 as pb
from tests.support.grpc_errors import assert_error
from tests.support.points import reserve_request


async def test_a_member_replaying_anothers_release_gets_not_found(points, mint, new_member, fund):
    owner, stranger = await new_member(), await new_member()
    await fund(owner, 1000)
    as_owner, as_stranger = mint(owner), mint(stranger)
    hold = (
        await points.ReserveHold(reserve_request(owner, 100, "order-1"), metadata=as_owner)
    ).hold
    release = pb.ReleaseHoldRequest(request_id="release-order-1", hold_id=hold.hold_id)
    released = await points.ReleaseHold(release, metadata=as_owner)
    assert released.balance.available == 1000

    # The very same request from another member: answered as that member, not replayed.
    with pytest.raises(grpc.aio.AioRpcError) as replayed:
        await points.ReleaseHold(release, metadata=as_stranger)
    assert_error(replayed, grpc.StatusCode.NOT_FOUND, "HOLD_NOT_FOUND")
    assert owner not in str(replayed.value.details())

    # And the owner still gets the first answer back.
    again = await points.ReleaseHold(release, metadata=as_owner)
    assert again == released
