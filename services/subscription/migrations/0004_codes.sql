-- Redemption codes (兑换码): batches issued to partner channels, each giving one period of a plan
-- version, and their codes. A code is drawn when its export page is delivered and only its keyed
-- hash (HMAC, the key named by key_id) is ever stored; the code itself exists only in that
-- response. A code is redeemed once (redeemed_at set by one conditional UPDATE); a recovery of an
-- interrupted export voids the codes of the pages not kept; a disabled batch voids its unused
-- codes at once (RedeemCode reads the batch's state).
-- depends: 0001_subscription

CREATE TABLE code_batches (
    code_batch_id  uuid PRIMARY KEY,   -- UUIDv7: newest first is the key's order
    channel        text        NOT NULL,
    plan_id        text        NOT NULL,
    plan_version   integer     NOT NULL,
    code_count     integer     NOT NULL CHECK (code_count BETWEEN 1 AND 100000),
    redeem_by      timestamptz NOT NULL,
    state          text        NOT NULL
                   CHECK (state IN ('created', 'exporting', 'exported', 'disabled')),
    export_pages   integer     NOT NULL DEFAULT 0 CHECK (export_pages >= 0),
    exported_count integer     NOT NULL DEFAULT 0 CHECK (exported_count >= 0),
    voided_count   integer     NOT NULL DEFAULT 0 CHECK (voided_count >= 0),
    note           text        NOT NULL DEFAULT '',
    created_by     text        NOT NULL,
    create_time    timestamptz NOT NULL,
    disabled_by    text        NOT NULL DEFAULT '',
    disable_reason text        NOT NULL DEFAULT '',
    disable_time   timestamptz,
    update_time    timestamptz NOT NULL,
    FOREIGN KEY (plan_id, plan_version) REFERENCES plans,
    -- Voided codes are replaced: the codes in use never exceed the count.
    CHECK (exported_count - voided_count BETWEEN 0 AND code_count)
);
CREATE INDEX code_batches_by_channel ON code_batches (channel, code_batch_id DESC);
CREATE INDEX code_batches_by_plan ON code_batches (plan_id, code_batch_id DESC);

-- One row per code delivered, in the batch's export order (sequence 1, 2, …, never reused).
CREATE TABLE redemption_codes (
    code_batch_id     uuid        NOT NULL REFERENCES code_batches,
    sequence          integer     NOT NULL CHECK (sequence >= 1),
    page              integer     NOT NULL CHECK (page >= 1),
    key_id            text        NOT NULL,
    digest            bytea       NOT NULL CHECK (length(digest) = 32),
    voided_at         timestamptz,
    redeemed_at       timestamptz,
    redeemed_by       uuid,        -- the member
    subscription_id   uuid REFERENCES subscriptions,
    term_sequence     integer,     -- the term the code gave
    PRIMARY KEY (code_batch_id, sequence),
    CHECK ((redeemed_at IS NULL) = (redeemed_by IS NULL)),
    CHECK (redeemed_at IS NULL OR voided_at IS NULL)
);
-- A code is found by its digest (one per live key); a digest names one code.
CREATE UNIQUE INDEX redemption_codes_by_digest ON redemption_codes (digest);
CREATE INDEX redemption_codes_by_page ON redemption_codes (code_batch_id, page);
CREATE INDEX redemption_codes_redeemed ON redemption_codes (code_batch_id)
    WHERE redeemed_at IS NOT NULL;
CREATE INDEX redemption_codes_by_term ON redemption_codes (subscription_id)
    WHERE subscription_id IS NOT NULL;

-- Recoveries of interrupted exports, numbered per batch.
CREATE TABLE code_export_recoveries (
    code_batch_id uuid        NOT NULL REFERENCES code_batches,
    recovery      integer     NOT NULL CHECK (recovery >= 1),
    from_page     integer     NOT NULL CHECK (from_page >= 1),
    voided_count  integer     NOT NULL CHECK (voided_count >= 0),
    recovered_by  text        NOT NULL,
    reason        text        NOT NULL,
    recover_time  timestamptz NOT NULL,
    PRIMARY KEY (code_batch_id, recovery)
);
