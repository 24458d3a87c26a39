-- Sign-in sources (login throttling) and the client lifecycle (disable, secret rotation).
-- depends: 0001_identity

-- Where a member signed in from successfully: a source (network address or client id) as a keyed
-- hash. Failed logins from such a source may use the share of the account's hourly budget that
-- strangers cannot use up. Rows older than IDENTITY_LOGIN_KNOWN_SOURCE_DAYS are pruned.
CREATE TABLE login_sources (
    member_id     uuid        NOT NULL REFERENCES members (member_id),
    source        text        NOT NULL,
    last_login_at timestamptz NOT NULL,
    PRIMARY KEY (member_id, source)
);
CREATE INDEX login_sources_age ON login_sources (last_login_at);

ALTER TABLE clients
    ADD COLUMN disabled_at       timestamptz,   -- set: IssueClientToken refuses the client
    ADD COLUMN secret_rotated_at timestamptz;

-- Login throttling moved to the kit's rate_limits table; the columns stay for replicas still
-- running the previous version during a rolling update, and can be dropped later.
COMMENT ON COLUMN members.failed_logins IS 'unused since migration 0002';
COMMENT ON COLUMN members.locked_until IS 'unused since migration 0002';
