-- The daily reconciliation report as the API shows it: one per business day and currency (a
-- re-run is the next revision), with the period it covers, the liability at its start and end
-- by part, where the opening came from, and the flows the liability identity was checked with
-- (domain.liability.report). Still append-only (0001's trigger).
-- depends: 0001_giftcard

ALTER TABLE reconciliation_reports
    ADD COLUMN currency_code text        NOT NULL DEFAULT 'CNY',
    ADD COLUMN period_start  timestamptz NOT NULL,
    ADD COLUMN period_end    timestamptz NOT NULL,
    ADD COLUMN complete      boolean     NOT NULL,
    ADD COLUMN opening       jsonb       NOT NULL,  -- {cards_in_stock_minor, cards_sold_minor, …}
    ADD COLUMN opening_from  text        NOT NULL,  -- "journal" or the report "YYYY-MM-DD#n"
    ADD COLUMN closing       jsonb       NOT NULL,
    ADD COLUMN flows         jsonb       NOT NULL,
    ADD CHECK (revision >= 1);
ALTER TABLE reconciliation_reports ALTER COLUMN currency_code DROP DEFAULT;
ALTER TABLE reconciliation_reports DROP CONSTRAINT reconciliation_reports_pkey;
ALTER TABLE reconciliation_reports ADD PRIMARY KEY (currency_code, business_day, revision);
