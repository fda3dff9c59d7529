//! The public catalogue REST API against real PostgreSQL.
use crate::helpers::spawn_app;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use product_service::store::products::{insert, NewProduct};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;

struct Spec<'a> {
    name: &'a str,
    price_minor: i64,
    on_hand: i64,
    category: Option<Uuid>,
    attributes: Value,
}

async fn add(conn: &mut AsyncPgConnection, spec: Spec<'_>) -> Uuid {
    let id = Uuid::now_v7();
    let sku = format!("SKU-{}", id.simple());
    let product = NewProduct {
        id,
        sku: &sku,
        name: spec.name,
        description: "",
        category_id: spec.category,
        price_minor: spec.price_minor,
        currency: "EUR",
        attributes: spec.attributes,
        on_hand: spec.on_hand,
    };
    insert(conn, product).await.unwrap();
    id
}

fn plain(name: &str, price_minor: i64) -> Spec<'_> {
    Spec { name, price_minor, on_hand: 5, category: None, attributes: json!({}) }
}

async fn list(app: &crate::helpers::TestApp, query: &str) -> (u16, Value) {
    let response = app.get(&format!("/v1/products?{query}")).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn paging_walks_a_thousand_products_without_duplicates_or_gaps_during_inserts() {
    let app = spawn_app().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    let mut originals = HashSet::new();
    for n in 0..1000 {
        originals.insert(add(&mut conn, plain(&format!("Product {n}"), 100 + n)).await.to_string());
    }
    // Another writer keeps inserting while the client pages.
    let url = app.database_url.clone();
    let writer = tokio::spawn(async move {
        let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
        for n in 0..200 {
            add(&mut conn, plain(&format!("Late {n}"), 50)).await;
        }
    });

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let query = match &token {
            Some(t) => format!("page_size=100&page_token={t}"),
            None => "page_size=100".to_owned(),
        };
        let (status, page) = list(&app, &query).await;
        assert_eq!(status, 200, "{page}");
        let products = page["products"].as_array().unwrap();
        assert!(products.len() <= 100);
        seen.extend(products.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    writer.await.unwrap();
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a product was listed twice");
    assert!(originals.is_subset(&unique), "{} products were skipped", originals.difference(&unique).count());
}

#[tokio::test]
async fn listing_filters_by_category_text_price_stock_and_attributes() {
    let app = spawn_app().await;
    let mut conn = AsyncPgConnection::establish(&app.database_url).await.unwrap();
    let kitchen = Uuid::now_v7();
    diesel::sql_query(format!("INSERT INTO categories (id, slug, name) VALUES ('{kitchen}', 'kitchen', 'Kitchen')"))
        .execute(&mut conn)
        .await
        .unwrap();
    let blue_mug = add(
        &mut conn,
        Spec {
            name: "Blue Mug",
            price_minor: 900,
            on_hand: 3,
            category: Some(kitchen),
            attributes: json!({ "colour": "blue" }),
        },
    )
    .await;
    let red_mug = add(
        &mut conn,
        Spec {
            name: "Red mug",
            price_minor: 1_500,
            on_hand: 0,
            category: Some(kitchen),
            attributes: json!({ "colour": "red" }),
        },
    )
    .await;
    let lamp = add(&mut conn, plain("Desk lamp", 4_000)).await;
    let ids = |page: &Value| -> HashSet<String> {
        page["products"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
    };
    let set = |items: &[Uuid]| -> HashSet<String> { items.iter().map(Uuid::to_string).collect() };

    assert_eq!(ids(&list(&app, &format!("category={kitchen}")).await.1), set(&[blue_mug, red_mug]));
    assert_eq!(ids(&list(&app, "q=MUG").await.1), set(&[blue_mug, red_mug]));
    assert_eq!(ids(&list(&app, "min_price=1000&max_price=5000").await.1), set(&[red_mug, lamp]));
    assert_eq!(ids(&list(&app, "in_stock=true").await.1), set(&[blue_mug, lamp]));
    assert_eq!(ids(&list(&app, "attr.colour=red").await.1), set(&[red_mug]));
    assert_eq!(ids(&list(&app, "q=%25").await.1), set(&[]), "a % in the query is literal");

    let (_, categories) = (200, app.get("/v1/categories").await.json::<Value>().await.unwrap());
    assert_eq!(categories["categories"][0]["slug"], "kitchen");
    let (_, page) = list(&app, "q=blue").await;
    assert_eq!(page["products"][0]["price"], json!({ "amount_minor": 900, "currency": "EUR" }));
    assert_eq!(page["products"][0]["available"], 3);
}

#[tokio::test]
async fn a_product_carries_an_etag_and_answers_304_when_unchanged() {
    let app = spawn_app().await;
    let id = app.add_product(5, 100).await;
    let response = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let cached =
        app.client.get(format!("{}/v1/products/{id}", app.address)).header("If-None-Match", &etag).send().await;
    assert_eq!(cached.unwrap().status(), 304);
    let stale =
        app.client.get(format!("{}/v1/products/{id}", app.address)).header("If-None-Match", "\"0\"").send().await;
    assert_eq!(stale.unwrap().status(), 200);
    assert_eq!(app.get(&format!("/v1/products/{}", Uuid::now_v7())).await.status(), 404);
}

#[tokio::test]
async fn bad_listing_input_is_400_with_a_code() {
    let app = spawn_app().await;
    for query in [
        "page_size=0",
        "page_size=1000",
        "page_size=ten",
        "page_token=garbage",
        "category=42",
        "min_price=-1",
        "min_price=500&max_price=100",
        "in_stock=maybe",
        "colour=red",
        // PostgreSQL refuses NUL in text and JSONB: the caller's mistake, not a failed query.
        "q=a%00b",
        "attr.colour=a%00b",
    ] {
        let (status, body) = list(&app, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{query}");
    }
    let response = app.get("/v1/products/not-a-uuid").await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_request");
}
