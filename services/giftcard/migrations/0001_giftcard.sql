-- Prepaid cards and member stored value (services/giftcard): products, approval policies and the
-- approvals given, batches and their export, loads and their review (maker-checker), cards,
-- requisitions, sales, after-sale requests, checkout holds and orders, stored value and its
-- top-ups, PIN locks, the double-entry journal, and the daily reconciliation reports.
-- Amounts are integer minor units (fen) of the row's currency.
-- depends: kit_0007_audit_append_only

CREATE TABLE products (
    product_id       uuid PRIMARY KEY,
    display_name     text        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('denomination', 'custom')),
    currency_code    text        NOT NULL,
    face_value_minor bigint      NOT NULL CHECK (face_value_minor >= 0), -- 0 for custom
    validity_months  integer     NOT NULL CHECK (validity_months BETWEEN 1 AND 120),
    channels         text[]      NOT NULL DEFAULT '{}',
    enabled          boolean     NOT NULL DEFAULT true,
    created_by       text        NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now()
);

-- Who must approve what, by amount: versioned, a request keeps the version it was made under.
CREATE TABLE approval_policies (
    subject        text        NOT NULL CHECK (subject IN ('batch', 'requisition', 'after_sale')),
    version        integer     NOT NULL,
    currency_code  text        NOT NULL,
    bands          jsonb       NOT NULL,  -- [{"max_amount_minor": n|null, "roles": [...]}]
    updated_by     text        NOT NULL,
    effective_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, version)
);

-- Approvals given, for any request: one per person and request (approving twice is refused
-- by the key, whatever the role).
CREATE TABLE approvals (
    subject      text        NOT NULL,
    subject_id   uuid        NOT NULL,
    approver     text        NOT NULL,
    role         text        NOT NULL,
    note         text        NOT NULL DEFAULT '',
    approve_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, subject_id, approver)
);

CREATE TABLE batches (
    batch_id           uuid PRIMARY KEY,
    product_id         uuid        NOT NULL REFERENCES products (product_id),
    currency_code      text        NOT NULL,
    face_value_minor   bigint      NOT NULL CHECK (face_value_minor > 0),
    card_count         integer     NOT NULL CHECK (card_count BETWEEN 1 AND 100000),
    total_minor        bigint      NOT NULL,
    state              text        NOT NULL,
    requested_by       text        NOT NULL,
    note               text        NOT NULL DEFAULT '',
    policy_version     integer     NOT NULL,
    rejected_by        text        NOT NULL DEFAULT '',
    reject_reason      text        NOT NULL DEFAULT '',
    export_page_size   integer     NOT NULL DEFAULT 1000,
    exported_pages     integer     NOT NULL DEFAULT 0,  -- pages delivered (secrets shown once)
    create_time        timestamptz NOT NULL DEFAULT now(),
    approve_time       timestamptz,
    generate_time      timestamptz,
    export_finish_time timestamptz,
    update_time        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE export_recoveries (
    batch_id        uuid        NOT NULL REFERENCES batches (batch_id),
    from_page       integer     NOT NULL,
    voided_count    integer     NOT NULL,
    generated_count integer     NOT NULL,
    recovered_by    text        NOT NULL,
    reason          text        NOT NULL,
    recover_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, recover_time)
);

-- A card's value is balance_minor (spendable or in stock) + held_minor (held for checkouts);
-- both equal their journal sums (reconciliation). The PIN is kept only as a keyed hash.
CREATE TABLE cards (
    card_id             uuid PRIMARY KEY,
    card_number         text        NOT NULL UNIQUE,
    batch_id            uuid        REFERENCES batches (batch_id),  -- null: a replacement blank
    product_id          uuid        NOT NULL REFERENCES products (product_id),
    sequence            integer     NOT NULL DEFAULT 0,  -- its row in the batch's export
    state               text        NOT NULL,
    currency_code       text        NOT NULL,
    face_value_minor    bigint      NOT NULL,
    balance_minor       bigint      NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    held_minor          bigint      NOT NULL DEFAULT 0 CHECK (held_minor >= 0),
    has_consumption     boolean     NOT NULL DEFAULT false,
    pin_key_id          text        NOT NULL,
    pin_hash            bytea       NOT NULL,
    secret_delivered    boolean     NOT NULL DEFAULT false,
    expire_time         timestamptz,  -- set when sold (validity runs from activation)
    member_id           uuid,         -- bound to
    bind_time           timestamptz,
    requisition_id      uuid,
    sale_id             uuid,
    after_sale_id       uuid,
    replaces_card_id    uuid,
    replaced_by_card_id uuid,
    state_reason        text        NOT NULL DEFAULT '',
    create_time         timestamptz NOT NULL DEFAULT now(),
    activate_time       timestamptz,
    update_time         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_batch ON cards (batch_id, sequence);
CREATE INDEX cards_state ON cards (state, product_id);
CREATE INDEX cards_member ON cards (member_id, bind_time DESC) WHERE member_id IS NOT NULL;
CREATE INDEX cards_requisition ON cards (requisition_id) WHERE requisition_id IS NOT NULL;
CREATE INDEX cards_expiry ON cards (expire_time) WHERE state IN ('active', 'frozen', 'lost');

-- Wrong PINs per card number (known or not: keyed by a hash of the number, so a lock does not
-- tell that a number exists).
CREATE TABLE pin_locks (
    number_hash  bytea PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    locked_until timestamptz,
    update_time  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE loads (
    load_id       uuid PRIMARY KEY,
    batch_id      uuid        NOT NULL REFERENCES batches (batch_id),
    state         text        NOT NULL,
    card_count    integer     NOT NULL,
    currency_code text        NOT NULL,
    total_minor   bigint      NOT NULL,
    loaded_by     text        NOT NULL,
    load_time     timestamptz NOT NULL DEFAULT now(),
    reviewed_by   text        NOT NULL DEFAULT '',
    review_time   timestamptz,
    reject_reason text        NOT NULL DEFAULT '',
    note          text        NOT NULL DEFAULT ''
);
CREATE TABLE load_entries (
    load_id      uuid   NOT NULL REFERENCES loads (load_id),
    card_id      uuid   NOT NULL REFERENCES cards (card_id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (load_id, card_id)
);

CREATE TABLE requisitions (
    requisition_id  uuid PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('sales_desk', 'bulk_purchase')),
    sales_desk      text        NOT NULL DEFAULT '',
    buyer_name      text        NOT NULL DEFAULT '',
    buyer_reference text        NOT NULL DEFAULT '',
    lines           jsonb       NOT NULL,  -- [{"product_id", "face_value_minor", "card_count"}]
    currency_code   text        NOT NULL,
    total_minor     bigint      NOT NULL,
    card_count      integer     NOT NULL,
    state           text        NOT NULL,
    requested_by    text        NOT NULL,
    note            text        NOT NULL DEFAULT '',
    policy_version  integer     NOT NULL,
    rejected_by     text        NOT NULL DEFAULT '',
    reject_reason   text        NOT NULL DEFAULT '',
    fulfilled_by    text        NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now(),
    fulfil_time     timestamptz,
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sales (
    sale_id                uuid PRIMARY KEY,
    requisition_id         uuid        NOT NULL REFERENCES requisitions (requisition_id),
    card_count             integer     NOT NULL,
    currency_code          text        NOT NULL,
    face_value_total_minor bigint      NOT NULL,
    paid_amount_minor      bigint      NOT NULL,
    payment_method         text        NOT NULL DEFAULT '',
    payment_reference      text        NOT NULL DEFAULT '',
    buyer_name             text        NOT NULL DEFAULT '',
    sold_by                text        NOT NULL,
    sale_time              timestamptz NOT NULL DEFAULT now(),
    check_state            text        NOT NULL DEFAULT 'pending',
    checked_by             text        NOT NULL DEFAULT '',
    check_note             text        NOT NULL DEFAULT '',
    check_time             timestamptz
);

CREATE TABLE after_sales (
    after_sale_id     uuid PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('refund', 'exchange')),
    card_id           uuid        NOT NULL REFERENCES cards (card_id),
    currency_code     text        NOT NULL,
    amount_minor      bigint      NOT NULL,
    exchange_card_ids uuid[]      NOT NULL DEFAULT '{}',
    state             text        NOT NULL,
    requested_by      text        NOT NULL,
    reason            text        NOT NULL,
    policy_version    integer     NOT NULL,
    rejected_by       text        NOT NULL DEFAULT '',
    reject_reason     text        NOT NULL DEFAULT '',
    create_time       timestamptz NOT NULL DEFAULT now(),
    complete_time     timestamptz
);
-- One open request per card.
CREATE UNIQUE INDEX after_sales_open ON after_sales (card_id) WHERE state = 'pending_approval';

-- What the suite knows of a member (identity's events): frozen members do not spend, closed
-- members' cards are unbound.
CREATE TABLE members (
    member_id   uuid PRIMARY KEY,
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- A member's stored value: principal (money paid in) and bonus (a promotion) apart, each split
-- into available and held; all equal their journal sums.
CREATE TABLE stored_value (
    member_id       uuid PRIMARY KEY,
    currency_code   text        NOT NULL,
    principal_minor bigint      NOT NULL DEFAULT 0 CHECK (principal_minor >= 0),
    bonus_minor     bigint      NOT NULL DEFAULT 0 CHECK (bonus_minor >= 0),
    held_principal_minor bigint NOT NULL DEFAULT 0 CHECK (held_principal_minor >= 0),
    held_bonus_minor     bigint NOT NULL DEFAULT 0 CHECK (held_bonus_minor >= 0),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bonus_policies (
    version        integer PRIMARY KEY,
    currency_code  text        NOT NULL,
    tiers          jsonb       NOT NULL,  -- [{"min_top_up_minor", "bonus_minor"}]
    updated_by     text        NOT NULL,
    effective_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE top_ups (
    top_up_id               uuid PRIMARY KEY,
    member_id               uuid        NOT NULL,
    currency_code           text        NOT NULL,
    amount_minor            bigint      NOT NULL CHECK (amount_minor > 0),
    bonus_minor             bigint      NOT NULL DEFAULT 0 CHECK (bonus_minor >= 0),
    bonus_policy_version    integer,
    state                   text        NOT NULL,
    payment_reference       text        NOT NULL DEFAULT '',
    refunded_principal_minor bigint     NOT NULL DEFAULT 0,
    clawed_back_bonus_minor bigint      NOT NULL DEFAULT 0,
    created_by              text        NOT NULL,
    create_time             timestamptz NOT NULL DEFAULT now(),
    confirm_time            timestamptz,
    update_time             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX top_ups_member ON top_ups (member_id, create_time DESC);

-- Checkout holds on a card or on stored value; `position` orders an order's holds (refunds go
-- back to the last first).
CREATE TABLE holds (
    hold_id        uuid PRIMARY KEY,
    order_id       text        NOT NULL,
    position       integer     NOT NULL,
    member_id      uuid,
    source_kind    text        NOT NULL CHECK (source_kind IN ('card_secret', 'bound_card', 'stored_value')),
    card_id        uuid        REFERENCES cards (card_id),
    currency_code  text        NOT NULL,
    amount_minor   bigint      NOT NULL CHECK (amount_minor > 0),
    bonus_minor    bigint      NOT NULL DEFAULT 0,  -- of a stored-value hold: the bonus part
    state          text        NOT NULL,
    returned_minor bigint      NOT NULL DEFAULT 0,
    returned_bonus_minor bigint NOT NULL DEFAULT 0,
    expire_time    timestamptz NOT NULL,
    placed_by      text        NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    capture_time   timestamptz,
    release_time   timestamptz,
    release_reason text        NOT NULL DEFAULT '',
    CHECK ((source_kind = 'stored_value') = (card_id IS NULL)),
    CHECK (returned_minor <= amount_minor)
);
CREATE INDEX holds_order ON holds (order_id, position);
CREATE INDEX holds_card ON holds (card_id) WHERE card_id IS NOT NULL;
CREATE INDEX holds_expiry ON holds (expire_time) WHERE state = 'held';

-- What the order events did: the payment applied (once), each refund (once).
CREATE TABLE order_payments (
    order_id               text PRIMARY KEY,
    hold_ids               uuid[]      NOT NULL,
    gift_card_amount_minor bigint      NOT NULL,
    captured_minor         bigint      NOT NULL,
    problem                text        NOT NULL DEFAULT '',
    description            text        NOT NULL DEFAULT '',
    apply_time             timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_refunds (
    order_id               text        NOT NULL,
    refund_id              text        NOT NULL,
    gift_card_amount_minor bigint      NOT NULL,
    returned_minor         bigint      NOT NULL DEFAULT 0,
    unreturned_minor       bigint      NOT NULL DEFAULT 0,
    state                  text        NOT NULL,  -- waiting_for_payment | applied
    receive_time           timestamptz NOT NULL DEFAULT now(),
    apply_time             timestamptz,
    PRIMARY KEY (order_id, refund_id)
);
CREATE TABLE value_returns (
    order_id     text   NOT NULL,
    refund_id    text   NOT NULL,
    hold_id      uuid   NOT NULL REFERENCES holds (hold_id),
    amount_minor bigint NOT NULL,
    bonus_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, refund_id, hold_id)
);

-- The journal (kit/journal.py). Accounts: card_available / card_held (owner: card id),
-- sv_principal / sv_bonus / sv_held_principal / sv_held_bonus (owner: member id), and the
-- counter accounts of each flow: loads, redemptions, card_refunds, exchanges, breakage,
-- write_offs, top_ups, bonus_grants, top_up_refunds, bonus_clawbacks.
CREATE TABLE journal_transactions (
    txn_id       uuid PRIMARY KEY,
    kind         text        NOT NULL,
    card_id      uuid,
    member_id    uuid,
    reference    text        NOT NULL DEFAULT '',
    reason       text        NOT NULL DEFAULT '',
    actor        text        NOT NULL DEFAULT '',
    business_day date        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_transactions_day ON journal_transactions (business_day);
CREATE TABLE journal_postings (
    posting_id bigserial PRIMARY KEY,
    txn_id     uuid        NOT NULL REFERENCES journal_transactions (txn_id),
    account    text        NOT NULL,
    owner      text        NOT NULL DEFAULT '',
    amount     bigint      NOT NULL CHECK (amount <> 0),
    entry_kind text        NOT NULL,
    member_id  uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_postings_txn ON journal_postings (txn_id);
CREATE INDEX journal_postings_owner ON journal_postings (account, owner, posting_id DESC);
CREATE INDEX journal_postings_member ON journal_postings (member_id, posting_id DESC)
    WHERE member_id IS NOT NULL;
CREATE CONSTRAINT TRIGGER journal_balanced AFTER INSERT ON journal_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kit_journal_balanced();
CREATE TRIGGER journal_postings_append_only BEFORE UPDATE OR DELETE ON journal_postings
    FOR EACH ROW EXECUTE FUNCTION kit_append_only();
CREATE TRIGGER journal_transactions_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION kit_append_only();

-- The daily reconciliation (进销存): each run of a day is a new revision; kept for ever.
CREATE TABLE reconciliation_reports (
    business_day date        NOT NULL,
    revision     integer     NOT NULL,
    lines        jsonb       NOT NULL,
    stock        jsonb       NOT NULL,
    mismatches   jsonb       NOT NULL,
    created_by   text        NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_day, revision)
);
CREATE TRIGGER reconciliation_reports_append_only BEFORE UPDATE OR DELETE ON reconciliation_reports
    FOR EACH ROW EXECUTE FUNCTION kit_append_only();
