-- Requisitions, sales and after-sale requests as built: how many cards of a requisition were sold
-- and returned to stock (a returned card leaves the requisition, so its count is kept here), and
-- the indexes the back office's listings read by.
-- depends: 0001_giftcard

ALTER TABLE requisitions
    ADD COLUMN sold_count     integer NOT NULL DEFAULT 0 CHECK (sold_count >= 0),
    ADD COLUMN returned_count integer NOT NULL DEFAULT 0 CHECK (returned_count >= 0);

CREATE INDEX requisitions_state ON requisitions (state, requisition_id DESC);
CREATE INDEX sales_requisition ON sales (requisition_id, sale_id DESC);
CREATE INDEX sales_check ON sales (check_state, sale_id DESC);
CREATE INDEX after_sales_card ON after_sales (card_id, after_sale_id DESC);
CREATE INDEX after_sales_state ON after_sales (state, after_sale_id DESC);
CREATE INDEX cards_sale ON cards (sale_id) WHERE sale_id IS NOT NULL;
CREATE INDEX cards_after_sale ON cards (after_sale_id) WHERE after_sale_id IS NOT NULL;
