//! A local stand-in for Stripe's API (the outside world, the one thing tests may fake): it
//! keeps Stripe's idempotency rule (a repeated Idempotency-Key gets the first response, and
//! creates nothing), counts what was really charged, and can be made slow.
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

#[derive(Clone, Default)]
struct State {
    /// Idempotency key → the first response (status, body).
    answers: Arc<Mutex<HashMap<String, (u16, serde_json::Value)>>>,
    /// Keys whose first request is still being answered: a concurrent repeat gets 409, as at Stripe.
    in_flight: Arc<Mutex<std::collections::HashSet<String>>>,
    charges: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
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
                .route("/v1/refunds", web::post().to(refund))
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

    /// The next request answers only after `delay` (the client times out first).
    pub fn slow_once(&self, delay: Duration) {
        self.state.delay_once_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request takes `delay`.
    pub fn slow(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

async fn delay(state: &State) {
    let once = state.delay_once_ms.swap(0, Ordering::SeqCst);
    let always = state.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(once + always)).await;
}

fn replay(state: &State, req: &HttpRequest) -> (String, Option<HttpResponse>) {
    let key = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let known = state.answers.lock().unwrap().get(&key).cloned();
    let response = known
        .map(|(status, body)| HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body));
    (key, response)
}

async fn payment_intent(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<State>,
) -> HttpResponse {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let authorised = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer sk_test_mock");
    if !authorised {
        return HttpResponse::Unauthorized()
            .json(json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key" } }));
    }
    let (key, known) = replay(&state, &req);
    if let Some(response) = known {
        return response;
    }
    if !state.in_flight.lock().unwrap().insert(key.clone()) {
        return HttpResponse::Conflict().json(json!({ "error": { "type": "idempotency_error",
            "message": "There is currently another in-progress request using this Idempotent Key." } }));
    }
    delay(&state).await;
    let n = state.charges.fetch_add(1, Ordering::SeqCst) + 1;
    let id = format!("pi_mock_{n}");
    let token = form.get("payment_method_data[card][token]").cloned().unwrap_or_default();
    let (status, body) = match token.as_str() {
        "tok_chargeDeclined" => (
            402,
            json!({ "error": { "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                               "message": "Your card was declined.", "payment_intent": { "id": id, "status": "requires_payment_method" } } }),
        ),
        "tok_processing" => (200, json!({ "id": id, "object": "payment_intent", "status": "processing" })),
        _ => (
            200,
            json!({ "id": id, "object": "payment_intent", "status": "succeeded",
                           "amount": form.get("amount"), "currency": form.get("currency") }),
        ),
    };
    state.answers.lock().unwrap().insert(key.clone(), (status, body.clone()));
    state.in_flight.lock().unwrap().remove(&key);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

async fn refund(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let (key, known) = replay(&state, &req);
    delay(&state).await;
    if let Some(response) = known {
        return response;
    }
    let body = json!({ "id": format!("re_mock_{}", state.requests.load(Ordering::SeqCst)), "status": "succeeded" });
    state.answers.lock().unwrap().insert(key, (200, body.clone()));
    HttpResponse::Ok().json(body)
}
