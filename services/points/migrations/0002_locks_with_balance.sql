-- Locking a member (or a hold and its member) together with the points in the member's lots that
-- expire soon, in one round trip. Each statement of a VOLATILE function takes a new snapshot, so
-- the read after the lock sees everything the previous holder of the lock committed (a read in
-- the locking statement itself would see the database as it was before waiting for the lock).
-- PL/pgSQL keeps its plans for the session; an SQL function would plan both statements per call.
-- depends: 0001_points

CREATE FUNCTION lock_member(the_member uuid, expiring_until timestamptz)
RETURNS TABLE (account member_accounts, expiring_soon bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM member_accounts WHERE member_id = the_member FOR UPDATE;
    RETURN QUERY
    SELECT a, (SELECT coalesce(sum(remaining), 0) FROM lots
               WHERE member_id = the_member AND remaining > 0 AND expires_at <= expiring_until)::bigint
    FROM member_accounts a WHERE a.member_id = the_member;
END $$;

-- The member first, then the hold, as every other path locks them (FOR UPDATE OF takes them in
-- the order named).
CREATE FUNCTION lock_hold(the_hold uuid, expiring_until timestamptz)
RETURNS TABLE (account member_accounts, hold holds, expiring_soon bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM member_accounts m JOIN holds h USING (member_id)
    WHERE h.hold_id = the_hold FOR UPDATE OF m, h;
    RETURN QUERY
    SELECT a, h, (SELECT coalesce(sum(remaining), 0) FROM lots l
                  WHERE l.member_id = a.member_id AND l.remaining > 0
                    AND l.expires_at <= expiring_until)::bigint
    FROM holds h JOIN member_accounts a USING (member_id) WHERE h.hold_id = the_hold;
END $$;
