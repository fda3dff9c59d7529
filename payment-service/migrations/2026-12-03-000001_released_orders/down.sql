DROP INDEX payments_by_order_only ON payments;
ALTER TABLE payments DROP KEY payments_live_order, DROP COLUMN live_order_id;
DROP TABLE processed_events;
DROP TABLE released_orders;
