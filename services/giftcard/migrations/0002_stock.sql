-- The stock side (batches, their export, loads): which cards each export page delivered, so
-- that a recovery voids exactly the cards of the pages not kept; recoveries numbered per batch
-- (two in one instant are two recoveries); loads and their entries found by batch and by card.
-- depends: 0001_giftcard

-- One row per page of secrets delivered (ExportBatchSecrets): the cards of sequence
-- first_sequence..last_sequence of the batch that were ISSUED and undelivered then. Pages of a
-- batch are numbered 1, 2, … and never reused; their sequence ranges do not overlap.
CREATE TABLE export_pages (
    batch_id       uuid        NOT NULL REFERENCES batches (batch_id),
    page           integer     NOT NULL CHECK (page > 0),
    first_sequence integer     NOT NULL,
    last_sequence  integer     NOT NULL,
    row_count      integer     NOT NULL CHECK (row_count > 0),
    delivered_by   text        NOT NULL,
    deliver_time   timestamptz NOT NULL,
    PRIMARY KEY (batch_id, page),
    CHECK (first_sequence <= last_sequence)
);

ALTER TABLE export_recoveries DROP CONSTRAINT export_recoveries_pkey;
ALTER TABLE export_recoveries ADD COLUMN recovery integer NOT NULL;
ALTER TABLE export_recoveries ADD PRIMARY KEY (batch_id, recovery);

CREATE INDEX loads_batch ON loads (batch_id, load_id DESC);
CREATE INDEX loads_state ON loads (state, load_id DESC);
CREATE INDEX load_entries_card ON load_entries (card_id);
CREATE INDEX batches_product ON batches (product_id, batch_id DESC);
CREATE INDEX batches_state ON batches (state, batch_id DESC);
