-- Growth: the facts every score is computed from, the versioned rule sets, the members' state
-- carried from settlement to settlement, and the settlements themselves.

-- A member growth knows of: registered (identity), or seen in a fact. The state after the last
-- settlement (or an immediate upgrade since): the tier held, the grace used, the last settled
-- score. Badges and the gift packs granted are in their own tables.
CREATE TABLE members (
    member_id      uuid        PRIMARY KEY,
    tier           text        NOT NULL DEFAULT 'registered'
                   CHECK (tier IN ('registered', 'bronze', 'silver', 'gold', 'diamond')),
    months_below   integer     NOT NULL DEFAULT 0 CHECK (months_below BETWEEN 0 AND 12),
    tier_since     timestamptz,   -- when the tier held was reached; NULL: registered, never moved
    settled_period text,
    score          integer     NOT NULL DEFAULT 0 CHECK (score >= 0),
    registered_at  timestamptz,   -- identity's member.registered; NULL: not known yet
    closed_at      timestamptz,   -- identity's member.closed: no longer settled
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Facts (domain/facts.py): one row per key; an event delivered twice, or re-sent under a new
-- event id for the same order, refund or review, is recorded once. Keyed by member first, so a
-- settlement reads a range of members' facts from the indexes alone.
CREATE TABLE orders (
    member_id           uuid        NOT NULL,
    order_id            text        NOT NULL,
    occurred_at         timestamptz NOT NULL,
    currency            text        NOT NULL,
    paid_minor          bigint      NOT NULL CHECK (paid_minor >= 0),
    platform_paid_minor bigint      NOT NULL CHECK (platform_paid_minor BETWEEN 0 AND paid_minor),
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, order_id)
);

CREATE TABLE order_lines (
    member_id  uuid   NOT NULL,
    order_id   text   NOT NULL,
    line_id    text   NOT NULL,
    category   text   NOT NULL,
    paid_minor bigint NOT NULL CHECK (paid_minor >= 0),
    PRIMARY KEY (member_id, order_id, line_id),
    FOREIGN KEY (member_id, order_id) REFERENCES orders ON DELETE CASCADE
);

-- A refund may arrive before its order: it waits (no foreign key) and nets once the order is in.
CREATE TABLE refunds (
    member_id   uuid        NOT NULL,
    refund_id   text        NOT NULL,
    order_id    text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    currency    text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, refund_id)
);
CREATE INDEX refunds_by_order ON refunds (member_id, order_id);

CREATE TABLE refund_lines (
    member_id    uuid   NOT NULL,
    refund_id    text   NOT NULL,
    order_id     text   NOT NULL,
    line_id      text   NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (member_id, refund_id, line_id),
    FOREIGN KEY (member_id, refund_id) REFERENCES refunds ON DELETE CASCADE
);

CREATE TABLE activities (
    member_id   uuid        NOT NULL,
    source_id   text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('review', 'photo_review', 'answer', 'share')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, source_id)
);

-- The account's standing and the outside judgements: verification, links, profile snapshots,
-- reputation assessments, credit reports (source_id: the event's id).
CREATE TABLE standings (
    member_id   uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('verified', 'account_linked',
                    'account_unlinked', 'profile', 'reputation_assessed', 'credit_reported')),
    source_id   text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    provider    text,
    filled      text[],
    score       bigint,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, kind, source_id)
);

-- Rule sets as versioned data: `body` is the RuleSet message's proto3 JSON (one shape with the
-- API). At most one ACTIVE; a version is never rewritten.
CREATE TABLE rule_sets (
    version      integer     PRIMARY KEY CHECK (version > 0),
    state        text        NOT NULL CHECK (state IN ('draft', 'active', 'retired')),
    body         jsonb       NOT NULL,
    description  text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_by text,
    activated_at timestamptz,
    retired_at   timestamptz
);
CREATE UNIQUE INDEX rule_sets_one_active ON rule_sets ((true)) WHERE state = 'active';

-- One row per period: the version it uses is fixed when it begins, so a resumed run (or a
-- second replica) settles with the same rules.
CREATE TABLE settlements (
    period           text        PRIMARY KEY,
    rule_set_version integer     NOT NULL REFERENCES rule_sets,
    settle_time      timestamptz NOT NULL,
    state            text        NOT NULL CHECK (state IN ('running', 'completed')),
    started_by       text        NOT NULL,   -- "system" (the job) or the operator's label
    started_at       timestamptz NOT NULL,
    runs             integer     NOT NULL DEFAULT 0,   -- more than 1 when resumed
    completed_at     timestamptz,
    members_settled  bigint      NOT NULL DEFAULT 0,
    tier_ups         bigint      NOT NULL DEFAULT 0,
    tier_downs       bigint      NOT NULL DEFAULT 0,
    gift_packs       bigint      NOT NULL DEFAULT 0,
    gift_points      bigint      NOT NULL DEFAULT 0,
    badges_awarded   bigint      NOT NULL DEFAULT 0
);

-- Each member's settled score per period: the row is what makes a member settled once (its
-- key), and the score history.
CREATE TABLE member_scores (
    member_id        uuid        NOT NULL,
    period           text        NOT NULL,
    score            integer     NOT NULL,
    account          integer     NOT NULL,
    consumption      integer     NOT NULL,
    activity         integer     NOT NULL,
    reputation       integer     NOT NULL,
    credit           integer     NOT NULL,
    tier_before      text        NOT NULL,
    tier             text        NOT NULL,
    months_below     integer     NOT NULL,
    risk_gated       boolean     NOT NULL,
    rule_set_version integer     NOT NULL,
    settle_time      timestamptz NOT NULL,
    PRIMARY KEY (member_id, period)
);
CREATE INDEX member_scores_by_period ON member_scores (period);

-- Gift packs granted; the reference is the one points credits once.
CREATE TABLE gift_grants (
    reference        text        PRIMARY KEY,
    member_id        uuid        NOT NULL,
    tier             text        NOT NULL,
    period           text        NOT NULL,
    points           bigint      NOT NULL,
    coupons          jsonb       NOT NULL,
    rule_set_version integer     NOT NULL,
    granted_at       timestamptz NOT NULL
);
CREATE INDEX gift_grants_by_member ON gift_grants (member_id, tier, period);

CREATE TABLE member_badges (
    member_id uuid        NOT NULL,
    category  text        NOT NULL,
    level     integer     NOT NULL CHECK (level > 0),
    since     timestamptz NOT NULL,   -- the settlement that gave this level
    PRIMARY KEY (member_id, category)
);

-- Rehearsals: a candidate rule set and the baseline settling a period over the stored facts,
-- counted, changing nothing. One runs at a time; `tiers` ("<baseline>><candidate>" → members)
-- and `packs` ("<side>:<tier>" → packs) are the counts the figures are derived from, written
-- after every chunk with the heartbeat (a running row whose heartbeat stopped was cut short).
CREATE TABLE rehearsals (
    rehearsal_id              uuid        PRIMARY KEY,
    rule_set_version          integer     NOT NULL REFERENCES rule_sets,
    baseline_rule_set_version integer     NOT NULL REFERENCES rule_sets,
    period                    text        NOT NULL,
    state                     text        NOT NULL
                              CHECK (state IN ('running', 'completed', 'failed')),
    members                   bigint      NOT NULL DEFAULT 0,
    tiers                     jsonb       NOT NULL DEFAULT '{}',
    packs                     jsonb       NOT NULL DEFAULT '{}',
    created_by                text        NOT NULL,
    created_at                timestamptz NOT NULL,
    heartbeat_at              timestamptz NOT NULL,
    completed_at              timestamptz,
    failure_message           text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX rehearsals_one_running ON rehearsals ((true)) WHERE state = 'running';
CREATE INDEX rehearsals_newest ON rehearsals (created_at DESC, rehearsal_id DESC);
