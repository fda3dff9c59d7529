//! diesel's view of the tables (migrations/ is the source of truth; `diesel print-schema`
//! regenerates this file).
diesel::table! {
    categories (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    products (id) {
        id -> Uuid,
        sku -> Text,
        name -> Text,
        description -> Text,
        category_id -> Nullable<Uuid>,
        price_minor -> Int8,
        currency -> Text,
        attributes -> Jsonb,
        active -> Bool,
        on_hand -> Int8,
        reserved -> Int8,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reservations (id) {
        id -> Text,
        state -> Text,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reservation_lines (reservation_id, product_id) {
        reservation_id -> Text,
        product_id -> Uuid,
        quantity -> Int8,
        name -> Text,
        price_minor -> Int8,
        currency -> Text,
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

diesel::joinable!(products -> categories (category_id));
diesel::joinable!(reservation_lines -> reservations (reservation_id));
diesel::joinable!(reservation_lines -> products (product_id));
diesel::allow_tables_to_appear_in_same_query!(
    categories,
    products,
    reservations,
    reservation_lines,
    outbox,
    processed_events
);
