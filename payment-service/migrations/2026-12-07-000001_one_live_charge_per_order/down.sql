ALTER TABLE payments DROP KEY payments_live_order, DROP COLUMN live_order_id;
ALTER TABLE payments DROP COLUMN late_success;
ALTER TABLE payments
    ADD COLUMN live_order_id VARCHAR(255) AS (IF(status <> 'failed', order_id, NULL)) PERSISTENT,
    ADD UNIQUE KEY payments_live_order (user_id, live_order_id);
