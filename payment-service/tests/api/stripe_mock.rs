//! A local stand-in for Stripe's API (the outside world, the one thing tests may fake): it
//! keeps Stripe's idempotency rule (a repeated Idempotency-Key gets the first response, and
//! creates nothing), keeps the PaymentIntents and Refunds it created so that look-ups and
//! cancels find them (and its search, by metadata), counts what was really charged, logs every
//! request, and can be made slow, answer `pending` refunds, forget its keys, fail cancels, or
//! lose the answers to charges it made.
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

#[derive(Clone, Default)]
struct State {
    /// Idempotency key → the first response (status, body).
    answers: Arc<Mutex<HashMap<String, (u16, Value)>>>,
    /// Keys whose first request is still being answered: a concurrent repeat gets 409, as at Stripe.
    in_flight: Arc<Mutex<std::collections::HashSet<String>>>,
    charges: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    /// Every request as `METHOD /path`, in arrival order.
    log: Arc<Mutex<Vec<String>>>,
    /// PaymentIntents and Refunds by id, as a look-up finds them now.
    intents: Arc<Mutex<HashMap<String, Value>>>,
    refunds: Arc<Mutex<HashMap<String, Value>>>,
    refund_count: Arc<AtomicUsize>,
    /// New refunds are `pending` rather than `succeeded`.
    refunds_pending: Arc<AtomicBool>,
    /// As if the keys were past Stripe's 24 hours and refund look-ups failed: a repeated refund
    /// key is taken as a new refund of an already refunded charge (400), a refund look-up 404s.
    forgetful: Arc<AtomicBool>,
    /// This many next cancels answer 503 (before Stripe's idempotency layer: nothing is saved).
    failing_cancels: Arc<AtomicUsize>,
    /// A cancel finds the intent succeeded just before it (so Stripe refuses the cancel).
    succeed_on_cancel: Arc<AtomicBool>,
    /// Every request answers 503 (an outage: nothing is created or saved).
    unavailable: Arc<AtomicBool>,
    /// Charges are made (and kept) but every answer to a charge request is lost: it arrives as
    /// a 503, a repeat included.
    lose_charge_answers: Arc<AtomicBool>,
    /// Requests sleep this long before answering (a slow gateway), then it is reset.
    delay_once_ms: Arc<AtomicU64>,
    /// Every request sleeps this long.
    delay_ms: Arc<AtomicU64>,
}

#[derive(Clone)]
pub struct StripeMock {
    pub base_url: String,
    state: State,
}

impl StripeMock {
    pub fn start() -> Self {
        let state = State::default();
        let shared = state.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .route("/v1/payment_intents", web::post().to(payment_intent))
                // Before `{id}`, which would take `search` for an id.
                .route("/v1/payment_intents/search", web::get().to(search_payment_intents))
                .route("/v1/payment_intents/{id}", web::get().to(get_payment_intent))
                .route("/v1/payment_intents/{id}/cancel", web::post().to(cancel_payment_intent))
                .route("/v1/refunds", web::post().to(refund))
                .route("/v1/refunds/{id}", web::get().to(get_refund))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { base_url, state }
    }

    /// PaymentIntents really created (repeats of a key do not count).
    pub fn charges(&self) -> usize {
        self.state.charges.load(Ordering::SeqCst)
    }

    /// HTTP requests received, repeats included.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests received (`METHOD /path`) that `which` picks.
    pub fn calls(&self, which: impl Fn(&str) -> bool) -> usize {
        self.state.log.lock().unwrap().iter().filter(|call| which(call)).count()
    }

    /// The next request answers only after `delay` (the client times out first).
    pub fn slow_once(&self, delay: Duration) {
        self.state.delay_once_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request takes `delay`.
    pub fn slow(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// New refunds answer `pending` (as bank-debit refunds do) instead of `succeeded`.
    pub fn refunds_answer_pending(&self, pending: bool) {
        self.state.refunds_pending.store(pending, Ordering::SeqCst);
    }

    /// Every pending refund becomes `status` (`succeeded`, `failed`...), as a look-up sees it.
    pub fn settle_refunds(&self, status: &str) {
        for refund in self.state.refunds.lock().unwrap().values_mut() {
            if refund["status"] == "pending" {
                refund["status"] = json!(status);
            }
        }
    }

    /// Every processing PaymentIntent becomes `status`, as a look-up sees it.
    pub fn settle_intents(&self, status: &str) {
        for intent in self.state.intents.lock().unwrap().values_mut() {
            if intent["status"] == "processing" {
                intent["status"] = json!(status);
            }
        }
    }

    /// See `State::forgetful`.
    pub fn forget_keys(&self, forget: bool) {
        self.state.forgetful.store(forget, Ordering::SeqCst);
    }

    /// The next `n` cancels answer 503.
    pub fn fail_cancels(&self, n: usize) {
        self.state.failing_cancels.store(n, Ordering::SeqCst);
    }

    /// See `State::unavailable`.
    /// See `State::lose_charge_answers`.
    pub fn lose_charge_answers(&self, lose: bool) {
        self.state.lose_charge_answers.store(lose, Ordering::SeqCst);
    }

    pub fn unavailable(&self, down: bool) {
        self.state.unavailable.store(down, Ordering::SeqCst);
    }

    /// See `State::succeed_on_cancel`.
    pub fn succeed_on_cancel(&self, succeed: bool) {
        self.state.succeed_on_cancel.store(succeed, Ordering::SeqCst);
    }
}

async fn delay(state: &State) {
    let once = state.delay_once_ms.swap(0, Ordering::SeqCst);
    let always = state.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(once + always)).await;
}

fn respond(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

/// Counts and logs the request; refuses it without the test's secret key, as Stripe would,
/// or answers 503 during an outage.
fn arrive(state: &State, req: &HttpRequest) -> Option<HttpResponse> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.log.lock().unwrap().push(format!("{} {}", req.method(), req.path()));
    if state.unavailable.load(Ordering::SeqCst) {
        return Some(respond(503, json!({ "error": { "type": "api_error", "message": "Service unavailable." } })));
    }
    let authorised = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer sk_test_mock");
    (!authorised).then(|| {
        HttpResponse::Unauthorized()
            .json(json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key" } }))
    })
}

fn missing(kind: &str, id: &str) -> HttpResponse {
    respond(
        404,
        json!({ "error": { "type": "invalid_request_error", "code": "resource_missing",
                           "message": format!("No such {kind}: '{id}'") } }),
    )
}

fn replay(state: &State, req: &HttpRequest) -> (String, Option<HttpResponse>) {
    let key = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let known = state.answers.lock().unwrap().get(&key).cloned();
    (key, known.map(|(status, body)| respond(status, body)))
}

async fn payment_intent(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<State>,
) -> HttpResponse {
    if let Some(refused) = arrive(&state, &req) {
        return refused;
    }
    let (key, known) = replay(&state, &req);
    if let Some(response) = known {
        return lost_or(&state, response);
    }
    if !state.in_flight.lock().unwrap().insert(key.clone()) {
        return HttpResponse::Conflict().json(json!({ "error": { "type": "idempotency_error",
            "message": "There is currently another in-progress request using this Idempotent Key." } }));
    }
    delay(&state).await;
    let n = state.charges.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("pi_mock_{n}");
    let token = form.get("payment_method_data[card][token]").cloned().unwrap_or_default();
    let intent = |status: &str| {
        // Amounts are integers at Stripe, as payment sends them in its form.
        json!({ "id": id, "object": "payment_intent", "status": status,
                "amount": form.get("amount").and_then(|a| a.parse::<i64>().ok()), "currency": form.get("currency"),
                "metadata": { "payment_id": form.get("metadata[payment_id]") } })
    };
    let (status, body, stored) = match token.as_str() {
        "tok_chargeDeclined" => {
            let stored = intent("requires_payment_method");
            let body = json!({ "error": { "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined.", "payment_intent": { "id": id, "status": "requires_payment_method" } } });
            (402, body, stored)
        }
        "tok_processing" => (200, intent("processing"), intent("processing")),
        // A card asking for 3-D Secure: the intent waits for an authentication nobody can give.
        "tok_threeDSecure2Required" => {
            let mut body = intent("requires_action");
            body["next_action"] = json!({ "type": "use_stripe_sdk" });
            (200, body.clone(), body)
        }
        _ => (200, intent("succeeded"), intent("succeeded")),
    };
    state.intents.lock().unwrap().insert(id.clone(), stored);
    state.answers.lock().unwrap().insert(key.clone(), (status, body.clone()));
    state.in_flight.lock().unwrap().remove(&key);
    lost_or(&state, respond(status, body))
}

/// A charge's answer, or a 503 in its place while answers are lost (the charge stands).
fn lost_or(state: &State, response: HttpResponse) -> HttpResponse {
    if state.lose_charge_answers.load(Ordering::SeqCst) {
        return respond(503, json!({ "error": { "type": "api_error", "message": "The answer was lost." } }));
    }
    response
}

/// Stripe's search, for the one query payment makes: `metadata['payment_id']:'<id>'`.
async fn search_payment_intents(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<State>,
) -> HttpResponse {
    if let Some(refused) = arrive(&state, &req) {
        return refused;
    }
    let wanted = query
        .get("query")
        .and_then(|q| q.strip_prefix("metadata['payment_id']:'"))
        .and_then(|rest| rest.strip_suffix('\''))
        .map(str::to_owned);
    let Some(wanted) = wanted else {
        return respond(400, json!({ "error": { "type": "invalid_request_error", "message": "Unsupported query." } }));
    };
    let found: Vec<Value> = state
        .intents
        .lock()
        .unwrap()
        .values()
        .filter(|intent| intent["metadata"]["payment_id"] == wanted.as_str())
        .cloned()
        .collect();
    respond(200, json!({ "object": "search_result", "data": found, "has_more": false }))
}

async fn get_payment_intent(req: HttpRequest, id: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    if let Some(refused) = arrive(&state, &req) {
        return refused;
    }
    delay(&state).await;
    match state.intents.lock().unwrap().get(id.as_str()) {
        Some(intent) => respond(200, intent.clone()),
        None => missing("payment_intent", &id),
    }
}

async fn cancel_payment_intent(req: HttpRequest, id: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    if let Some(refused) = arrive(&state, &req) {
        return refused;
    }
    delay(&state).await;
    let failing = state.failing_cancels.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if failing.is_ok() {
        return respond(503, json!({ "error": { "type": "api_error", "message": "Service unavailable." } }));
    }
    let (key, known) = replay(&state, &req);
    if let Some(response) = known {
        return response;
    }
    let mut intents = state.intents.lock().unwrap();
    let Some(intent) = intents.get_mut(id.as_str()) else { return missing("payment_intent", &id) };
    if state.succeed_on_cancel.load(Ordering::SeqCst) && intent["status"] != "canceled" {
        intent["status"] = json!("succeeded");
    }
    let (status, body) = if intent["status"] == "succeeded" || intent["status"] == "canceled" {
        let message = format!("You cannot cancel this PaymentIntent because it has a status of {}.", intent["status"]);
        (
            400,
            json!({ "error": { "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                               "message": message, "payment_intent": intent.clone() } }),
        )
    } else {
        intent["status"] = json!("canceled");
        intent["next_action"] = Value::Null;
        (200, intent.clone())
    };
    state.answers.lock().unwrap().insert(key, (status, body.clone()));
    respond(status, body)
}

async fn refund(req: HttpRequest, form: web::Form<HashMap<String, String>>, state: web::Data<State>) -> HttpResponse {
    if let Some(refused) = arrive(&state, &req) {
        return refused;
    }
    let (key, known) = replay(&state, &req);
    delay(&state).await;
    if let Some(response) = known {
        if state.forgetful.load(Ordering::SeqCst) {
            return respond(
                400,
                json!({ "error": { "type": "invalid_request_error", "code": "charge_already_refunded",
                                   "message": "Charge has already been refunded." } }),
            );
        }
        return response;
    }
    let n = state.refund_count.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("re_mock_{n}");
    let status = if state.refunds_pending.load(Ordering::SeqCst) { "pending" } else { "succeeded" };
    let body = json!({ "id": id, "object": "refund", "status": status,
                       "amount": form.get("amount").and_then(|a| a.parse::<i64>().ok()),
                       "payment_intent": form.get("payment_intent"),
                       "metadata": { "refund_id": form.get("metadata[refund_id]") } });
    state.refunds.lock().unwrap().insert(id, body.clone());
    state.answers.lock().unwrap().insert(key, (200, body.clone()));
    respond(200, body)
}

async fn get_refund(req: HttpRequest, id: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    if let Some(refused) = arrive(&state, &req) {
        return refused;
    }
    delay(&state).await;
    if state.forgetful.load(Ordering::SeqCst) {
        return missing("refund", &id);
    }
    match state.refunds.lock().unwrap().get(id.as_str()) {
        Some(refund) => respond(200, refund.clone()),
        None => missing("refund", &id),
    }
}
