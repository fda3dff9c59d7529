CREATE TABLE categories (
    id         UUID        PRIMARY KEY,
    slug       TEXT        NOT NULL UNIQUE,
    name       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id          UUID        PRIMARY KEY,
    sku         TEXT        NOT NULL UNIQUE,
    name        TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    category_id UUID        REFERENCES categories (id),
    -- Money is integer minor units plus an ISO 4217 code.
    price_minor BIGINT      NOT NULL CHECK (price_minor >= 0),
    currency    TEXT        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Free-form attributes (colour, size, ...): the document-store role.
    attributes  JSONB       NOT NULL DEFAULT '{}'::jsonb,
    active      BOOLEAN     NOT NULL DEFAULT true,
    on_hand     BIGINT      NOT NULL CHECK (on_hand >= 0),
    -- Held by reservations not yet committed. The constraint makes overselling impossible
    -- whatever the code does: available = on_hand - reserved never goes below zero.
    reserved    BIGINT      NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    -- Incremented on every change: ETags, optimistic concurrency, stale-event detection.
    version     BIGINT      NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX products_category ON products (category_id, id);
CREATE INDEX products_attributes ON products USING GIN (attributes jsonb_path_ops);

-- A reservation is keyed by the caller's id (the checkout id), which makes every call on it
-- idempotent.
CREATE TABLE reservations (
    id         TEXT        PRIMARY KEY,
    state      TEXT        NOT NULL CHECK (state IN ('reserved', 'committed', 'released', 'expired')),
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE state = 'reserved';

CREATE TABLE reservation_lines (
    reservation_id TEXT   NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    product_id     UUID   NOT NULL REFERENCES products (id),
    quantity       BIGINT NOT NULL CHECK (quantity > 0),
    -- The price at reservation time: what the checkout charges.
    name           TEXT   NOT NULL,
    price_minor    BIGINT NOT NULL,
    currency       TEXT   NOT NULL,
    PRIMARY KEY (reservation_id, product_id)
);
