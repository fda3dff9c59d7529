//! A local stand-in for PayPal's REST API (the outside world, the one thing tests may fake):
//! OAuth2 client credentials with tokens that end or can be revoked, Orders v2 with
//! `PayPal-Request-Id` idempotency (a repeated id gets the first response and creates nothing),
//! approval by the buyer (a test step), captures that can be declined, refunds of a capture,
//! look-ups, and the webhook signature check. It can lose its answers (the work is done, the
//! answer arrives as a 503) and counts what was really created.
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use serde_json::{json, Value};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret-do-not-log";
pub const WEBHOOK_ID: &str = "WH-TEST";
/// The one transmission signature the stand-in's verification call accepts.
pub const GOOD_SIGNATURE: &str = "signed-by-paypal";

#[derive(Clone, Default)]
struct State {
    /// Live tokens; `revoke_tokens` empties it.
    tokens: Arc<Mutex<HashSet<String>>>,
    token_requests: Arc<AtomicUsize>,
    /// `expires_in` of new tokens, in seconds (PayPal's are about 9 hours).
    token_lifetime: Arc<AtomicU64>,
    /// Request id → the first response.
    answers: Arc<Mutex<HashMap<String, (u16, Value)>>>,
    orders: Arc<Mutex<HashMap<String, Value>>>,
    refunds: Arc<Mutex<HashMap<String, Value>>>,
    created_orders: Arc<AtomicUsize>,
    captures: Arc<AtomicUsize>,
    created_refunds: Arc<AtomicUsize>,
    /// Orders are refused with this issue (422).
    refuse_orders: Arc<Mutex<Option<String>>>,
    /// Each created order's (currency, value), in order.
    amounts: Arc<Mutex<Vec<(String, String)>>>,
    /// Captures are declined (the buyer's funding source fails).
    decline_captures: Arc<AtomicBool>,
    /// Captures are made but denied (201 with a capture `DECLINED`): final.
    deny_captures: Arc<AtomicBool>,
    /// Look-ups show captured orders as still `APPROVED`, without their capture (PayPal still
    /// processing the capture).
    hide_captures: Arc<AtomicBool>,
    /// Captures are made but held by PayPal (201 with a capture `PENDING`).
    hold_captures: Arc<AtomicBool>,
    /// This many next answers to creating calls are lost: the work is done and kept, the
    /// caller gets a 503.
    lose_answers: Arc<AtomicUsize>,
    /// Every authorised request, as `METHOD /path`.
    log: Arc<Mutex<Vec<String>>>,
    /// The `webhook_event` of the last signature check, as its bytes arrived.
    last_checked_event: Arc<Mutex<String>>,
    next_id: Arc<AtomicUsize>,
}

#[derive(Clone)]
pub struct PayPalMock {
    pub base_url: String,
    state: State,
}

impl PayPalMock {
    pub fn start() -> Self {
        let state = State::default();
        state.token_lifetime.store(32_400, Ordering::SeqCst);
        let shared = state.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .route("/v1/oauth2/token", web::post().to(token))
                .route("/v2/checkout/orders", web::post().to(create_order))
                .route("/v2/checkout/orders/{id}", web::get().to(get_order))
                .route("/v2/checkout/orders/{id}/capture", web::post().to(capture))
                .route("/v2/payments/captures/{id}/refund", web::post().to(refund))
                .route("/v2/payments/refunds/{id}", web::get().to(get_refund))
                .route("/v1/notifications/verify-webhook-signature", web::post().to(verify))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { base_url, state }
    }

    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// New tokens last `seconds`.
    pub fn token_lifetime(&self, seconds: u64) {
        self.state.token_lifetime.store(seconds, Ordering::SeqCst);
    }

    /// Every token issued so far is refused from now on (401), as after a revocation.
    pub fn revoke_tokens(&self) {
        self.state.tokens.lock().unwrap().clear();
    }

    pub fn orders_created(&self) -> usize {
        self.state.created_orders.load(Ordering::SeqCst)
    }

    pub fn captures(&self) -> usize {
        self.state.captures.load(Ordering::SeqCst)
    }

    pub fn refunds_created(&self) -> usize {
        self.state.created_refunds.load(Ordering::SeqCst)
    }

    /// The buyer approves the order on PayPal's page.
    pub fn approve(&self, order_id: &str) {
        let mut orders = self.state.orders.lock().unwrap();
        let order = orders.get_mut(order_id).expect("an order the stand-in created");
        order["status"] = json!("APPROVED");
    }

    /// New orders are refused with `issue`.
    pub fn refuse_orders(&self, issue: &str) {
        *self.state.refuse_orders.lock().unwrap() = Some(issue.to_owned());
    }

    /// (currency, value) of every order created.
    pub fn created_amounts(&self) -> Vec<(String, String)> {
        self.state.amounts.lock().unwrap().clone()
    }

    /// Look-ups show a captured order as approved and uncaptured, as while PayPal processes it.
    pub fn hide_captures(&self, hide: bool) {
        self.state.hide_captures.store(hide, Ordering::SeqCst);
    }

    /// Captures come back `PENDING`: PayPal holds them (a review) until `complete_held_captures`.
    pub fn hold_captures(&self, hold: bool) {
        self.state.hold_captures.store(hold, Ordering::SeqCst);
    }

    /// Every held capture completes.
    pub fn complete_held_captures(&self) {
        for order in self.state.orders.lock().unwrap().values_mut() {
            if order["purchase_units"][0]["payments"]["captures"][0]["status"] == "PENDING" {
                order["purchase_units"][0]["payments"]["captures"][0]["status"] = json!("COMPLETED");
            }
        }
    }

    /// PayPal no longer has the order (it lapsed uncaptured and is gone): look-ups answer 404.
    pub fn forget_order(&self, order_id: &str) {
        self.state.orders.lock().unwrap().remove(order_id);
    }

    /// Captures come back `DECLINED`: PayPal's final no.
    pub fn deny_captures(&self, deny: bool) {
        self.state.deny_captures.store(deny, Ordering::SeqCst);
    }

    pub fn decline_captures(&self, decline: bool) {
        self.state.decline_captures.store(decline, Ordering::SeqCst);
    }

    /// The next `n` creating calls do their work but their answers are lost (503).
    pub fn lose_answers(&self, n: usize) {
        self.state.lose_answers.store(n, Ordering::SeqCst);
    }

    /// The event the last signature check was asked about, exactly as sent.
    pub fn last_checked_event(&self) -> String {
        self.state.last_checked_event.lock().unwrap().clone()
    }

    /// Authorised requests received (`METHOD /path`) that `which` picks.
    pub fn calls(&self, which: impl Fn(&str) -> bool) -> usize {
        self.state.log.lock().unwrap().iter().filter(|call| which(call)).count()
    }
}

fn error(status: u16, name: &str, issue: &str) -> (u16, Value) {
    (
        status,
        json!({"name": name, "message": issue, "details": [{"issue": issue, "description": format!("{issue} (stand-in)")}]}),
    )
}

fn reply((status, body): (u16, Value)) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

/// The bearer token is live, else the 401 PayPal answers.
fn authorised(state: &State, request: &HttpRequest) -> Result<(), Box<HttpResponse>> {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if state.tokens.lock().unwrap().contains(&bearer) {
        state.log.lock().unwrap().push(format!("{} {}", request.method(), request.path()));
        Ok(())
    } else {
        Err(Box::new(
            HttpResponse::Unauthorized()
                .json(json!({"error": "invalid_token", "error_description": "Token signature verification failed"})),
        ))
    }
}

fn id(state: &State, prefix: &str) -> String {
    format!("{prefix}-{:06}", state.next_id.fetch_add(1, Ordering::SeqCst))
}

/// PayPal's request-id rule: a repeat gets the first response; `work` runs once. A lost answer
/// is lost after the work was kept.
fn once(state: &State, request: &HttpRequest, scope: &str, work: impl FnOnce() -> (u16, Value)) -> HttpResponse {
    let key = request.headers().get("paypal-request-id").and_then(|v| v.to_str().ok()).map(|k| format!("{scope}:{k}"));
    if let Some(first) = key.as_ref().and_then(|k| state.answers.lock().unwrap().get(k).cloned()) {
        return reply(first);
    }
    let answer = work();
    if let Some(key) = key {
        state.answers.lock().unwrap().insert(key, answer.clone());
    }
    let lose = state.lose_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if lose {
        return HttpResponse::ServiceUnavailable().json(json!({"name": "SERVICE_UNAVAILABLE"}));
    }
    reply(answer)
}

async fn token(
    state: web::Data<State>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let basic =
        request.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
    if basic != Some(expected.as_str()) || form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return HttpResponse::Unauthorized()
            .json(json!({"error": "invalid_client", "error_description": "Client Authentication failed"}));
    }
    let token = format!("A21AA{}", uuid::Uuid::now_v7().simple());
    state.tokens.lock().unwrap().insert(token.clone());
    HttpResponse::Ok().json(json!({
        "scope": "https://uri.paypal.com/services/payments/payment",
        "access_token": token,
        "token_type": "Bearer",
        "app_id": "APP-TEST",
        "expires_in": state.token_lifetime.load(Ordering::SeqCst),
    }))
}

async fn create_order(state: web::Data<State>, request: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    if let Err(refused) = authorised(&state, &request) {
        return *refused;
    }
    once(&state, &request, "order", || {
        let amount = &body["purchase_units"][0]["amount"];
        if let Some(issue) = state.refuse_orders.lock().unwrap().clone() {
            return error(422, "UNPROCESSABLE_ENTITY", &issue);
        }
        let (currency, value) =
            (amount["currency_code"].as_str().unwrap_or_default(), amount["value"].as_str().unwrap_or_default());
        // PayPal's rule: no decimals for these; two at most for the others.
        let decimals = value.split_once('.').map_or(0, |(_, fraction)| fraction.len());
        if (["HUF", "JPY", "TWD"].contains(&currency) && decimals > 0) || decimals > 2 {
            return error(422, "UNPROCESSABLE_ENTITY", "DECIMAL_PRECISION");
        }
        state.amounts.lock().unwrap().push((currency.to_owned(), value.to_owned()));
        let order_id = id(&state, "ORDER");
        let order = json!({
            "id": order_id,
            "status": "PAYER_ACTION_REQUIRED",
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": body["purchase_units"][0]["reference_id"],
                "custom_id": body["purchase_units"][0]["custom_id"],
                "amount": amount,
            }],
            "links": [
                {"href": format!("https://www.sandbox.paypal.com/checkoutnow?token={order_id}"), "rel": "payer-action", "method": "GET"},
                {"href": format!("/v2/checkout/orders/{order_id}"), "rel": "self", "method": "GET"},
            ],
        });
        state.orders.lock().unwrap().insert(order_id, order.clone());
        state.created_orders.fetch_add(1, Ordering::SeqCst);
        (200, order)
    })
}

async fn get_order(state: web::Data<State>, request: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Err(refused) = authorised(&state, &request) {
        return *refused;
    }
    match state.orders.lock().unwrap().get(path.as_str()) {
        Some(order) if state.hide_captures.load(Ordering::SeqCst) && order["status"] == "COMPLETED" => {
            let mut processing = order.clone();
            processing["status"] = json!("APPROVED");
            processing["purchase_units"][0].as_object_mut().map(|unit| unit.remove("payments"));
            HttpResponse::Ok().json(processing)
        }
        Some(order) => HttpResponse::Ok().json(order),
        None => reply(error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")),
    }
}

async fn capture(state: web::Data<State>, request: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Err(refused) = authorised(&state, &request) {
        return *refused;
    }
    let order_id = path.into_inner();
    once(&state, &request, "capture", || {
        let mut orders = state.orders.lock().unwrap();
        let Some(order) = orders.get_mut(&order_id) else {
            return error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID");
        };
        match order["status"].as_str() {
            Some("APPROVED") => {}
            Some("COMPLETED") => return error(422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED"),
            _ => return error(422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED"),
        }
        if state.decline_captures.load(Ordering::SeqCst) {
            return error(422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED");
        }
        let denied = state.deny_captures.load(Ordering::SeqCst);
        let held = state.hold_captures.load(Ordering::SeqCst);
        let capture = json!({
            "id": id(&state, "CAPTURE"),
            "status": if denied { "DECLINED" } else if held { "PENDING" } else { "COMPLETED" },
            "amount": order["purchase_units"][0]["amount"],
            "custom_id": order["purchase_units"][0]["custom_id"],
        });
        order["status"] = json!("COMPLETED");
        order["purchase_units"][0]["payments"] = json!({"captures": [capture]});
        state.captures.fetch_add(1, Ordering::SeqCst);
        (201, order.clone())
    })
}

async fn refund(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Err(refused) = authorised(&state, &request) {
        return *refused;
    }
    let capture_id = path.into_inner();
    once(&state, &request, "refund", || {
        let captured = state.orders.lock().unwrap().values().any(|order| {
            order["purchase_units"][0]["payments"]["captures"][0]["id"].as_str() == Some(capture_id.as_str())
        });
        if !captured {
            return error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID");
        }
        let refund = json!({"id": id(&state, "REFUND"), "status": "COMPLETED", "amount": body["amount"]});
        state.refunds.lock().unwrap().insert(refund["id"].as_str().unwrap_or_default().to_owned(), refund.clone());
        state.created_refunds.fetch_add(1, Ordering::SeqCst);
        (201, refund)
    })
}

async fn get_refund(state: web::Data<State>, request: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if let Err(refused) = authorised(&state, &request) {
        return *refused;
    }
    match state.refunds.lock().unwrap().get(path.as_str()) {
        Some(refund) => HttpResponse::Ok().json(refund),
        None => reply(error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")),
    }
}

async fn verify(state: web::Data<State>, request: HttpRequest, raw: web::Bytes) -> HttpResponse {
    if let Err(refused) = authorised(&state, &request) {
        return *refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return reply(error(400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON"));
    };
    // PayPal checks the event as it was sent: keep the bytes that followed `"webhook_event":`.
    let text = String::from_utf8_lossy(&raw).into_owned();
    if let Some(at) = text.find("\"webhook_event\":") {
        let event = text[at + "\"webhook_event\":".len()..].trim_end();
        *state.last_checked_event.lock().unwrap() = event.strip_suffix('}').unwrap_or(event).to_owned();
    }
    let headers = ["auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time"];
    if headers.iter().any(|name| body[name].as_str().is_none_or(str::is_empty)) {
        return reply(error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER"));
    }
    let good = body["transmission_sig"] == GOOD_SIGNATURE
        && body["webhook_id"] == WEBHOOK_ID
        && body["webhook_event"]["id"].is_string();
    HttpResponse::Ok().json(json!({"verification_status": if good { "SUCCESS" } else { "FAILURE" }}))
}
