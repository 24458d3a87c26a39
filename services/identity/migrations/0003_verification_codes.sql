-- One-time codes that prove a phone number or an e-mail address (SendVerificationCode).
-- depends: 0002_login_sources_client_lifecycle

-- A code is kept only as a keyed hash (HMAC-SHA256 under IDENTITY_LOOKUP_KEY, bound to its
-- code_id), and its address only as a keyed hash too. Sending a new code for an address and
-- purpose deletes the previous ones; expired codes are deleted by a job.
CREATE TABLE verification_codes (
    code_id    uuid PRIMARY KEY,                   -- UUIDv7: the latest of an address sorts last
    address    text        NOT NULL,
    purpose    text        NOT NULL,               -- register | sign_in | close_member
    code_hash  bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX verification_codes_address ON verification_codes (address, purpose, code_id);
CREATE INDEX verification_codes_expiry ON verification_codes (expires_at);

-- The tries of each code, apart from it: a try is counted (and committed) before the code is
-- compared, whether or not the call that tried it then fails.
CREATE TABLE verification_attempts (
    code_id  uuid    PRIMARY KEY REFERENCES verification_codes (code_id) ON DELETE CASCADE,
    attempts integer NOT NULL DEFAULT 0
);
