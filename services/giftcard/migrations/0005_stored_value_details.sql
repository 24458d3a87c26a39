-- A bonus policy may be switched off as a whole; a top-up keeps why it failed or was refunded
-- and when it closed.
-- depends: 0001_giftcard

ALTER TABLE bonus_policies ADD COLUMN enabled boolean NOT NULL DEFAULT true;
ALTER TABLE top_ups ADD COLUMN failure_reason text NOT NULL DEFAULT '';
ALTER TABLE top_ups ADD COLUMN refund_reason text NOT NULL DEFAULT '';
ALTER TABLE top_ups ADD COLUMN close_time timestamptz;
