-- Storefront events points does not apply as they come: kept with their reason (parked), applied
-- when what they wait for arrives, or given up, and shown to operators (GetOrder, `parked`).
-- Refunds refused when their payment arrives; why an order's rebate is short or missing; holds
-- found by their order alone (GetOrder).
-- depends: 0002_locks_with_balance

-- One storefront event, parked. `command` is what the event asks, as the domain's plain data
-- (domain/commerce.py), so it can be applied later without its original message.
--   waiting     the member is unknown (no member.registered yet): applied on registration,
--               given up at wait_until;
--   held        the payment names a hold that does not fit, or a currency points does not earn
--               on: it stays for an operator (a corrected order.paid is applied as usual);
--   applied     applied after waiting;  given_up  the member never came;
--   refused     applied after waiting, and refused then (settle_reason says why);
--   superseded  held, and another payment of the order was applied since.
CREATE TABLE parked_events (
    parked_id      bigserial PRIMARY KEY,
    event_id       text        NOT NULL,
    event_type     text        NOT NULL,
    kind           text        NOT NULL,
    member_id      uuid        NOT NULL,
    order_id       text,
    command        jsonb       NOT NULL,
    state          text        NOT NULL
                   CHECK (state IN ('waiting', 'held', 'applied', 'given_up', 'refused',
                                    'superseded')),
    reason         text        NOT NULL,
    detail         text        NOT NULL DEFAULT '',
    parked_at      timestamptz NOT NULL,
    wait_until     timestamptz,
    settled_at     timestamptz,
    settle_reason  text        NOT NULL DEFAULT '',
    UNIQUE (event_id, event_type)
);
CREATE INDEX parked_events_waiting ON parked_events (member_id, parked_id) WHERE state = 'waiting';
CREATE INDEX parked_events_due ON parked_events (wait_until) WHERE state = 'waiting';
CREATE INDEX parked_events_order ON parked_events (order_id, parked_id);
CREATE INDEX parked_events_open ON parked_events (parked_id) WHERE state IN ('waiting', 'held');

-- A refund received before its payment, refused when the payment arrived (it would refund more
-- than was paid, or in another currency): never applied; the reason is shown by GetOrder.
ALTER TABLE order_refunds ADD COLUMN currency_code text NOT NULL DEFAULT '';
ALTER TABLE order_refunds ADD COLUMN refused_reason text NOT NULL DEFAULT '';

-- Why the order's rebate is less than paid × rule points × multiplier, or none ('' when it is
-- the full amount, or no payment was applied yet).
ALTER TABLE orders ADD COLUMN rebate_note text NOT NULL DEFAULT '';

-- GetOrder finds an order's holds by the order id alone (the order may have no events yet).
CREATE INDEX holds_order_id ON holds (order_id);
