DROP INDEX payments_by_order_only ON payments;
DROP INDEX payments_by_order ON payments;
DROP TABLE processed_events;
DROP TABLE released_orders;
