-- Payments and refunds. Money is integer minor units plus an ISO 4217 code.
CREATE TABLE payments (
    id                CHAR(36)     NOT NULL PRIMARY KEY,
    user_id           CHAR(36)     NOT NULL,
    order_id          VARCHAR(255) NOT NULL,
    amount_minor      BIGINT       NOT NULL CHECK (amount_minor > 0),
    currency          CHAR(3)      NOT NULL,
    -- What refunds succeeded or are in flight have taken back; never above the amount.
    refunded_minor    BIGINT       NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    status            VARCHAR(32)  NOT NULL
        CHECK (status IN ('pending', 'succeeded', 'failed', 'partially_refunded', 'refunded')),
    gateway           VARCHAR(32)  NOT NULL,
    gateway_reference VARCHAR(255) NULL,
    -- The gateway's one-time payment method token, kept only while the payment is pending
    -- (the reconciler repeats the charge with the same idempotency key), cleared once settled.
    payment_token     VARCHAR(255) NULL,
    failure_code      VARCHAR(64)  NULL,
    failure_message   VARCHAR(500) NULL,
    -- The order lines, as consumers of PaymentSucceeded need them (JSON array).
    order_lines       LONGTEXT     NOT NULL CHECK (JSON_VALID(order_lines)),
    -- When the reconciler may next ask the gateway about a pending payment.
    next_attempt_at   DATETIME(6)  NULL,
    attempts          INT          NOT NULL DEFAULT 0,
    created_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT refunds_within_amount CHECK (refunded_minor <= amount_minor),
    KEY payments_by_user (user_id, id),
    KEY payments_pending (status, next_attempt_at),
    KEY payments_by_reference (gateway_reference)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE refunds (
    id                CHAR(36)     NOT NULL PRIMARY KEY,
    payment_id        CHAR(36)     NOT NULL,
    amount_minor      BIGINT       NOT NULL CHECK (amount_minor > 0),
    currency          CHAR(3)      NOT NULL,
    reason            VARCHAR(500) NOT NULL DEFAULT '',
    status            VARCHAR(32)  NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway_reference VARCHAR(255) NULL,
    failure_code      VARCHAR(64)  NULL,
    next_attempt_at   DATETIME(6)  NULL,
    created_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT refunds_payment FOREIGN KEY (payment_id) REFERENCES payments (id),
    KEY refunds_pending (status, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Idempotency keys (Stripe's rules, IETF Idempotency-Key draft): one row per user and key.
-- The fingerprint is a SHA-256 of the operation and its request; the row points at what the
-- first request created, so a replay answers with it.
CREATE TABLE idempotency_keys (
    user_id      CHAR(36)     NOT NULL,
    idem_key     VARCHAR(255) NOT NULL,
    fingerprint  CHAR(64)     NOT NULL,
    state        VARCHAR(16)  NOT NULL CHECK (state IN ('in_progress', 'completed')),
    -- The payment (Charge) or refund (Refund) the first request created.
    resource_id  CHAR(36)     NOT NULL,
    -- A request still in progress after this is taken to have crashed.
    locked_until DATETIME(6)  NOT NULL,
    created_at   DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    -- Kept at least this long (24 h after creation).
    expires_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    KEY idempotency_keys_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Gateway webhooks already applied, by the gateway's event id: a redelivery changes nothing.
CREATE TABLE processed_webhooks (
    event_id    VARCHAR(255) NOT NULL PRIMARY KEY,
    received_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
