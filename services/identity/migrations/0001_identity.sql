-- Members, credentials, tokens, linked accounts, tags, operator/service clients (the audit trail is the kit's).
-- depends: kit_0001_outbox_inbox_idempotency

CREATE TABLE members (
    member_id        uuid PRIMARY KEY,
    phone            text UNIQUE,
    email            text UNIQUE,
    password_hash    text,
    status           text        NOT NULL DEFAULT 'active',
    channel          text        NOT NULL,
    nickname         text        NOT NULL DEFAULT '',
    gender           text        NOT NULL DEFAULT '',
    birthday         date,
    region           text        NOT NULL DEFAULT '',
    referral_code    text        NOT NULL UNIQUE,
    referred_by      uuid REFERENCES members (member_id),
    legal_name_enc   bytea,
    id_number_enc    bytea,
    id_number_hash   bytea UNIQUE,          -- one ID number verifies at most one account
    id_number_masked text,
    verified_at      timestamptz,
    failed_logins    integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz
);
CREATE INDEX members_status ON members (status, member_id);

CREATE TABLE member_tags (
    member_id uuid NOT NULL REFERENCES members (member_id),
    tag       text NOT NULL,
    PRIMARY KEY (member_id, tag)
);
CREATE INDEX member_tags_by_tag ON member_tags (tag, member_id);

CREATE TABLE linked_accounts (
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    member_id  uuid        NOT NULL REFERENCES members (member_id),
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject),          -- one external subject → one member
    UNIQUE (member_id, provider)
);

CREATE TABLE refresh_tokens (
    token_id    uuid PRIMARY KEY,
    family_id   uuid        NOT NULL,
    member_id   uuid        NOT NULL REFERENCES members (member_id),
    token_hash  bytea       NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE clients (
    client_id    text PRIMARY KEY,
    kind         text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    scopes       text[]      NOT NULL DEFAULT '{}',
    roles        text[]      NOT NULL DEFAULT '{}',
    display_name text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    private_enc bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);
