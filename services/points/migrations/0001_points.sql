-- Points: member accounts, the double-entry journal, lots, holds, orders, rules, budgets.
-- depends: kit_0001_outbox_inbox_idempotency

-- A member as points knows it (from identity events), with its balance buckets. This row is the
-- lock every change to the member's points takes (SELECT ... FOR UPDATE), and the buckets are
-- kept equal to the sums of the member's journal postings (see store.reconcile).
CREATE TABLE member_accounts (
    member_id               uuid PRIMARY KEY,
    status                  text        NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'frozen', 'closed')),
    status_at               timestamptz,   -- time of the identity event that set the status
    registered              boolean     NOT NULL DEFAULT false,
    referred_by             uuid,
    sign_up_bonus_paid      boolean     NOT NULL DEFAULT false,
    first_order_completed   boolean     NOT NULL DEFAULT false,
    referral_paid           boolean     NOT NULL DEFAULT false,
    last_sign_in_day        date,
    streak_days             integer     NOT NULL DEFAULT 0,
    available               bigint      NOT NULL DEFAULT 0 CHECK (available >= 0),
    pending                 bigint      NOT NULL DEFAULT 0 CHECK (pending >= 0),
    held                    bigint      NOT NULL DEFAULT 0 CHECK (held >= 0),
    debt                    bigint      NOT NULL DEFAULT 0 CHECK (debt >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

-- One business transaction of the journal. dedupe_key makes effects that come from outside
-- (a rebate per order, a bonus per review) happen once even when the cause is sent twice.
CREATE TABLE journal_transactions (
    txn_id        uuid PRIMARY KEY,
    kind          text        NOT NULL,
    member_id     uuid,
    rule_code     text        NOT NULL DEFAULT '',
    rule_version  integer,
    reference     text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    actor         text        NOT NULL DEFAULT '',
    business_day  date        NOT NULL,
    earned        bigint      NOT NULL DEFAULT 0,  -- points counted against the rule's caps
    dedupe_key    text UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_transactions_caps ON journal_transactions (member_id, rule_code, business_day)
    WHERE earned > 0;

-- The postings: every transaction's postings sum to zero (checked at commit). Accounts are
-- (account, owner): a member's available/pending/held/debt, a rule's issuance, a merchant's
-- funding and budget, the redemption, expiry and adjustment accounts. Debt is a receivable: its
-- postings are negative when the debt grows, so member_accounts.debt = -sum(debt postings).
CREATE TABLE journal_postings (
    posting_id  bigserial PRIMARY KEY,
    txn_id      uuid        NOT NULL REFERENCES journal_transactions (txn_id),
    account     text        NOT NULL,
    owner       text        NOT NULL DEFAULT '',
    amount      bigint      NOT NULL CHECK (amount <> 0),
    entry_kind  text        NOT NULL,
    member_id   uuid,       -- set on the member's own buckets: the member's history
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_postings_txn ON journal_postings (txn_id);
CREATE INDEX journal_postings_member ON journal_postings (member_id, posting_id DESC)
    WHERE member_id IS NOT NULL;
CREATE INDEX journal_postings_account ON journal_postings (account, owner);

CREATE FUNCTION journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM journal_postings WHERE txn_id = NEW.txn_id) <> 0 THEN
        RAISE EXCEPTION 'journal transaction % does not sum to zero', NEW.txn_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_balanced AFTER INSERT ON journal_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_balanced();

-- The journal is append-only: corrections are new transactions.
CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_postings_append_only BEFORE UPDATE OR DELETE ON journal_postings
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_transactions_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

-- Each credit to available is a lot with an expiry; spending consumes lots earliest-expiry
-- first. For every member, sum(remaining) = member_accounts.available.
CREATE TABLE lots (
    lot_id            uuid PRIMARY KEY,
    member_id         uuid        NOT NULL REFERENCES member_accounts (member_id),
    txn_id            uuid        NOT NULL REFERENCES journal_transactions (txn_id),
    amount            bigint      NOT NULL CHECK (amount > 0),
    remaining         bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at        timestamptz NOT NULL,
    expiring_notified boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lots_spendable ON lots (member_id, expires_at, lot_id) WHERE remaining > 0;
CREATE INDEX lots_expiring ON lots (expires_at) WHERE remaining > 0;

CREATE TABLE holds (
    hold_id      uuid PRIMARY KEY,
    member_id    uuid        NOT NULL REFERENCES member_accounts (member_id),
    order_id     text        NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    state        text        NOT NULL CHECK (state IN ('held', 'captured', 'released', 'expired')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz
);
CREATE INDEX holds_order ON holds (member_id, order_id);
CREATE INDEX holds_timeout ON holds (expires_at) WHERE state = 'held';

-- Which lots a hold took points from, so a release (or a refund of the order) puts them back
-- with their own expiry.
CREATE TABLE hold_lots (
    hold_id   uuid   NOT NULL REFERENCES holds (hold_id),
    lot_id    uuid   NOT NULL REFERENCES lots (lot_id),
    amount    bigint NOT NULL CHECK (amount > 0),
    returned  bigint NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= amount),
    PRIMARY KEY (hold_id, lot_id)
);

-- What points knows of a storefront order. A row may exist before its order.paid arrives (a
-- completion or cancellation delivered first); paid_at is then NULL.
CREATE TABLE orders (
    order_id            text PRIMARY KEY,
    member_id           uuid        NOT NULL,
    merchant_id         text        NOT NULL DEFAULT '',
    currency_code       text        NOT NULL DEFAULT '',
    paid_amount_minor   bigint      NOT NULL DEFAULT 0,
    multiplier          integer     NOT NULL DEFAULT 1,
    rebate_points       bigint      NOT NULL DEFAULT 0,   -- credited for the order
    rebate_reversed     bigint      NOT NULL DEFAULT 0,   -- taken back by refunds so far
    refunded_minor      bigint      NOT NULL DEFAULT 0,   -- paid money refunded so far
    points_hold_id      uuid,
    points_used         bigint      NOT NULL DEFAULT 0,
    points_captured     bigint      NOT NULL DEFAULT 0,
    points_returned     bigint      NOT NULL DEFAULT 0,
    rebate_state        text        NOT NULL DEFAULT 'none'
                        CHECK (rebate_state IN ('none', 'pending', 'available', 'cancelled')),
    paid_at             timestamptz,
    completed_at        timestamptz,
    cancelled_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Every refund, once (refund_id). A refund received before its order.paid waits here
-- (applied_at NULL) and is applied when the payment arrives.
CREATE TABLE order_refunds (
    refund_id               text PRIMARY KEY,
    order_id                text        NOT NULL,
    member_id               uuid        NOT NULL,
    refunded_amount_minor   bigint      NOT NULL,
    points_to_return        bigint      NOT NULL,
    received_at             timestamptz NOT NULL DEFAULT now(),
    applied_at              timestamptz
);
CREATE INDEX order_refunds_waiting ON order_refunds (order_id) WHERE applied_at IS NULL;

-- Local projection of subscription state: drives the purchase-rebate multiplier.
CREATE TABLE subscriptions (
    subscription_id  text PRIMARY KEY,
    member_id        uuid        NOT NULL,
    state            text        NOT NULL
                     CHECK (state IN ('active', 'grace', 'cancelled', 'expired')),
    multiplier       integer     NOT NULL DEFAULT 1,
    period_end       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_member ON subscriptions (member_id);

CREATE TABLE merchant_budgets (
    merchant_id  text PRIMARY KEY,
    balance      bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Earning rules are versioned data: a change is a new version; credits record the version.
CREATE TABLE earning_rules (
    rule_code        text        NOT NULL,
    version          integer     NOT NULL CHECK (version > 0),
    kind             text        NOT NULL,
    points           bigint      NOT NULL DEFAULT 0 CHECK (points >= 0),
    daily_cap        bigint      NOT NULL DEFAULT 0 CHECK (daily_cap >= 0),
    period_cap       bigint      NOT NULL DEFAULT 0 CHECK (period_cap >= 0),
    period_days      integer     NOT NULL DEFAULT 0 CHECK (period_days >= 0),
    streak_bonus     jsonb       NOT NULL DEFAULT '[]',
    merchant_funded  boolean     NOT NULL DEFAULT false,
    enabled          boolean     NOT NULL DEFAULT true,
    effective_at     timestamptz NOT NULL DEFAULT now(),
    author           text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_code, version)
);

-- Default rules (DOMAIN.md §3). Operators change them by adding versions, never in code.
INSERT INTO earning_rules
    (rule_code, version, kind, points, daily_cap, period_cap, period_days, streak_bonus,
     merchant_funded, effective_at, author)
VALUES
    ('purchase_rebate', 1, 'purchase_rebate', 1, 0, 0, 0, '[]', false, '2000-01-01', 'migration'),
    ('sign_in', 1, 'sign_in', 5, 0, 0, 0,
     '[{"day": 3, "bonus": 5}, {"day": 7, "bonus": 20}, {"day": 30, "bonus": 100}]',
     false, '2000-01-01', 'migration'),
    ('shop_visit', 1, 'shop_visit', 10, 50, 0, 0, '[]', true, '2000-01-01', 'migration'),
    ('review', 1, 'review', 20, 100, 1000, 30, '[]', false, '2000-01-01', 'migration'),
    ('review_photo', 1, 'review', 40, 200, 2000, 30, '[]', false, '2000-01-01', 'migration'),
    ('task', 1, 'task', 0, 500, 5000, 30, '[]', false, '2000-01-01', 'migration'),
    ('sign_up_bonus', 1, 'sign_up_bonus', 100, 0, 0, 0, '[]', false, '2000-01-01', 'migration'),
    ('referral_bonus', 1, 'referral_bonus', 500, 0, 5000, 30, '[]', false, '2000-01-01', 'migration'),
    ('tier_upgrade', 1, 'tier_upgrade', 0, 0, 0, 0, '[]', false, '2000-01-01', 'migration'),
    ('merchant_grant', 1, 'merchant_grant', 0, 0, 0, 0, '[]', true, '2000-01-01', 'migration'),
    ('operator_adjust', 1, 'operator_adjust', 0, 0, 0, 0, '[]', false, '2000-01-01', 'migration');
