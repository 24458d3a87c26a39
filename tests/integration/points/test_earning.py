"""Earning rules as data: sign-in streaks by business day, versions, caps, merchant budgets."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc

from loyalty.points.v1 import points_service_pb2 as pb
from loyalty.points.v1 import resources_pb2 as res
from services.points.domain.rules import EarningRule
from services.points.store import rules as rule_store
from tests.support.grpc_errors import details, fails
from tests.support.ids import uid
from tests.support.points import (
    assert_reconciled,
    grant_request,
    redeem_request,
    upsert_rule_request,
)

# 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is the next business day.
DAY1 = dt.datetime(2025, 6, 1, 15, 0, tzinfo=dt.UTC)


async def sign_in(points, metadata, member):
    return await points.SignIn(
        pb.SignInRequest(request_id=uid(), member_id=member), metadata=metadata
    )


async def test_sign_in_once_per_business_day_with_streak_bonus(
    points, points_app, mint, new_member, clock
):
    member = await new_member()
    own = mint(member)  # a member signs in with their own token
    clock.set(DAY1)
    first = await sign_in(points, own, member)
    assert (first.points, first.streak_days, first.balance.available) == (5, 1, 5)
    clock.set(DAY1 + dt.timedelta(minutes=59))  # 23:59 Shanghai, same business day
    await fails(sign_in(points, own, member), reason="ALREADY_SIGNED_IN")
    clock.set(DAY1 + dt.timedelta(hours=1))  # 00:00 Shanghai: the next day
    second = await sign_in(points, own, member)
    assert (second.points, second.streak_days) == (5, 2)
    clock.set(DAY1 + dt.timedelta(days=1, hours=2))
    third = await sign_in(points, own, member)
    assert (third.points, third.streak_days) == (10, 3)  # day-3 bonus of 5
    clock.set(DAY1 + dt.timedelta(days=4))  # a day missed: the streak starts again
    fourth = await sign_in(points, own, member)
    assert (fourth.points, fourth.streak_days, fourth.balance.available) == (5, 1, 25)
    other = await new_member()
    await fails(sign_in(points, own, other), grpc.StatusCode.PERMISSION_DENIED)


async def test_rule_versions_apply_from_their_effective_time(
    points, points_app, operator, new_member, clock
):
    member = await new_member()
    now = dt.datetime(2025, 7, 1, 2, 0, tzinfo=dt.UTC)
    clock.set(now)
    v2 = await points.UpsertEarningRule(
        upsert_rule_request(
            rule_code="sign_in", kind=res.EARNING_RULE_KIND_SIGN_IN, points=8, enabled=True
        ),
        metadata=operator,
    )
    assert v2.rule.version == 2
    scheduled = res.EarningRule(
        rule_code="sign_in", kind=res.EARNING_RULE_KIND_SIGN_IN, points=50, enabled=True
    )
    scheduled.effective_time.FromDatetime(now + dt.timedelta(days=2))
    v3 = await points.UpsertEarningRule(
        pb.UpsertEarningRuleRequest(request_id=uid(), rule=scheduled), metadata=operator
    )
    assert v3.rule.version == 3
    signed = await sign_in(points, operator, member)
    assert signed.points == 8
    recorded = await points_app.pool.fetchval(
        "SELECT rule_version FROM journal_transactions WHERE rule_code = 'sign_in'"
    )
    assert recorded == 2
    current = await points.GetEarningRule(
        pb.GetEarningRuleRequest(rule_code="sign_in"), metadata=operator
    )
    assert (current.rule.version, current.rule.points) == (2, 8)
    first = await points.GetEarningRule(
        pb.GetEarningRuleRequest(rule_code="sign_in", version=1), metadata=operator
    )
    assert first.rule.points == 5 and len(first.rule.streak_bonus) == 3
    clock.set(now + dt.timedelta(days=3))
    later = await sign_in(points, operator, member)
    assert later.points == 50


async def test_list_rules_pages_by_code(points, operator):
    codes, token = [], ""
    while True:
        page = await points.ListEarningRules(
            pb.ListEarningRulesRequest(page_size=4, page_token=token), metadata=operator
        )
        codes += [r.rule_code for r in page.rules]
        token = page.next_page_token
        if not token:
            break
    assert codes == sorted(codes)
    assert {"purchase_rebate", "sign_in", "review", "merchant_grant", "referral_bonus"} <= set(
        codes
    )
    assert len(codes) == len(set(codes)) == 11


async def test_period_cap_counts_a_rolling_window_of_business_days(
    points, points_app, operator, new_member, clock
):
    member = await new_member()
    clock.set(DAY1)
    await points.UpsertEarningRule(
        upsert_rule_request(
            rule_code="task.weekly",
            kind=res.EARNING_RULE_KIND_TASK,
            period_cap=30,
            period_days=7,
            enabled=True,
        ),
        metadata=operator,
    )

    async def grant(amount):
        return await points.Grant(
            grant_request(member, "task.weekly", points=amount), metadata=operator
        )

    await grant(20)
    clock.set(DAY1 + dt.timedelta(days=1))
    await fails(grant(20), grpc.StatusCode.RESOURCE_EXHAUSTED, "PERIOD_CAP_REACHED")
    await grant(10)
    clock.set(DAY1 + dt.timedelta(days=7))  # the first day left the window
    response = await grant(20)
    assert response.balance.available == 50


async def test_merchant_grants_draw_on_the_budget_and_never_overdraw(
    points, points_app, operator, new_member, balance
):
    top_up = await points.TopUpMerchantBudget(
        pb.TopUpMerchantBudgetRequest(request_id=uid(), merchant_id="shop-7", points=100),
        metadata=operator,
    )
    assert top_up.budget.balance == 100
    audit = await points_app.pool.fetchrow(
        "SELECT actor, subject, detail FROM audit_log WHERE action = 'points.budget_top_up'"
    )
    assert (audit["actor"], audit["subject"]) == ("operator:ops-console", "shop-7")
    assert audit["detail"]["points"] == 100
    members = [await new_member() for _ in range(20)]

    async def visit(member):
        try:
            return await points.Grant(
                grant_request(member, "shop_visit", merchant_id="shop-7"), metadata=operator
            )
        except grpc.aio.AioRpcError as exc:
            return details(exc)[0]

    results = await asyncio.gather(*(visit(m) for m in members))
    granted = [r for r in results if isinstance(r, pb.GrantResponse)]
    assert len(granted) == 10
    assert {r for r in results if isinstance(r, str)} == {"MERCHANT_BUDGET_INSUFFICIENT"}
    budget = await points.GetMerchantBudget(
        pb.GetMerchantBudgetRequest(merchant_id="shop-7"), metadata=operator
    )
    assert budget.budget.balance == 0
    assert sum([(await balance(m)).available for m in members]) == 100
    await assert_reconciled(points_app.pool)


async def test_history_pages_and_filters(points, points_app, operator, new_member, fund):
    member = await new_member()
    for i in range(5):
        await fund(member, i + 1)
    await points.Redeem(redeem_request(member, 3), metadata=operator)
    seen, token = [], ""
    while True:
        page = await points.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(member_id=member, page_size=2, page_token=token),
            metadata=operator,
        )
        seen += [e.amount for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert seen == [-3, 5, 4, 3, 2, 1]
    first = await points.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(member_id=member, page_size=2), metadata=operator
    )
    await fails(
        points.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(
                member_id=member,
                page_size=2,
                page_token=first.next_page_token,
                kind=res.LEDGER_ENTRY_KIND_DEBIT,
            ),
            metadata=operator,
        ),
        reason="INVALID_ARGUMENT",
        fields=["page_token"],
    )
    debits = await points.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(member_id=member, kind=res.LEDGER_ENTRY_KIND_DEBIT),
        metadata=operator,
    )
    assert [(e.amount, e.reason, e.bucket) for e in debits.entries] == [
        (-3, "c", res.LEDGER_BUCKET_AVAILABLE)
    ]


async def test_tier_upgrade_gift_is_granted_with_its_amount(
    points, points_app, mint, new_member, balance
):
    member = await new_member()
    growth = mint("growth", kind="service", scopes=["points:grant"])
    response = await points.Grant(
        grant_request(member, "tier_upgrade", points=300, reference="gold"), metadata=growth
    )
    assert response.points == 300 and response.expire_time.seconds > 0
    assert (await balance(member)).available == 300


async def test_rule_cache_applies_later_versions_on_time_and_others_changes_after_forget(
    points, points_app
):
    """A replica keeps the versions in effect and those effective later: a later version
    starts on time from memory; one another replica adds is seen once the entry expires."""
    now = dt.datetime.now(dt.UTC)
    cache = rule_store.Cache(seconds=60)

    async def add(version: int, effective_in: dt.timedelta, points_: int) -> None:
        async with points_app.pool.acquire() as conn:
            await rule_store.insert(
                conn,
                EarningRule(
                    rule_code="task",
                    kind="task",
                    version=version,
                    points=points_,
                    daily_cap=500,
                    period_cap=5000,
                    period_days=30,
                    effective_at=now + effective_in,
                ),
                author="test",
            )

    await add(2, dt.timedelta(hours=1), 7)
    async with points_app.pool.acquire() as conn:
        assert (await cache.current(conn, "task", now)).version == 1
        await add(3, dt.timedelta(minutes=90), 9)  # "another replica", after the read
        later = await cache.current(conn, "task", now + dt.timedelta(hours=2))
        assert (later.version, later.points) == (2, 7)  # on time, from memory
        cache.forget("task")
        assert (await cache.current(conn, "task", now + dt.timedelta(hours=2))).version == 3
        uncached = rule_store.Cache(seconds=0)
        assert (await uncached.current(conn, "task", now)).version == 1
