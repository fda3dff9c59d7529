-- The stock ledger: every change of a product's stock on hand, with why, written by a trigger
-- in the transaction of the change, so no code path can move stock without a row here. The
-- writer names its reason for the transaction (`product.stock_reason`: 'adjustment' from the
-- admin API, 'sale' from a committed reservation); a first row is the 'initial' stock, and a
-- change nobody named is 'unexplained' — which the consistency audit (make audit) reports.
CREATE TABLE stock_movements (
    id          BIGSERIAL   PRIMARY KEY,
    product_id  UUID        NOT NULL REFERENCES products (id),
    delta       BIGINT      NOT NULL,
    reason      TEXT        NOT NULL CHECK (reason IN ('initial', 'adjustment', 'sale', 'unexplained')),
    on_hand     BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_by_product ON stock_movements (product_id, id);

CREATE FUNCTION record_stock_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stock_movements (product_id, delta, reason, on_hand)
        VALUES (NEW.id, NEW.on_hand, 'initial', NEW.on_hand);
    ELSE
        INSERT INTO stock_movements (product_id, delta, reason, on_hand)
        VALUES (NEW.id, NEW.on_hand - OLD.on_hand,
                CASE WHEN current_setting('product.stock_reason', true) IN ('adjustment', 'sale')
                     THEN current_setting('product.stock_reason', true) ELSE 'unexplained' END,
                NEW.on_hand);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER products_stock_ledger_insert AFTER INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION record_stock_movement();
CREATE TRIGGER products_stock_ledger_update AFTER UPDATE OF on_hand ON products
    FOR EACH ROW WHEN (OLD.on_hand IS DISTINCT FROM NEW.on_hand) EXECUTE FUNCTION record_stock_movement();

-- Products that existed before the ledger start from their stock at the time.
INSERT INTO stock_movements (product_id, delta, reason, on_hand)
SELECT id, on_hand, 'initial', on_hand FROM products;
