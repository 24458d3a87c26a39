-- A request id belongs to its caller (AIP-155): the key is (principal, request_id), so one caller
-- can neither replay nor squat another's id. `subject` names the member (or aggregate) a stored
-- response is about, so erasing a member erases the responses that carry its data.
ALTER TABLE idempotency ADD COLUMN principal text NOT NULL DEFAULT '';
ALTER TABLE idempotency ADD COLUMN subject text;
ALTER TABLE idempotency DROP CONSTRAINT idempotency_pkey;
ALTER TABLE idempotency ADD PRIMARY KEY (principal, request_id);
CREATE INDEX idempotency_subject ON idempotency (subject) WHERE subject IS NOT NULL;

-- What an applied event said: an event id used again with other content is refused, not
-- silently taken for a duplicate.
ALTER TABLE inbox ADD COLUMN content_hash bytea;
