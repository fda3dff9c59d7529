//! One operation per scenario: the single-endpoint calls `make bench` measures, each a
//! closure the driver runs under load.
use crate::{
    driver::Outcome,
    platform::{expect_status, Endpoints, Fixtures, PASSWORD},
    proto::shop::{
        common::v1::Money,
        payment::v1::{
            payment_service_client::PaymentServiceClient, ChargeRequest, OrderLine, PaymentMethod, PaymentStatus,
        },
    },
};
use serde_json::json;
use std::{future::Future, pin::Pin, sync::Arc};
use tonic::transport::Channel;

pub type Call = Pin<Box<dyn Future<Output = Outcome> + Send>>;
/// `op(worker, n)`: the call worker `worker` makes the `n`th time.
pub type Op = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;

/// Everything an operation needs, shared by all workers.
pub struct Shared {
    pub client: reqwest::Client,
    pub at: Endpoints,
    pub fixtures: Fixtures,
    pub payments: PaymentServiceClient<Channel>,
}

impl Shared {
    pub fn token(&self, worker: usize) -> &str {
        &self.fixtures.shoppers[worker % self.fixtures.shoppers.len()].token
    }

    pub fn product(&self, n: u64) -> &str {
        &self.fixtures.product_ids[n as usize % self.fixtures.product_ids.len()]
    }
}

pub fn healthz(shared: &Arc<Shared>, base: &str) -> Op {
    let (shared, url) = (shared.clone(), format!("{base}/healthz"));
    Arc::new(move |_, _| {
        let (shared, url) = (shared.clone(), url.clone());
        Box::pin(async move { expect_status(shared.client.get(&url).send().await, 200) })
    })
}

/// A GET that answers 200, to a URL made for each call.
fn get(shared: &Arc<Shared>, url: fn(&Shared, u64) -> String) -> Op {
    let shared = shared.clone();
    Arc::new(move |_, n| {
        let shared = shared.clone();
        Box::pin(async move { expect_status(shared.client.get(url(&shared, n)).send().await, 200) })
    })
}

pub fn get_product(shared: &Arc<Shared>) -> Op {
    get(shared, |s, n| format!("{}/v1/products/{}", s.at.product, s.product(n)))
}

/// The catalogue's first page (home page): active products, 20 to a page.
pub fn list_products(shared: &Arc<Shared>) -> Op {
    get(shared, |s, _| format!("{}/v1/products?page_size=20", s.at.product))
}

pub fn view_cart(shared: &Arc<Shared>) -> Op {
    let shared = shared.clone();
    Arc::new(move |worker, _| {
        let shared = shared.clone();
        Box::pin(async move {
            let request = shared.client.get(format!("{}/v1/cart", shared.at.cart)).bearer_auth(shared.token(worker));
            expect_status(request.send().await, 200)
        })
    })
}

/// One unit of a product. A line holds at most 99 units, so every 90th call of a worker first
/// empties its cart (one more request, counted).
pub fn add_to_cart(shared: &Arc<Shared>) -> Op {
    let shared = shared.clone();
    Arc::new(move |worker, n| {
        let shared = shared.clone();
        Box::pin(async move {
            let mut requests = 0;
            if n % 90 == 0 {
                let clear =
                    shared.client.delete(format!("{}/v1/cart", shared.at.cart)).bearer_auth(shared.token(worker));
                requests += expect_status(clear.send().await, 204)?;
            }
            Ok(requests + add_item(&shared, worker, shared.product(0)).await?)
        })
    })
}

pub async fn add_item(shared: &Shared, worker: usize, product_id: &str) -> Outcome {
    let url = format!("{}/v1/cart/items", shared.at.cart);
    let body = json!({ "product_id": product_id, "quantity": 1 });
    write(shared, || shared.client.post(&url).bearer_auth(shared.token(worker)).json(&body), 200).await
}

/// Sends a write. With `resend_cut_writes` it goes as a careful client sends it: with an
/// Idempotency-Key, once more (same key) when the answer was lost (a transport error or a 5xx: the
/// replica died on it), and asked about again after Retry-After while the API says a checkout
/// is in progress (409). Without it, one request, as `make bench` measures.
async fn write(shared: &Shared, request: impl Fn() -> reqwest::RequestBuilder, expected: u16) -> Outcome {
    if !shared.at.resend_cut_writes {
        return expect_status(request().send().await, expected);
    }
    let key = uuid::Uuid::now_v7().to_string();
    let send = || request().header("Idempotency-Key", &key).send();
    let mut response = send().await;
    let mut requests = 1;
    if response.as_ref().map_or(true, |r| r.status().is_server_error()) {
        response = send().await;
        requests += 1;
    }
    for _ in 0..40 {
        let wait = match &response {
            Ok(r) if r.status().as_u16() == 409 => r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            _ => None,
        };
        let Some(seconds) = wait.and_then(|w| w.parse::<u64>().ok()) else { break };
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        response = send().await;
        requests += 1;
    }
    expect_status(response, expected).map(|_| requests)
}

/// Online Boutique's checkout task: put an item in the cart, then check out (two requests).
pub fn checkout(shared: &Arc<Shared>) -> Op {
    let shared = shared.clone();
    Arc::new(move |worker, n| {
        let shared = shared.clone();
        Box::pin(async move { checkout_call(&shared, worker, n).await })
    })
}

pub async fn checkout_call(shared: &Shared, worker: usize, n: u64) -> Outcome {
    // Offset by the worker: `n` counts each worker's own calls, so workers in step would all
    // reserve the same product's row at once, a contention no shop's traffic has.
    let added = add_item(shared, worker, shared.product(n + worker as u64)).await?;
    let url = format!("{}/v1/cart/checkout", shared.at.cart);
    let body = json!({ "payment_token": "tok_visa" });
    if shared.at.resend_cut_writes {
        // write() sends the key, the same one each time.
        let checkout = || shared.client.post(&url).bearer_auth(shared.token(worker)).json(&body);
        return Ok(added + write(shared, checkout, 201).await?);
    }
    let request = shared
        .client
        .post(&url)
        .bearer_auth(shared.token(worker))
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&body);
    Ok(added + expect_status(request.send().await, 201)?)
}

pub fn login(shared: &Arc<Shared>) -> Op {
    let shared = shared.clone();
    Arc::new(move |worker, _| {
        let shared = shared.clone();
        Box::pin(async move {
            let email = &shared.fixtures.shoppers[worker % shared.fixtures.shoppers.len()].email;
            let request = shared.client.post(format!("{}/v1/auth/login", shared.at.auth));
            expect_status(request.json(&json!({ "email": email, "password": PASSWORD })).send().await, 200)
        })
    })
}

/// `Charge` over gRPC with the sandbox gateway, a new idempotency key each call.
pub fn charge(shared: &Arc<Shared>) -> Op {
    let shared = shared.clone();
    Arc::new(move |worker, _| {
        let shared = shared.clone();
        Box::pin(async move {
            let key = uuid::Uuid::now_v7().to_string();
            let money = |amount_minor| Some(Money { amount_minor, currency: "EUR".to_owned() });
            let mut request = tonic::Request::new(ChargeRequest {
                order_id: key.clone(),
                idempotency_key: key,
                amount: money(2500),
                payment_token: "tok_visa".to_owned(),
                payment_method: PaymentMethod::Card as i32,
                lines: vec![OrderLine {
                    // A product no cart holds: the PaymentSucceeded consumers act on these
                    // payments too (cart takes paid lines out of the payer's cart), and must
                    // not empty the carts the journey fills with the same shoppers.
                    product_id: uuid::Uuid::now_v7().to_string(),
                    name: "Bench mug".to_owned(),
                    quantity: 2,
                    unit_price: money(1250),
                }],
            });
            let bearer =
                format!("Bearer {}", shared.token(worker)).parse().map_err(|_| "token is not ASCII".to_owned())?;
            request.metadata_mut().insert("authorization", bearer);
            match shared.payments.clone().charge(request).await {
                Ok(answer) => match answer.into_inner().payment.map(|p| p.status()) {
                    Some(PaymentStatus::Succeeded) => Ok(1),
                    other => Err(format!("payment {other:?}")),
                },
                Err(status) => Err(format!("gRPC {:?}", status.code())),
            }
        })
    })
}
