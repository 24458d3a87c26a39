-- Paid membership (services/subscription): plans and their versions, what the service knows of
-- members (identity's events), subscriptions and their terms, orders waiting for their payment,
-- and payments that could not be applied (parked for an operator, never dropped).
-- Amounts are integer minor units (fen) of the row's currency.
-- depends: kit_0007_audit_append_only

-- One row per version of a plan: a version never changes once written.
CREATE TABLE plans (
    plan_id             text        NOT NULL,
    version             integer     NOT NULL CHECK (version >= 1),
    display_name        text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    kind                text        NOT NULL
                        CHECK (kind IN ('monthly', 'quarterly', 'yearly', 'trial')),
    price_minor         bigint      NOT NULL CHECK (price_minor >= 0),
    currency_code       text        NOT NULL,
    trial_days          integer     NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
    points_multiplier   integer     NOT NULL CHECK (points_multiplier BETWEEN 1 AND 100),
    member_discount_bps integer     NOT NULL CHECK (member_discount_bps BETWEEN 0 AND 9999),
    benefits            jsonb       NOT NULL DEFAULT '[]',
    on_sale             boolean     NOT NULL,
    created_by          text        NOT NULL,
    create_time         timestamptz NOT NULL,
    PRIMARY KEY (plan_id, version)
);

-- Members as identity's events leave them (one heard nothing of is active; closed is final).
CREATE TABLE members (
    member_id   uuid PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('active', 'frozen', 'closed')),
    update_time timestamptz NOT NULL
);

CREATE TABLE subscriptions (
    subscription_id      uuid PRIMARY KEY,
    member_id            uuid        NOT NULL,
    state                text        NOT NULL CHECK (state IN ('pending_payment', 'active',
                             'grace', 'expired', 'refunded', 'cancelled')),
    order_plan_id        text        NOT NULL,
    order_plan_version   integer     NOT NULL,
    ordered_at           timestamptz NOT NULL,
    auto_renew           boolean     NOT NULL DEFAULT false,
    renewal_plan_id      text,
    renewal_plan_version integer,
    anchor_day           integer     CHECK (anchor_day BETWEEN 1 AND 31),
    grace_until          timestamptz,
    attempts             integer     NOT NULL DEFAULT 0,
    last_attempt_at      timestamptz,
    start_time           timestamptz,
    ended_at             timestamptz,
    end_cause            text,
    refunded_minor       bigint,
    order_id             uuid,  -- the order that moves it on (the first, or the renewal's)
    update_time          timestamptz NOT NULL,
    FOREIGN KEY (order_plan_id, order_plan_version) REFERENCES plans,
    FOREIGN KEY (renewal_plan_id, renewal_plan_version) REFERENCES plans
);
-- At most one live subscription per member (stacking adds terms to it).
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (member_id)
    WHERE state IN ('pending_payment', 'active', 'grace');
CREATE INDEX subscriptions_by_member ON subscriptions (member_id, ordered_at DESC);

-- The spans of time a subscription holds, contiguous, in order.
CREATE TABLE terms (
    subscription_id uuid        NOT NULL REFERENCES subscriptions,
    sequence        integer     NOT NULL CHECK (sequence >= 1),
    plan_id         text        NOT NULL,
    plan_version    integer     NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('purchase', 'renewal', 'trial',
                        'code', 'gift', 'plan_change')),
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL CHECK (end_time > start_time),
    paid_minor      bigint      NOT NULL CHECK (paid_minor >= 0),
    paid_at         timestamptz NOT NULL,
    order_id        uuid,
    payment_id      text,
    PRIMARY KEY (subscription_id, sequence),
    FOREIGN KEY (plan_id, plan_version) REFERENCES plans
);

CREATE TABLE orders (
    order_id            uuid PRIMARY KEY,
    member_id           uuid        NOT NULL,
    subscription_id     uuid        NOT NULL REFERENCES subscriptions,
    kind                text        NOT NULL CHECK (kind IN ('purchase', 'renewal',
                            'plan_change')),
    plan_id             text        NOT NULL,
    plan_version        integer     NOT NULL,
    state               text        NOT NULL CHECK (state IN ('pending_payment', 'paid',
                            'failed', 'expired', 'cancelled')),
    collection          text        NOT NULL CHECK (collection IN ('provider', 'storefront')),
    currency_code       text        NOT NULL,
    list_price_minor    bigint      NOT NULL CHECK (list_price_minor >= 0),
    credit_minor        bigint      NOT NULL DEFAULT 0 CHECK (credit_minor >= 0),
    amount_minor        bigint      NOT NULL CHECK (amount_minor >= 0),
    charge_attempts     integer     NOT NULL DEFAULT 0,
    last_failure_reason text        NOT NULL DEFAULT '',
    payment_id          text,
    created_by          text        NOT NULL,
    create_time         timestamptz NOT NULL,
    expire_time         timestamptz NOT NULL,
    settle_time         timestamptz,
    FOREIGN KEY (plan_id, plan_version) REFERENCES plans
);
CREATE INDEX orders_by_member ON orders (member_id, create_time DESC);
CREATE INDEX orders_by_subscription ON orders (subscription_id);

-- Payments (commerce.payment.succeeded, purpose "subscription") that could not be applied.
CREATE TABLE parked_payments (
    event_id      text PRIMARY KEY,
    payment_id    text        NOT NULL,
    order_id      text        NOT NULL,
    member_id     text        NOT NULL,
    amount_minor  bigint      NOT NULL,
    currency_code text        NOT NULL,
    reason        text        NOT NULL,
    description   text        NOT NULL,
    park_time     timestamptz NOT NULL
);
CREATE INDEX parked_payments_by_time ON parked_payments (park_time DESC);
