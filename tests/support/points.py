"""Points in tests: the requests tests send most, and the books check after a test's changes."""

from __future__ import annotations

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from services.points.store import reconcile
from tests.support.ids import uid


async def assert_reconciled(pool) -> None:
    """Balances, lots and journal agree (what `python -m services.points reconcile` checks)."""
    problems = await reconcile.snapshot(pool)
    assert problems == {}, problems


def redeem_request(
    member_id: str, points: int, catalogue_item: str = "c", request_id: str | None = None
) -> pb.RedeemRequest:
    return pb.RedeemRequest(
        # "" is a request without an id, which validation tests send on purpose.
        request_id=uid() if request_id is None else request_id,
        member_id=member_id,
        points=points,
        catalogue_item=catalogue_item,
    )


def reserve_request(
    member_id: str,
    points: int,
    order_id: str = "o",
    order_amount_minor: int = 10_000,
) -> pb.ReserveHoldRequest:
    return pb.ReserveHoldRequest(
        request_id=uid(),
        member_id=member_id,
        order_id=order_id,
        points=points,
        order_amount_minor=order_amount_minor,
    )


def capture_request(hold_id: str) -> pb.CaptureHoldRequest:
    return pb.CaptureHoldRequest(request_id=uid(), hold_id=hold_id)


def release_request(hold_id: str) -> pb.ReleaseHoldRequest:
    return pb.ReleaseHoldRequest(request_id=uid(), hold_id=hold_id)


def adjust_request(member_id: str, delta: int, reason: str) -> pb.AdjustRequest:
    return pb.AdjustRequest(request_id=uid(), member_id=member_id, delta=delta, reason=reason)


def grant_request(member_id: str, rule_code: str, **fields) -> pb.GrantRequest:
    """`fields`: points, merchant_id, reference, as the rule needs."""
    return pb.GrantRequest(request_id=uid(), member_id=member_id, rule_code=rule_code, **fields)


def upsert_rule_request(**rule) -> pb.UpsertEarningRuleRequest:
    """`rule`: the fields of the EarningRule to add a version of."""
    return pb.UpsertEarningRuleRequest(request_id=uid(), rule=res.EarningRule(**rule))
