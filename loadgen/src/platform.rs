//! The running platform as a client sees it: where each service answers, and the fixtures a
//! benchmark needs (an admin, a well-stocked product, signed-in shoppers).
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::{path::PathBuf, process::Stdio};
use tokio::io::AsyncWriteExt;

pub const PASSWORD: &str = "correct horse battery staple";
/// The product's stock: enough that no benchmark run ever sells it out.
const STOCK: i64 = 1_000_000_000;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Addresses of `make run` (infra/local/services.sh), each overridable.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub auth: String,
    pub product: String,
    pub cart: String,
    pub payment: String,
    /// payment's gRPC port, called with cart's workload certificate (`tls_dir`) as cart calls
    /// it: payment serves Charge to cart-service only.
    pub payment_grpc: String,
    pub tls_dir: PathBuf,
    /// auth-service's binary, for its `create-admin` command.
    pub auth_bin: PathBuf,
    /// Where services.sh keeps `<service>.pid`.
    pub pid_dir: PathBuf,
    /// `LOADGEN_RESEND_CUT_WRITES=1` (make chaos --replicated): writes carry an Idempotency-Key
    /// and are sent once more when their answer was lost, as a careful client does (scenarios.rs).
    pub resend_cut_writes: bool,
    /// Where each service says it is ready: `<base>/readyz`, or `LOADGEN_READY_URLS`
    /// (comma-separated) when the bases are a proxy's entry, which serves no `/readyz`.
    pub ready_urls: Vec<String>,
}

impl Endpoints {
    pub fn from_env() -> Self {
        let target = env("CARGO_TARGET_DIR", "../target");
        let mut at = Endpoints {
            auth: env("LOADGEN_AUTH_URL", "http://127.0.0.1:8081"),
            product: env("LOADGEN_PRODUCT_URL", "http://127.0.0.1:8082"),
            cart: env("LOADGEN_CART_URL", "http://127.0.0.1:8083"),
            payment: env("LOADGEN_PAYMENT_URL", "http://127.0.0.1:8084"),
            payment_grpc: env("LOADGEN_PAYMENT_GRPC", "https://127.0.0.1:50054"),
            tls_dir: PathBuf::from(env("LOADGEN_TLS_DIR", "../.local/pki/cart-service")),
            auth_bin: PathBuf::from(env("LOADGEN_AUTH_BIN", &format!("{target}/release/auth-service"))),
            pid_dir: PathBuf::from(env("LOADGEN_PID_DIR", "../.local/run")),
            resend_cut_writes: env("LOADGEN_RESEND_CUT_WRITES", "0") == "1",
            ready_urls: Vec::new(),
        };
        at.ready_urls = match std::env::var("LOADGEN_READY_URLS") {
            Ok(list) => list.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect(),
            Err(_) => at.services().iter().map(|(_, base)| format!("{base}/readyz")).collect(),
        };
        at
    }

    /// `(service, REST base URL)` for the four services.
    pub fn services(&self) -> [(&'static str, &str); 4] {
        [
            ("auth-service", &self.auth),
            ("product-service", &self.product),
            ("cart-service", &self.cart),
            ("payment-service", &self.payment),
        ]
    }
}

/// One HTTP client for the whole run: pooled keep-alive connections, as a shopper's browser
/// or a gateway in front of the services would hold.
pub fn http_client() -> Result<reqwest::Client> {
    // A call that hangs is an error after 10 s, not a worker lost for the rest of the run.
    let client = reqwest::Client::builder().pool_max_idle_per_host(512).timeout(std::time::Duration::from_secs(10));
    Ok(client.build()?)
}

/// `Ok(1)` for the expected status, otherwise the status (or transport error) as the reason.
pub fn expect_status(response: reqwest::Result<reqwest::Response>, expected: u16) -> Result<u32, String> {
    match response {
        Ok(r) if r.status().as_u16() == expected => Ok(1),
        // A 503 promises the client when to come back.
        Ok(r) if r.status().as_u16() == 503 && !r.headers().contains_key("retry-after") => {
            Err("status 503 without Retry-After".to_owned())
        }
        Ok(r) => Err(format!("status {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Err("timeout".to_owned()),
        Err(e) if e.is_connect() => Err("connection refused".to_owned()),
        Err(_) => Err("transport error".to_owned()),
    }
}

pub struct Shopper {
    pub email: String,
    pub token: String,
}

pub struct Fixtures {
    pub product_ids: Vec<String>,
    pub shoppers: Vec<Shopper>,
}

async fn json_of(request: reqwest::RequestBuilder, expected: u16, what: &str) -> Result<Value> {
    let response = request.send().await.with_context(|| format!("{what}: is the platform running (`make run`)?"))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != expected {
        bail!("{what}: status {status}, {body}");
    }
    Ok(body)
}

pub async fn sign_up(client: &reqwest::Client, at: &Endpoints, email: &str) -> Result<()> {
    let request =
        client.post(format!("{}/v1/auth/signup", at.auth)).json(&json!({ "email": email, "password": PASSWORD }));
    json_of(request, 201, "signup").await.map(drop)
}

pub async fn log_in(client: &reqwest::Client, at: &Endpoints, email: &str) -> Result<String> {
    let request =
        client.post(format!("{}/v1/auth/login", at.auth)).json(&json!({ "email": email, "password": PASSWORD }));
    let body = json_of(request, 200, "login").await?;
    body["access_token"].as_str().map(str::to_owned).context("login answered no access_token")
}

/// An admin made with auth-service's own command (the only way to get the admin role).
async fn admin_token(client: &reqwest::Client, at: &Endpoints, run: &str) -> Result<String> {
    let email = format!("bench-admin-{run}@example.com");
    let mut child = tokio::process::Command::new(&at.auth_bin)
        .args(["create-admin", &email])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("{}: build the platform with `make bench`", at.auth_bin.display()))?;
    // Written and dropped before waiting: create-admin reads the password to end of input.
    child.stdin.take().context("create-admin's stdin")?.write_all(PASSWORD.as_bytes()).await?;
    if !child.wait().await?.success() {
        bail!("auth-service create-admin failed");
    }
    log_in(client, at, &email).await
}

impl Fixtures {
    /// `products` well-stocked products and `shoppers` signed-in users, named after this run.
    pub async fn create(client: &reqwest::Client, at: &Endpoints, products: usize, shoppers: usize) -> Result<Self> {
        let run = uuid::Uuid::now_v7().simple().to_string();
        let admin = admin_token(client, at, &run).await?;
        let mut product_ids = Vec::with_capacity(products);
        for n in 0..products {
            let request = client.post(format!("{}/v1/products", at.product)).bearer_auth(&admin).json(&json!({
                "sku": format!("BENCH-{run}-{n}"), "name": format!("Bench mug {n}"),
                "price": { "amount_minor": 1250, "currency": "EUR" }, "stock": STOCK,
            }));
            let created = json_of(request, 201, "create product").await?;
            product_ids.push(created["id"].as_str().context("created product has no id")?.to_owned());
        }
        let mut all = Vec::with_capacity(shoppers);
        for n in 0..shoppers {
            let email = format!("bench-{run}-{n}@example.com");
            sign_up(client, at, &email).await?;
            let token = log_in(client, at, &email).await?;
            all.push(Shopper { email, token });
        }
        Ok(Fixtures { product_ids, shoppers: all })
    }
}
