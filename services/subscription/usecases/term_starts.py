"""The plan in effect changes when a term of another plan begins: subscription.plan_changed, as
of the term's start (consumers switch multiplier and member price then, not when the term was
bought). A term that starts as it is added, or started already (a renewal or a stacked term
paid in grace), is announced by the use case adding it (`announce_if_begun`); one stacked to
start later, by the clock job when its start comes (`begin_due`). A change paid now is the
plan-change use case's own announcement (UPGRADE)."""

from __future__ import annotations

import datetime as dt

import asyncpg

from loyalty.subscription.v1 import resources_pb2 as res

from ..deps import SubscriptionDeps
from ..domain.lifecycle import MULTIPLYING
from ..domain.plans import Plan
from ..domain.terms import Channel, Term
from ..store import subscriptions as store
from . import announce, records
from .records import Held


def _cause(term: Term) -> res.PlanChangeCause.ValueType:
    if term.channel is Channel.RENEWAL:
        return res.PLAN_CHANGE_CAUSE_RENEWAL
    if term.channel is Channel.PLAN_CHANGE:
        return res.PLAN_CHANGE_CAUSE_UPGRADE
    return res.PLAN_CHANGE_CAUSE_STACKED_TERM


async def announce_if_begun(
    deps: SubscriptionDeps, conn, held: Held, previous: Plan, now: dt.datetime
) -> None:
    """`held`'s last term was just added after a term of `previous`: the plan in effect has
    changed if it is another plan and its start has come (else the clock job tells)."""
    term = held.sub.terms[-1]
    if term.start > now or previous.same_version(term.plan):
        return
    await announce.plan_changed(deps, conn, held, previous, _cause(term), term.start, term=term)


async def begin_due(deps: SubscriptionDeps, pool: asyncpg.Pool, now: dt.datetime) -> int:
    """Every term whose start has come begins: plan_changed for each of another plan than the
    term before it, on a subscription still giving benefits. Returns the terms begun."""
    begun = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await store.lock_beginning(conn, now, deps.settings.job_batch)
            if not due:
                return begun
            for beginning in due:
                held = await records.get(conn, beginning.subscription_id)
                if held is None or held.sub.state not in MULTIPLYING:
                    continue  # ended before the term began: nothing changes hands
                sequences = [t.sequence for t in held.row.terms]
                i = sequences.index(beginning.sequence)
                term = held.sub.terms[i]
                previous = held.sub.terms[i - 1].plan if i else None
                if previous is not None and not previous.same_version(term.plan):
                    await announce.plan_changed(
                        deps, conn, held, previous, _cause(term), term.start, term=term
                    )
            await store.mark_begun(conn, due)
        begun += len(due)
