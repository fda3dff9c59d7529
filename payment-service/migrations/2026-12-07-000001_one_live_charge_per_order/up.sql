-- Issue 36. An order is charged for one shopper only: its id is product's reservation id, which
-- one payment sells, so the unique key on the live order id now holds across users (a locking
-- read of no rows locks nothing under READ COMMITTED; the key refuses the second of two
-- concurrent charges). A charge booked declined that the gateway then reports succeeded (a late
-- success) is booked succeeded with `late_success` set: it stays out of that key, since the
-- order may have another live charge by then, and it is refunded unless it became the sale.
ALTER TABLE payments DROP KEY payments_live_order, DROP COLUMN live_order_id;
ALTER TABLE payments ADD COLUMN late_success BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE payments
    ADD COLUMN live_order_id VARCHAR(255) AS (IF(status <> 'failed' AND NOT late_success, order_id, NULL)) PERSISTENT,
    ADD UNIQUE KEY payments_live_order (live_order_id);
