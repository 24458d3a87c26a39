"""What every answer shows of a subscription: its row and terms (`convert.subscription_proto`),
and what the other concerns keep of it: the code batch of each term a code gave, its refund, who
turned its auto-renew off, and the plan change waiting. Every RPC that returns a subscription
builds it here, so GetSubscription shows what ChangePlan or RefundSubscription answered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from loyalty.subscription.v1 import resources_pb2 as res

from ..usecases import SubscriptionUseCases
from ..usecases.records import Held
from .convert import money, pending_proto, refund_proto, subscription_proto


async def subscription_views(
    uc: SubscriptionUseCases, conn, found: Sequence[Held]
) -> list[res.Subscription]:
    now = uc.deps.now()
    lead = dt.timedelta(seconds=uc.deps.settings.renewal_lead_seconds)
    ids = [h.subscription_id for h in found]
    refunds, cancellations = await uc.refunds.details(conn, ids)
    code_batches = await uc.codes.term_batches(conn, ids)
    waiting = await uc.changes.pending(conn, found)
    views = []
    for held in found:
        view = subscription_proto(held, now, lead)
        batches = code_batches.get(held.subscription_id, {})
        for term in view.terms:
            if term.sequence in batches:
                term.code_batch_id = str(batches[term.sequence])
        refund = refunds.get(held.subscription_id)
        if refund is not None:
            view.refund.CopyFrom(refund_proto(refund))
            # What was paid back on each term's own payment (the refund names payments by order).
            back: dict[str, int] = {}
            for payment in refund.payments:
                if payment.order_id is not None:
                    key = str(payment.order_id)
                    back[key] = back.get(key, 0) + payment.amount_minor
            for term in view.terms:
                if back.get(term.order_id):
                    term.refunded.CopyFrom(money(back[term.order_id], refund.currency_code))
        cancellation = cancellations.get(held.subscription_id)
        if cancellation is not None:
            view.cancel_time.FromDatetime(cancellation.cancel_time)
            view.cancelled_by = cancellation.cancelled_by
        pending = waiting.get(held.subscription_id)
        if pending is not None:
            view.pending_plan_change.CopyFrom(pending_proto(pending))
        views.append(view)
    return views


async def subscription_view(uc: SubscriptionUseCases, conn, held: Held) -> res.Subscription:
    (view,) = await subscription_views(uc, conn, [held])
    return view
