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

-- An order is charged at most once per user, whatever key a retry carries: the charge
-- path looks payments up by order (and the compensation refunds by order).
CREATE INDEX payments_by_order ON payments (user_id, order_id);
CREATE INDEX payments_by_order_only ON payments (order_id);
