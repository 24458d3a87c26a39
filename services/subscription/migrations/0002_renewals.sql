-- Renewals, the clock and plan changes: what the renewal and clock jobs find due without reading
-- every subscription, the period end a renewal order renews (a late or duplicate answer is known
-- by it), the last charge requested for an order (subscription.charge.cancelled names it), and
-- when a change at the next renewal was asked for.
-- depends: 0001_subscription

-- The end of the time a subscription holds: its last term's end. Kept from the terms by a
-- trigger, whoever writes them (a purchase, a renewal, a code, a gift, a plan change or a refund
-- cutting them), so that the jobs find the periods ending soon through an index instead of
-- reading every subscription's terms.
ALTER TABLE subscriptions ADD COLUMN period_end timestamptz;
UPDATE subscriptions s
    SET period_end = (SELECT max(t.end_time) FROM terms t WHERE t.subscription_id = s.subscription_id);

CREATE FUNCTION subscriptions_keep_period_end() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.subscription_id
                         ELSE NEW.subscription_id END;
BEGIN
    UPDATE subscriptions
        SET period_end = (SELECT max(end_time) FROM terms WHERE subscription_id = changed)
        WHERE subscription_id = changed;
    RETURN NULL;
END
$$;
CREATE TRIGGER terms_period_end AFTER INSERT OR DELETE OR UPDATE OF end_time ON terms
    FOR EACH ROW EXECUTE FUNCTION subscriptions_keep_period_end();

-- The renewal job: first charges (a lead before the period end), retries, grace without one.
CREATE INDEX subscriptions_first_charge_due ON subscriptions (period_end)
    WHERE state = 'active' AND auto_renew AND last_attempt_at IS NULL;
CREATE INDEX subscriptions_retry_due ON subscriptions (last_attempt_at)
    WHERE state IN ('active', 'grace') AND last_attempt_at IS NOT NULL;
-- The clock job: periods ending, grace ending, first orders never paid.
CREATE INDEX subscriptions_active_end ON subscriptions (period_end) WHERE state = 'active';
CREATE INDEX subscriptions_grace_end ON subscriptions (grace_until) WHERE state = 'grace';
CREATE INDEX subscriptions_pending_since ON subscriptions (ordered_at)
    WHERE state = 'pending_payment';

-- For a renewal order: the period end it renews (one order per period end; its retries are
-- more charges of that order).
ALTER TABLE orders ADD COLUMN renews_end timestamptz;
ALTER TABLE orders ADD CONSTRAINT orders_renewal_end
    CHECK ((kind = 'renewal') = (renews_end IS NOT NULL));
CREATE UNIQUE INDEX orders_one_renewal ON orders (subscription_id, renews_end)
    WHERE kind = 'renewal';
-- At most one plan change waiting for its payment per subscription.
CREATE UNIQUE INDEX orders_one_plan_change ON orders (subscription_id)
    WHERE kind = 'plan_change' AND state = 'pending_payment';
-- The last charge requested (the provider's idempotency key), for charge.cancelled.
ALTER TABLE orders ADD COLUMN last_charge_id uuid;
-- Orders lapsing unpaid.
CREATE INDEX orders_pending_expiry ON orders (expire_time) WHERE state = 'pending_payment';
-- Every order, newest first (an operator's list without a member).
CREATE INDEX orders_newest ON orders (create_time DESC, order_id DESC);

-- When a change at the next renewal was asked for (the change itself is renewal_plan differing
-- from the last paid term's plan).
ALTER TABLE subscriptions ADD COLUMN plan_change_time timestamptz;
