-- Locking a member (or a hold and its member) together with the points in the member's lots that
-- expire soon, in one round trip. Each statement of a VOLATILE function takes a new snapshot, so
-- the read after the lock sees everything the previous holder of the lock committed (a read in
-- the locking statement itself would see the database as it was before waiting for the lock).
-- PL/pgSQL keeps its plans for the session; an SQL function would plan both statements per call.
-- depends: 0001_points

-- The member's lots a spend of `covering` points takes, earliest expiry first: only as many as
-- cover it (a member with thousands of lots is not read whole). One statement: inlined into
-- the queries that use it.
CREATE FUNCTION spendable_lots(the_member uuid, covering bigint)
RETURNS SETOF lots LANGUAGE sql STABLE AS $$
    SELECT (s.l).* FROM (
        SELECT l, sum(l.remaining) OVER (ORDER BY l.expires_at, l.lot_id) AS upto
        FROM lots l WHERE l.member_id = the_member AND l.remaining > 0) s
    WHERE s.upto - (s.l).remaining < covering
$$;

-- With `spend` > 0, also the lots that cover it; with `the_order`, also the points the order's
-- other holds (held or captured) have: what a redemption or a hold decides on.
CREATE FUNCTION lock_member(
    the_member uuid, expiring_until timestamptz, spend bigint DEFAULT 0, the_order text DEFAULT NULL
)
RETURNS TABLE (account member_accounts, expiring_soon bigint, spendable lots[], on_order bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM member_accounts WHERE member_id = the_member FOR UPDATE;
    RETURN QUERY
    SELECT a,
        (SELECT coalesce(sum(remaining), 0) FROM lots
         WHERE member_id = the_member AND remaining > 0 AND expires_at <= expiring_until)::bigint,
        CASE WHEN spend > 0 THEN (SELECT array_agg(s ORDER BY s.expires_at, s.lot_id)
                                  FROM spendable_lots(the_member, spend) s) END,
        CASE WHEN the_order IS NOT NULL THEN
            (SELECT coalesce(sum(h.amount), 0) FROM holds h WHERE h.member_id = the_member
             AND h.order_id = the_order AND h.state IN ('held', 'captured'))::bigint END
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
