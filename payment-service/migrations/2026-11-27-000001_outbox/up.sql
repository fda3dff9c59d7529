-- Transactional outbox: an event is written in the same transaction as the state change it
-- describes; the relay publishes unsent rows in id order and stamps sent_at.
CREATE TABLE outbox (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id     CHAR(36)        NOT NULL,
    topic        VARCHAR(255)    NOT NULL,
    aggregate_id VARCHAR(255)    NOT NULL,
    event_type   VARCHAR(255)    NOT NULL,
    -- The protobuf-encoded shop.events.v1.Envelope, published as the record value.
    envelope     BLOB            NOT NULL,
    -- W3C trace context of the request that caused the event, published as a header.
    traceparent  VARCHAR(64)     NULL,
    created_at   DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    sent_at      DATETIME(6)     NULL,
    UNIQUE KEY outbox_event_id (event_id),
    KEY outbox_unsent (sent_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
