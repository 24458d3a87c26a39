"""Every RPC: authenticate → authorise → cheap size checks → validate. Nothing of a request is
walked for a caller who may not send it (100,000 streak bonuses with no token blocked points
for seconds)."""

from __future__ import annotations

import grpc
import pytest

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from tests.support.grpc_errors import fails

HUGE = pb.UpsertEarningRuleRequest(
    request_id="rule-1",
    rule=res.EarningRule(
        rule_code="x", streak_bonus=[res.StreakBonus(day=d, bonus=1) for d in range(100_000)]
    ),
)


async def test_a_huge_request_is_refused_by_who_sends_it_before_what_it_holds(
    points, mint, operator
):
    await fails(points.UpsertEarningRule(HUGE, timeout=5), grpc.StatusCode.UNAUTHENTICATED)
    await fails(
        points.UpsertEarningRule(HUGE, metadata=mint("m-1"), timeout=5),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_SCOPE",
    )
    await fails(
        points.UpsertEarningRule(HUGE, metadata=operator, timeout=5),
        grpc.StatusCode.INVALID_ARGUMENT,
        fields=["rule.streak_bonus"],
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda p, md: p.GetBalance(pb.GetBalanceRequest(member_id="not-an-id"), metadata=md),
        lambda p, md: p.Adjust(pb.AdjustRequest(member_id="not-an-id", delta=0), metadata=md),
        lambda p, md: p.GetHold(pb.GetHoldRequest(hold_id="not-an-id"), metadata=md),
    ],
)
async def test_a_caller_without_a_token_learns_nothing_about_the_request(points, call):
    await fails(call(points, ()), grpc.StatusCode.UNAUTHENTICATED)
