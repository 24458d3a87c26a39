-- Access tokens void before they expire (services/kit/revocations.py): per subject (a member
-- or a client), every token issued at or before `revoked_before` is refused. Fed by identity's
-- events (member.frozen, member.closed, member.sessions_revoked, client.disabled); every
-- replica keeps a copy in memory, told of each change by NOTIFY.
-- depends: kit_0004_scoped_request_ids_and_event_hashes

CREATE TABLE revocations (
    kind           text        NOT NULL,   -- member | client
    subject        text        NOT NULL,   -- the member id or client id (a token's `sub`)
    revoked_before timestamptz NOT NULL,   -- tokens issued at or before this are void
    expires_at     timestamptz NOT NULL,   -- every token it voids has expired by then
    PRIMARY KEY (kind, subject)
);
-- An hourly job deletes the rows whose tokens have all expired.
CREATE INDEX revocations_expiry ON revocations (expires_at);

-- A new or moved revocation reaches every replica's listener with the row itself; emptying
-- the table (TRUNCATE) tells them to read it again.
CREATE FUNCTION revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        PERFORM pg_notify('revocations', json_build_object(
            'kind', NEW.kind,
            'subject', NEW.subject,
            'before', extract(epoch FROM NEW.revoked_before),
            'expires', extract(epoch FROM NEW.expires_at))::text);
    ELSE
        PERFORM pg_notify('revocations', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER revocations_changed AFTER INSERT OR UPDATE ON revocations
    FOR EACH ROW EXECUTE FUNCTION revocations_notify();
CREATE TRIGGER revocations_emptied AFTER TRUNCATE ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION revocations_notify();
