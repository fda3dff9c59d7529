//! diesel's view of the tables (migrations/ is the source of truth; `diesel print-schema`
//! regenerates this file).
diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        roles -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    token_families (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        family_id -> Uuid,
        token_hash -> Bytea,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_throttle (throttle_key) {
        throttle_key -> Text,
        failures -> Int4,
        last_failure_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    orders (payment_id) {
        payment_id -> Text,
        user_id -> Uuid,
        order_id -> Text,
        amount_minor -> Int8,
        currency -> Text,
        refunded_minor -> Int8,
        lines -> Jsonb,
        paid_at -> Timestamptz,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        event_id -> Uuid,
        topic -> Text,
        aggregate_id -> Text,
        event_type -> Text,
        envelope -> Bytea,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    processed_events (event_id) {
        event_id -> Uuid,
        topic -> Text,
        processed_at -> Timestamptz,
    }
}

diesel::joinable!(token_families -> users (user_id));
diesel::joinable!(refresh_tokens -> token_families (family_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    token_families,
    refresh_tokens,
    login_throttle,
    orders,
    outbox,
    processed_events
);
