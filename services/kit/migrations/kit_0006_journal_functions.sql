-- The journal's guards, for any service that keeps double-entry books (kit/journal.py): a
-- transaction's postings sum to zero at commit, and the journal is append-only.
-- depends: kit_0005_revocations

CREATE FUNCTION kit_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM journal_postings WHERE txn_id = NEW.txn_id) <> 0 THEN
        RAISE EXCEPTION 'journal transaction % does not sum to zero', NEW.txn_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION kit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: corrections are new rows', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
