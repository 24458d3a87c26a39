-- Benefits (services/subscription): the claims members make against their quotas, and the pools
-- of partner codes PARTNER_PERK claims hand out, each code at most once. Codes are kept encrypted
-- (members get them back in clear) with a keyed hash beside them that finds a code uploaded twice.
-- depends: 0001_subscription

CREATE TABLE perk_pools (
    perk_pool_id        uuid PRIMARY KEY,
    display_name        text        NOT NULL,
    partner             text        NOT NULL,
    low_stock_threshold integer     NOT NULL CHECK (low_stock_threshold BETWEEN 0 AND 1000000),
    -- Counters changed under the row's lock (claims, uploads, the lapse job): exact at any time.
    -- Codes past their expire_time that the job has not counted yet are counted on reading.
    uploaded_count      integer     NOT NULL DEFAULT 0 CHECK (uploaded_count >= 0),
    claimed_count       integer     NOT NULL DEFAULT 0 CHECK (claimed_count >= 0),
    expired_count       integer     NOT NULL DEFAULT 0 CHECK (expired_count >= 0),
    -- The inventory level after the last change (domain.benefits.InventoryLevel): operators are
    -- warned when a change makes it worse, once; a new pool is empty and nobody needs telling.
    level               text        NOT NULL DEFAULT 'empty' CHECK (level IN ('ok', 'low', 'empty')),
    created_by          text        NOT NULL,
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    CHECK (claimed_count + expired_count <= uploaded_count)
);
CREATE INDEX perk_pools_by_name ON perk_pools (display_name, perk_pool_id);

-- One row per claim: what a quota counts (per member, benefit and period) and a refund deducts.
CREATE TABLE benefit_claims (
    claim_id           uuid PRIMARY KEY,
    member_id          uuid        NOT NULL,
    subscription_id    uuid        NOT NULL REFERENCES subscriptions,
    benefit_id         text        NOT NULL,
    kind               text        NOT NULL
                       CHECK (kind IN ('coupon_pack', 'partner_perk', 'service_perk')),
    period_key         text        NOT NULL,
    plan_id            text        NOT NULL,
    plan_version       integer     NOT NULL,
    value_minor        bigint      NOT NULL CHECK (value_minor >= 0),
    currency_code      text        NOT NULL,
    coupon_template_id text        NOT NULL DEFAULT '',
    perk_pool_id       uuid        REFERENCES perk_pools,
    service_code       text        NOT NULL DEFAULT '',
    claim_time         timestamptz NOT NULL,
    FOREIGN KEY (plan_id, plan_version) REFERENCES plans
);
CREATE INDEX benefit_claims_quota ON benefit_claims (member_id, benefit_id, period_key);
CREATE INDEX benefit_claims_by_member ON benefit_claims (member_id, claim_time DESC, claim_id DESC);

CREATE TABLE perk_codes (
    code_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    perk_pool_id uuid        NOT NULL REFERENCES perk_pools,
    key_id       text        NOT NULL,  -- the code key the hash and the encryption derive from
    digest       bytea       NOT NULL,  -- HMAC of the pool and the code
    sealed       bytea       NOT NULL,  -- nonce || AES-GCM of the code, bound to the pool
    expire_time  timestamptz,           -- never handed out from then on
    state        text        NOT NULL DEFAULT 'available'
                 CHECK (state IN ('available', 'claimed', 'expired')),
    -- The claim is written after its code is taken, in the same transaction.
    claim_id     uuid        UNIQUE REFERENCES benefit_claims DEFERRABLE INITIALLY DEFERRED,
    upload_time  timestamptz NOT NULL,
    CHECK ((state = 'claimed') = (claim_id IS NOT NULL))
);
CREATE UNIQUE INDEX perk_codes_once ON perk_codes (perk_pool_id, digest);
-- The codes a claim may take, soonest to expire first (fewer codes wasted). Each upload
-- analyzes the table (store.perks.add_codes): planned with an empty pool's statistics, a claim
-- would sort every code of the pool instead of reading this index's first entry.
CREATE INDEX perk_codes_available ON perk_codes (perk_pool_id, expire_time, code_id)
    WHERE state = 'available';
