-- Who did what to which member or aggregate, and why: the audit trail of every service.
-- depends: kit_0001_outbox_inbox_idempotency

CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    actor    text        NOT NULL,   -- <kind>:<subject> of the caller, or "system"
    action   text        NOT NULL,   -- <service>.<what>, e.g. points.adjust, member.frozen
    subject  text        NOT NULL,   -- the member or aggregate id (member, merchant, rule, client)
    detail   jsonb       NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
