-- The audit trail is append-only, like the journals: what was done stays recorded.
-- depends: kit_0006_journal_functions

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION kit_append_only();
