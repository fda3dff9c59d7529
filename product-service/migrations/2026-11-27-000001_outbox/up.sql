-- Transactional outbox: an event is written in the same transaction as the state change it
-- describes; the relay publishes unsent rows in id order and stamps sent_at.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_id     UUID        NOT NULL UNIQUE,
    topic        TEXT        NOT NULL,
    aggregate_id TEXT        NOT NULL,
    event_type   TEXT        NOT NULL,
    -- The protobuf-encoded shop.events.v1.Envelope, published as the record value.
    envelope     BYTEA       NOT NULL,
    -- W3C trace context of the request that caused the event, published as a header.
    traceparent  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at      TIMESTAMPTZ
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- Consumed events, recorded in the same transaction as their effect so that a redelivery
-- changes nothing.
CREATE TABLE processed_events (
    event_id     UUID        PRIMARY KEY,
    topic        TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
