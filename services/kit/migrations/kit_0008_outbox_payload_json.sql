-- An outbox row's payload is written once, read once by the relay and never queried by its
-- content: `json` keeps the text as written, where `jsonb` took it apart into its binary form
-- on every insert (growth's monthly settlement writes an event per member: building and
-- storing them as jsonb was a tenth of its time). The relay reads it back the same either way.
-- depends: kit_0007_audit_append_only

ALTER TABLE outbox ALTER COLUMN payload TYPE json USING payload::json;
