-- Refunds and cancellations: each refund decided (RefundSubscription, or the formula's refund
-- when a member closes) with the formula's figures, who decided it, why, and the payments the
-- provider pays it back on; who last turned a subscription's auto-renew off, and when (kept
-- until it is turned on again). And the order operators list subscriptions in (newest first).
-- Amounts are integer minor units of the subscription's currency.
-- depends: 0001_subscription

-- At most one refund per subscription, ever: a refund ends it.
CREATE TABLE refunds (
    refund_id        uuid PRIMARY KEY,
    subscription_id  uuid        NOT NULL UNIQUE REFERENCES subscriptions,
    member_id        uuid        NOT NULL,
    currency_code    text        NOT NULL,
    amount_minor     bigint      NOT NULL CHECK (amount_minor >= 0),
    full_refund      boolean     NOT NULL,
    paid_minor       bigint      NOT NULL CHECK (paid_minor >= 0),   -- P of the formula
    share_minor      bigint      NOT NULL CHECK (share_minor >= 0),  -- S
    used_value_minor bigint      NOT NULL CHECK (used_value_minor >= 0),  -- B
    claims_counted   integer     NOT NULL CHECK (claims_counted >= 0),
    term_sequences   integer[]   NOT NULL,  -- the open terms counted
    -- [{"order_id", "payment_id", "amount_minor"}], newest payment first; together the amount.
    payments         jsonb       NOT NULL,
    refunded_by      text        NOT NULL,
    reason           text        NOT NULL,
    refund_time      timestamptz NOT NULL,
    CHECK (amount_minor <= paid_minor)
);
CREATE INDEX refunds_by_member ON refunds (member_id);

-- A subscription whose auto-renew is off by someone's word (not a free one that never renewed).
CREATE TABLE cancellations (
    subscription_id uuid PRIMARY KEY REFERENCES subscriptions,
    cause           text        NOT NULL CHECK (cause IN ('member', 'operator', 'member_closed')),
    cancelled_by    text        NOT NULL,
    reason          text        NOT NULL,  -- the member's answer or the operator's reason
    cancel_time     timestamptz NOT NULL
);

CREATE INDEX subscriptions_newest ON subscriptions (ordered_at DESC, subscription_id DESC);
