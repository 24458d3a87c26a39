"""Bad input and refused operations: each is one precise error and changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import timestamp_pb2

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from tests.support import snapshots
from tests.support.grpc_errors import fails
from tests.support.ids import uid
from tests.support.points import (
    adjust_request,
    assert_reconciled,
    capture_request,
    grant_request,
    redeem_request,
    release_request,
    reserve_request,
    upsert_rule_request,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
TABLES = (
    "member_accounts",
    "journal_transactions",
    "journal_postings",
    "lots",
    "holds",
    "hold_lots",
    "orders",
    "merchant_budgets",
    "earning_rules",
    "idempotency",
    "audit_log",
)


async def snapshot(pool) -> dict:
    # The relay marks outbox rows published at any moment: compare which rows exist.
    return await snapshots.snapshot(pool, *TABLES, outbox="SELECT id FROM outbox")


@pytest.fixture
async def world(points, points_app, operator, new_member, fund, clock):
    now = dt.datetime.now(dt.UTC)
    active = await new_member()
    frozen = await new_member(status="frozen")
    await fund(active, 100)

    async def reserve(order_id, amount=10):
        response = await points.ReserveHold(
            reserve_request(active, amount, order_id), metadata=operator
        )
        return response.hold.hold_id

    clock.set(now - dt.timedelta(minutes=31))
    timed_out = await reserve("o-timed-out")
    clock.set(now)
    held = await reserve("o-held")
    captured = await reserve("o-captured")
    await points.CaptureHold(capture_request(captured), metadata=operator)
    released = await reserve("o-released")
    await points.ReleaseHold(release_request(released), metadata=operator)
    await points.TopUpMerchantBudget(
        pb.TopUpMerchantBudgetRequest(request_id=uid(), merchant_id="m-1", points=5),
        metadata=operator,
    )
    await points.UpsertEarningRule(
        upsert_rule_request(rule_code="task.off", kind=res.EARNING_RULE_KIND_TASK, points=5),
        metadata=operator,
    )
    await points.UpsertEarningRule(
        upsert_rule_request(
            rule_code="task.capped",
            kind=res.EARNING_RULE_KIND_TASK,
            points=5,
            daily_cap=5,
            enabled=True,
        ),
        metadata=operator,
    )
    await points.Grant(grant_request(active, "task.capped"), metadata=operator)
    await points.SignIn(pb.SignInRequest(request_id=uid(), member_id=active), metadata=operator)
    return SimpleNamespace(
        active=active,
        frozen=frozen,
        unknown=str(uuid.uuid4()),
        held=held,
        captured=captured,
        released=released,
        timed_out=timed_out,
    )


def redeem(member, amount=10, item="coupon.x", request_id=None):
    return "Redeem", redeem_request(member, amount, item, request_id)


def reserve(member, amount=10, order_amount=10_000, order_id="o-new"):
    return "ReserveHold", reserve_request(member, amount, order_id, order_amount)


def capture(hold_id):
    return "CaptureHold", capture_request(hold_id)


def grant(member, rule_code="task", **kw):
    return "Grant", grant_request(member, rule_code, **kw)


def adjust(member, delta, reason="fix"):
    return "Adjust", adjust_request(member, delta, reason)


def upsert(**rule):
    return "UpsertEarningRule", upsert_rule_request(**rule)


CASES = {
    "zero points": (lambda w: redeem(w.active, 0), INVALID, "INVALID_ARGUMENT", ["points"]),
    "negative points": (lambda w: redeem(w.active, -5), INVALID, "INVALID_ARGUMENT", ["points"]),
    "no catalogue item": (
        lambda w: redeem(w.active, item=""),
        INVALID,
        "INVALID_ARGUMENT",
        ["catalogue_item"],
    ),
    "malformed member id": (lambda w: redeem("nope"), INVALID, "INVALID_ARGUMENT", ["member_id"]),
    "no request id": (
        lambda w: redeem(w.active, request_id=""),
        INVALID,
        "INVALID_ARGUMENT",
        ["request_id"],
    ),
    "unknown member": (lambda w: redeem(w.unknown), NOT_FOUND, "MEMBER_NOT_FOUND", []),
    "frozen member redeems": (lambda w: redeem(w.frozen), PRECONDITION, "MEMBER_FROZEN", []),
    "frozen member holds": (lambda w: reserve(w.frozen), PRECONDITION, "MEMBER_FROZEN", []),
    "frozen member earns": (lambda w: grant(w.frozen, points=5), PRECONDITION, "MEMBER_FROZEN", []),
    "more than available": (
        lambda w: redeem(w.active, 1000),
        PRECONDITION,
        "INSUFFICIENT_POINTS",
        [],
    ),
    "hold fields": (
        lambda w: reserve(w.active, 0, 0, ""),
        INVALID,
        "INVALID_ARGUMENT",
        ["order_id", "points", "order_amount_minor"],
    ),
    "over-share deduction": (
        lambda w: reserve(w.active, 51, order_amount=100),
        INVALID,
        "HOLD_EXCEEDS_ORDER_SHARE",
        ["points"],
    ),
    "expired hold": (lambda w: capture(w.timed_out), PRECONDITION, "HOLD_EXPIRED", []),
    "capture twice": (lambda w: capture(w.captured), PRECONDITION, "HOLD_ALREADY_CAPTURED", []),
    "capture released": (lambda w: capture(w.released), PRECONDITION, "HOLD_RELEASED", []),
    "unknown hold": (lambda w: capture(str(uuid.uuid4())), NOT_FOUND, "HOLD_NOT_FOUND", []),
    "release captured": (
        lambda w: ("ReleaseHold", release_request(w.captured)),
        PRECONDITION,
        "HOLD_CAPTURED",
        [],
    ),
    "unknown rule": (
        lambda w: grant(w.active, "no.such.rule", points=5),
        NOT_FOUND,
        "RULE_NOT_FOUND",
        [],
    ),
    "grant negative": (
        lambda w: grant(w.active, points=-1),
        INVALID,
        "INVALID_ARGUMENT",
        ["points"],
    ),
    "grant without amount": (lambda w: grant(w.active), INVALID, "INVALID_ARGUMENT", ["points"]),
    "grant other than fixed": (
        lambda w: grant(w.active, "sign_up_bonus", points=7),
        INVALID,
        "INVALID_ARGUMENT",
        ["points"],
    ),
    "grant a rebate": (
        lambda w: grant(w.active, "purchase_rebate", points=7),
        INVALID,
        "RULE_NOT_GRANTABLE",
        ["rule_code"],
    ),
    "merchant rule without merchant": (
        lambda w: grant(w.active, "merchant_grant", points=1),
        INVALID,
        "INVALID_ARGUMENT",
        ["merchant_id"],
    ),
    "merchant budget short": (
        lambda w: grant(w.active, "merchant_grant", points=6, merchant_id="m-1"),
        PRECONDITION,
        "MERCHANT_BUDGET_INSUFFICIENT",
        [],
    ),
    "merchant budget unknown": (
        lambda w: grant(w.active, "merchant_grant", points=1, merchant_id="m-2"),
        NOT_FOUND,
        "MERCHANT_BUDGET_NOT_FOUND",
        [],
    ),
    "disabled rule": (lambda w: grant(w.active, "task.off"), PRECONDITION, "RULE_DISABLED", []),
    "daily cap": (lambda w: grant(w.active, "task.capped"), EXHAUSTED, "DAILY_CAP_REACHED", []),
    "adjust nothing": (
        lambda w: adjust(w.active, 0, ""),
        INVALID,
        "INVALID_ARGUMENT",
        ["delta", "reason"],
    ),
    "adjust below zero": (
        lambda w: adjust(w.active, -1000),
        PRECONDITION,
        "INSUFFICIENT_POINTS",
        [],
    ),
    "sign in twice": (
        lambda w: ("SignIn", pb.SignInRequest(request_id=uid(), member_id=w.active)),
        PRECONDITION,
        "ALREADY_SIGNED_IN",
        [],
    ),
    "top up zero": (
        lambda w: (
            "TopUpMerchantBudget",
            pb.TopUpMerchantBudgetRequest(request_id=uid(), merchant_id="m 1"),
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["merchant_id", "points"],
    ),
    "rule without kind": (
        lambda w: upsert(rule_code="x1", points=-1),
        INVALID,
        "INVALID_ARGUMENT",
        ["rule.kind", "rule.points"],
    ),
    "rule changes kind": (
        lambda w: upsert(rule_code="review", kind=res.EARNING_RULE_KIND_TASK, points=5),
        PRECONDITION,
        "RULE_KIND_CHANGED",
        [],
    ),
    "streak bonus on a task": (
        lambda w: upsert(
            rule_code="t2",
            kind=res.EARNING_RULE_KIND_TASK,
            streak_bonus=[res.StreakBonus(day=0, bonus=1)],
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["rule.streak_bonus", "rule.streak_bonus[0].day"],
    ),
    "rule effective past year 9999": (
        lambda w: upsert(
            rule_code="t3",
            kind=res.EARNING_RULE_KIND_TASK,
            effective_time=timestamp_pb2.Timestamp(seconds=253_402_300_800),
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["rule.effective_time"],
    ),
    "history from before year 1": (
        lambda w: (
            "ListLedgerEntries",
            pb.ListLedgerEntriesRequest(
                member_id=w.active,
                start_time=timestamp_pb2.Timestamp(seconds=-(2**62)),
                end_time=timestamp_pb2.Timestamp(seconds=0, nanos=-1),
            ),
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["start_time", "end_time"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_refused_call_is_precise_and_changes_nothing(
    points, points_app, operator, world, case
):
    build, code, reason, fields = CASES[case]
    method, request = build(world)
    before = await snapshot(points_app.pool)
    failure = await fails(getattr(points, method)(request, metadata=operator), code, reason, fields)
    assert "Traceback" not in failure.message
    assert await snapshot(points_app.pool) == before
    await assert_reconciled(points_app.pool)
