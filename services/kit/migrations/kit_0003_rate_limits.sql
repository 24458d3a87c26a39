-- Rate limits shared by every replica of a service (services/kit/ratelimit.py): one row per
-- limit and key, holding the times of the hits still inside the limit's window.
-- depends: kit_0002_audit_log

CREATE TABLE rate_limits (
    name           text          NOT NULL,   -- the limit, e.g. identity.login.account
    key            text          NOT NULL,   -- what it counts for (pseudonymised by the caller)
    stamps         timestamptz[] NOT NULL,   -- the hits inside the window, oldest first
    max_hits       integer       NOT NULL,   -- what the last hit was checked against
    window_seconds integer       NOT NULL,
    expires_at     timestamptz   NOT NULL,   -- the newest hit leaves the window then
    PRIMARY KEY (name, key)
);
-- The limiter prunes rows whose every hit has left the window.
CREATE INDEX rate_limits_expiry ON rate_limits (expires_at);
