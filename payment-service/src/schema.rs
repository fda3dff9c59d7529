//! diesel's view of the tables (migrations/ is the source of truth; `diesel print-schema`
//! regenerates this file).
diesel::table! {
    outbox (id) {
        id -> Unsigned<Bigint>,
        event_id -> Char,
        topic -> Varchar,
        aggregate_id -> Varchar,
        event_type -> Varchar,
        envelope -> Blob,
        traceparent -> Nullable<Varchar>,
        created_at -> Datetime,
        sent_at -> Nullable<Datetime>,
    }
}

diesel::table! {
    payments (id) {
        id -> Char,
        user_id -> Char,
        order_id -> Varchar,
        amount_minor -> Bigint,
        currency -> Char,
        refunded_minor -> Bigint,
        status -> Varchar,
        gateway -> Varchar,
        gateway_reference -> Nullable<Varchar>,
        payment_token -> Nullable<Varchar>,
        failure_code -> Nullable<Varchar>,
        failure_message -> Nullable<Varchar>,
        order_lines -> Longtext,
        next_attempt_at -> Nullable<Datetime>,
        attempts -> Integer,
        created_at -> Datetime,
        updated_at -> Datetime,
        /// A success the gateway reported after the payment was booked declined (refunded
        /// unless it became the order's sale).
        late_success -> Bool,
        /// Since when this paid order's sale is unconfirmed: the sweeper asks product about it
        /// once its grace has passed since then (NULL: sold, refunded, or never paid).
        sale_check_at -> Nullable<Datetime>,
        /// Generated: the order id while the payment is not declined and not a late success
        /// (unique: an order has one live charge, whoever pays).
        live_order_id -> Nullable<Varchar>,
        /// PayPal's approval page while a PayPal payment waits for the buyer.
        approval_url -> Nullable<Varchar>,
        /// The PayPal-Request-Id of the last capture sent (written before it is sent).
        capture_request_id -> Nullable<Varchar>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Char,
        payment_id -> Char,
        amount_minor -> Bigint,
        currency -> Char,
        reason -> Varchar,
        status -> Varchar,
        gateway_reference -> Nullable<Varchar>,
        failure_code -> Nullable<Varchar>,
        next_attempt_at -> Nullable<Datetime>,
        created_at -> Datetime,
        updated_at -> Datetime,
        /// `operator:<admin user id>` for a support refund; NULL for the owner's or the
        /// platform's own.
        #[max_length = 80]
        requested_by -> Nullable<Varchar>,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Char,
        idem_key -> Varchar,
        fingerprint -> Char,
        state -> Varchar,
        resource_id -> Char,
        locked_until -> Datetime,
        created_at -> Datetime,
        expires_at -> Datetime,
    }
}

diesel::table! {
    processed_webhooks (event_id) {
        event_id -> Varchar,
        received_at -> Datetime,
    }
}

diesel::table! {
    released_orders (order_id) {
        order_id -> Varchar,
        reason -> Varchar,
        released_at -> Datetime,
    }
}

diesel::table! {
    processed_events (event_id) {
        event_id -> Char,
        topic -> Varchar,
        processed_at -> Datetime,
    }
}

diesel::joinable!(refunds -> payments (payment_id));
diesel::allow_tables_to_appear_in_same_query!(
    outbox,
    payments,
    refunds,
    idempotency_keys,
    processed_webhooks,
    released_orders,
    processed_events
);
