DROP TRIGGER products_stock_ledger_update ON products;
DROP TRIGGER products_stock_ledger_insert ON products;
DROP FUNCTION record_stock_movement();
DROP TABLE stock_movements;
