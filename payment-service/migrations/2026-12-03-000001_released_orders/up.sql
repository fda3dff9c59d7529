-- Checkouts that ended without a sale: product-service released or expired the reservation
-- whose id is the payment's order_id (ReservationReleased on product.events.v1). A charge for
-- such an order is refunded in full, whether it had succeeded already or succeeds later.
CREATE TABLE released_orders (
    order_id    VARCHAR(255) NOT NULL PRIMARY KEY,
    reason      VARCHAR(16)  NOT NULL,
    released_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Events of other services already applied, by event id: a redelivery changes nothing.
CREATE TABLE processed_events (
    event_id     CHAR(36)     NOT NULL PRIMARY KEY,
    topic        VARCHAR(255) NOT NULL,
    processed_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- An order is charged at most once per user, whatever key a retry carries: at most one payment
-- per (user, order) that was not declined. The charge path looks it up first (and replays it);
-- the unique key refuses the second of two concurrent charges under different keys (sessions
-- run READ COMMITTED, where a locking read of no rows locks nothing).
ALTER TABLE payments
    ADD COLUMN live_order_id VARCHAR(255) AS (IF(status <> 'failed', order_id, NULL)) PERSISTENT,
    ADD UNIQUE KEY payments_live_order (user_id, live_order_id);
-- The compensation refunds by order, whoever paid.
CREATE INDEX payments_by_order_only ON payments (order_id);
