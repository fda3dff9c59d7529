CREATE TABLE users (
    id            UUID        PRIMARY KEY,
    -- Trimmed, domain lower-cased; uniqueness ignores case (users_email_key).
    email         TEXT        NOT NULL,
    -- argon2id PHC string: parameters travel with the hash, so they can be raised later.
    password_hash TEXT        NOT NULL,
    roles         TEXT[]      NOT NULL DEFAULT ARRAY['customer'],
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- One login session: every refresh token descends from the login that opened the family.
-- Access tokens carry the family id as `sid`, so revoking the family revokes them too for
-- every check that asks (introspection, VerifyToken, /me).
CREATE TABLE token_families (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT
);
CREATE INDEX token_families_user ON token_families (user_id);

CREATE TABLE refresh_tokens (
    id          UUID        PRIMARY KEY,
    family_id   UUID        NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    -- SHA-256 of the opaque 256-bit token; the token itself is never stored.
    token_hash  BYTEA       NOT NULL UNIQUE,
    issued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    -- Set when the token was exchanged for a new pair: presenting it again is reuse.
    spent_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Failed logins per e-mail (known or not, so the throttle reveals nothing), shared by every
-- replica.
CREATE TABLE login_throttle (
    email_key       TEXT        PRIMARY KEY,
    failures        INTEGER     NOT NULL,
    last_failure_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ
);

-- Order history, projected from payment events.
CREATE TABLE orders (
    payment_id     TEXT        PRIMARY KEY,
    user_id        UUID        NOT NULL,
    order_id       TEXT        NOT NULL,
    amount_minor   BIGINT      NOT NULL,
    currency       TEXT        NOT NULL,
    refunded_minor BIGINT      NOT NULL DEFAULT 0,
    lines          JSONB       NOT NULL,
    paid_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_user_paid ON orders (user_id, paid_at DESC);
