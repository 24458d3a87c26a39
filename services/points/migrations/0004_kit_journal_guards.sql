-- The journal's guards are the kit's now (kit_0006, shared with giftcard): the same checks, one
-- definition.
-- depends: 0003_parked_events kit_0006_journal_functions

DROP TRIGGER journal_balanced ON journal_postings;
CREATE CONSTRAINT TRIGGER journal_balanced AFTER INSERT ON journal_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kit_journal_balanced();
DROP TRIGGER journal_postings_append_only ON journal_postings;
CREATE TRIGGER journal_postings_append_only BEFORE UPDATE OR DELETE ON journal_postings
    FOR EACH ROW EXECUTE FUNCTION kit_append_only();
DROP TRIGGER journal_transactions_append_only ON journal_transactions;
CREATE TRIGGER journal_transactions_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION kit_append_only();
DROP FUNCTION journal_balanced();
DROP FUNCTION journal_append_only();
