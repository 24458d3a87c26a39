"""Terms nobody pays the suite for: a free trial, a redeemed code, an operator's gift. Each
starts a subscription active at once (即开即享) or, for a code or a gift while one is live,
stacks a term after the last; the member's status, the once-only trial and the stacking limit
are checked by the domain, and the term is announced like any other."""

from __future__ import annotations

import datetime as dt
import uuid

from services.kit import db, errors, ids
from services.kit.refusals import Refusal

from ..deps import SubscriptionDeps
from ..domain import subscriptions as subs
from ..domain.lifecycle import MemberStatus
from ..domain.stacking import stacking_refusal
from ..domain.terms import Channel
from ..store import members
from ..store import subscriptions as sub_store
from ..store.plans import PlanRow
from . import announce, records, term_starts
from .records import Held
from .renewals import Renewals


class _LiveTaken(db.Duplicate):
    """Another call started the member's live subscription at the same time."""


async def start(
    deps: SubscriptionDeps,
    conn,
    member_id: uuid.UUID,
    plan: PlanRow,
    channel: Channel,
    *,
    code_batch_id: str = "",
) -> Held:
    """Give `member_id` a term of `plan` through `channel` (TRIAL, CODE or GIFT), in the
    caller's transaction; a refusal raises FAILED_PRECONDITION with the domain's reason."""
    now = deps.now()
    zone = deps.settings.business_zone
    status = MemberStatus(await members.status(conn, member_id, lock=True))
    current = await records.live(conn, member_id, lock=True)
    decided = subs.acquisition(
        status,
        current.sub if current else None,
        plan.rules,
        channel,
        had_trial=await sub_store.had_trial(conn, member_id),
    )
    if isinstance(decided, Refusal):
        raise errors.refused(decided)
    if decided is subs.Acquisition.EXTEND:
        assert current is not None
        after = subs.extend(current.sub, plan.rules, channel, 0, now, zone)
        if isinstance(after, Refusal):
            raise errors.refused(after)
        limit = dt.timedelta(days=deps.settings.stacking_limit_days)
        problem = stacking_refusal(after.period_end, now, limit)
        if problem:
            raise errors.refused(problem)
        # The renewal charge asked for the old period end no longer renews anything.
        withdrawn = await Renewals(deps).withdraw(conn, current, now)
        pending = None if withdrawn else current.row.order_id
        row = records.changed_row(current.row, after, now, pending_order=pending)
        first = False
    else:
        sub = subs.start_free(str(member_id), plan.rules, channel, now, zone)
        row = records.changed_row(records.new_row(ids.new_id(), member_id, None, sub), sub, now)
        first = True
    try:
        with db.duplicates({"subscriptions_one_live": _LiveTaken}):
            await sub_store.save(conn, row)
    except _LiveTaken:
        raise errors.failed_precondition(
            "SUBSCRIPTION_ALREADY_ACTIVE", "another subscription was just started"
        ) from None
    held = await records.get(conn, row.subscription_id)
    assert held is not None
    await announce.term_started(deps, conn, held, first=first, code_batch_id=code_batch_id)
    if current is not None and not first:
        await term_starts.announce_if_begun(deps, conn, held, current.sub.terms[-1].plan, now)
    return held
