//! Builds the application (binds its listener, so tests can ask for port 0 and read the port
//! they got) and runs it until SIGTERM or SIGINT, then drains in-flight requests.
use crate::{
    auth::{Jwks, Revocations, TokenVerifier},
    carts::Carts,
    checkout::Checkouts,
    configuration::Settings,
    events::{catalogue, lag, EventsConsumer},
    http,
    kafka::Kafka,
    metrics::Metrics,
    readiness::Readiness,
    redis_store::Redis,
    store::CartStore,
    upstream::Upstream,
};
use actix_web::{dev::Server as HttpServer, middleware::from_fn, web, App};
use anyhow::Context;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};

/// Bound on one fetch of auth's public keys, and the least time between two fetches.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const JWKS_MIN_REFETCH_GAP: Duration = Duration::from_secs(1);
/// How long the consumer gets to finish its record at shutdown.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Application {
    http_server: HttpServer,
    http_addr: SocketAddr,
    consumer: JoinHandle<()>,
    stop_consumer: watch::Sender<bool>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new().context("registering metrics")?;
        let redis = Redis::new(&settings.redis)?;
        let kafka = Kafka::new(&settings.kafka)?;
        let upstream = Upstream::new(&settings.upstream, &metrics)?;
        let tls_check = Some((upstream.clone(), settings.upstream.tls_expiry_margin));
        let store = CartStore::new(redis.clone(), settings.carts.idle_ttl);
        let auth_url = settings.auth.base_url.trim_end_matches('/');
        let jwks = Jwks::new(
            format!("{auth_url}/.well-known/jwks.json"),
            JWKS_FETCH_TIMEOUT,
            settings.auth.jwks_max_age,
            JWKS_MIN_REFETCH_GAP,
        )?;
        let revocations = Arc::new(Revocations::new(redis.clone()));
        let verifier = TokenVerifier::new(jwks, revocations.clone(), &settings.auth.issuer, &settings.auth.audience);
        let carts = Carts::new(store.clone(), upstream.clone());
        let checkouts = Checkouts::new(store.clone(), upstream.clone(), settings.carts.checkout_record_ttl);
        let topics = [
            &settings.kafka.product_events_topic,
            &settings.kafka.payment_events_topic,
            &settings.kafka.auth_events_topic,
        ];
        let events_consumer = Arc::new(kafka.consumer(&topics.map(String::as_str), &metrics)?);
        let (stop_consumer, stop) = watch::channel(false);
        let lag = lag::sample_periodically(
            Arc::clone(&events_consumer),
            topics.map(String::clone).to_vec(),
            metrics.clone(),
            settings.kafka.timeout,
            stop.clone(),
        );
        let consumer = EventsConsumer {
            catalogues: vec![
                (settings.kafka.product_events_topic.clone(), catalogue::PRODUCT_EVENTS),
                (settings.kafka.payment_events_topic.clone(), catalogue::PAYMENT_EVENTS),
                (settings.kafka.auth_events_topic.clone(), catalogue::AUTH_EVENTS),
            ],
            consumer: events_consumer,
            store,
            upstream,
            revocations: revocations.clone(),
            dlq_producer: kafka.producer(),
            metrics: metrics.clone(),
        };
        let revocations_stop = stop.clone();
        let consumer = tokio::spawn(async move {
            tokio::join!(consumer.run(stop), revocations.keep_fresh(revocations_stop), lag);
        });
        let readiness =
            Readiness { redis, kafka, timeout: settings.redis.timeout.max(settings.kafka.timeout), tls: tls_check };

        let http_listener = std::net::TcpListener::bind((settings.listen_host, settings.http_port))
            .with_context(|| format!("binding the HTTP port {}:{}", settings.listen_host, settings.http_port))?;
        let http_addr = http_listener.local_addr()?;

        let http_server =
            http_server(http_listener, &settings, Rest { readiness, metrics, verifier, carts, checkouts })?;

        Ok(Self { http_server, http_addr, consumer, stop_consumer, settings })
    }

    pub fn http_port(&self) -> u16 {
        self.http_addr.port()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(http_port = self.http_port(), "listening");
        let http_handle = self.http_server.handle();
        let mut http = tokio::spawn(self.http_server);

        tokio::select! {
            signal = shutdown_signal() => tracing::info!(signal, "shutting down: draining in-flight requests"),
            result = &mut http => return Err(anyhow::anyhow!("the HTTP server stopped unexpectedly: {result:?}")),
        }

        let drain = async {
            http_handle.stop(true).await;
            http.await.context("the HTTP server task died")?.context("the HTTP server failed")
        };
        tokio::time::timeout(self.settings.shutdown_timeout, drain)
            .await
            .context("in-flight requests did not finish within the shutdown timeout")??;
        // The consumer finishes its record and commits its offsets.
        self.stop_consumer.send_replace(true);
        let mut consumer = self.consumer;
        if tokio::time::timeout(BACKGROUND_STOP_TIMEOUT, &mut consumer).await.is_err() {
            tracing::warn!("the event consumer did not stop in time; aborting it");
            consumer.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// What the REST handlers are given.
struct Rest {
    readiness: Readiness,
    metrics: Metrics,
    verifier: TokenVerifier,
    carts: Carts,
    checkouts: Checkouts,
}

/// The REST server on `listener`, started. Signals are handled by `run`, so that shutdown is
/// logged and bounded like the other services.
fn http_server(listener: std::net::TcpListener, settings: &Settings, rest: Rest) -> anyhow::Result<HttpServer> {
    let readiness = web::Data::new(rest.readiness);
    let metrics = web::Data::new(rest.metrics);
    let verifier = web::Data::new(rest.verifier);
    let carts = web::Data::new(rest.carts);
    let checkouts = web::Data::new(rest.checkouts);
    Ok(actix_web::HttpServer::new(move || {
        App::new()
            .wrap(from_fn(http::limit_request_headers))
            .wrap(from_fn(http::observe))
            .wrap(http::security_headers())
            .app_data(readiness.clone())
            .app_data(metrics.clone())
            .app_data(verifier.clone())
            .app_data(carts.clone())
            .app_data(checkouts.clone())
            .configure(http::payload_config)
            .configure(http::routes)
            .default_service(web::to(http::not_found))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .run())
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the process can still be killed; keep serving.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
