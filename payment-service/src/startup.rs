//! Builds the application (binds both ports, so tests can ask for port 0 and read the
//! port they got) and runs it until SIGTERM or SIGINT, then drains in-flight requests.
use crate::{
    approvals::PayPalCheckout,
    auth::{Jwks, TokenVerifier},
    configuration::{GatewayKind, Settings},
    db::{self, Db},
    events::{backlog, consumer::ProductEventsConsumer, lag, relay::Relay},
    gateway::{paypal::PayPal, Gateway, Gateways, PayPalGateway, Sandbox, Stripe},
    grpc::{self, PaymentGrpc},
    http::{self, WebhookSettings},
    kafka::Kafka,
    metrics::Metrics,
    payments::Payments,
    readiness::Readiness,
    reconciler,
    sweeper::Sweeper,
    tls::ServerTls,
    upstream::auth::Sessions,
    upstream::product::Reservations,
};
use actix_web::{dev::Server as HttpServer, middleware::from_fn, web, App};
use anyhow::Context;
use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};
use tokio::{
    net::{TcpListener, TcpSocket},
    sync::{watch, Notify},
    task::JoinHandle,
};

/// Largest request body accepted (webhooks); larger ones get 413.
const MAX_BODY: usize = 256 * 1024;
/// Bound on one fetch of auth's public keys, and the least time between two fetches.
/// For auth's JWKS and its session check alike.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const JWKS_MIN_REFETCH_GAP: Duration = Duration::from_secs(1);
/// How long the relay and the reconciler get to finish what they hold at shutdown.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Application {
    http_server: HttpServer,
    http_addr: SocketAddr,
    /// Bound, listening only once the migrations are applied (`listen_once_migrated`).
    grpc_socket: TcpSocket,
    grpc_addr: SocketAddr,
    migrated: watch::Receiver<bool>,
    metrics: Metrics,
    grpc_service: PaymentGrpc,
    /// The gRPC port's mutual TLS, reloaded by a background task when its files change.
    tls: Arc<ServerTls>,
    /// The outbox relay, the product-events consumer, the reconciler and the sweeper, and how to
    /// stop them.
    background: Vec<JoinHandle<()>>,
    stop_background: watch::Sender<bool>,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new().context("registering metrics")?;
        let tls =
            ServerTls::load(&settings.tls.dir, metrics.clone()).context("loading the gRPC port's TLS identity")?;
        let pool = db::build_pool(&settings.database)?;
        metrics.watch_pool(pool.clone()).context("registering the pool's metrics")?;
        metrics.set_max_pending_age(settings.gateway.max_pending_age);
        let kafka = Kafka::new(&settings.kafka)?;

        let (migrated_tx, migrated) = watch::channel(!settings.database.migrate_on_start);
        if settings.database.migrate_on_start {
            tokio::spawn(db::migrate_until_done(settings.database.clone(), migrated_tx));
        }
        let outbox_ready = Arc::new(Notify::new());
        let payments = Payments::new(
            Db::new(pool.clone(), migrated.clone()),
            gateways(&settings)?,
            settings.kafka.events_topic.clone(),
            Arc::clone(&outbox_ready),
            settings.gateway.timeout,
            settings.database.timeout,
        )?;
        let (mut background, stop_background) =
            start_background(&settings, &kafka, &pool, &payments, outbox_ready, &metrics, &migrated)?;
        background
            .push(tokio::spawn(Arc::clone(&tls).watch(settings.tls.reload_interval, stop_background.subscribe())));
        let verifier = token_verifier(&settings)?;
        let grpc_service = PaymentGrpc::new(payments.clone(), Arc::clone(&verifier));
        let readiness =
            Readiness::new(pool, kafka, migrated.clone(), settings.database.timeout.max(settings.kafka.timeout))
                .with_local_check("tls", {
                    let (tls, margin) = (Arc::clone(&tls), settings.tls.expiry_margin);
                    Arc::new(move || tls.check_validity(margin))
                });

        let http_listener = std::net::TcpListener::bind((settings.listen_host, settings.http_port))
            .with_context(|| format!("binding the HTTP port {}:{}", settings.listen_host, settings.http_port))?;
        let http_addr = http_listener.local_addr()?;
        let grpc_socket = bind(settings.listen_host, settings.grpc_port)
            .with_context(|| format!("binding the gRPC port {}:{}", settings.listen_host, settings.grpc_port))?;
        let grpc_addr = grpc_socket.local_addr()?;

        let http_server = http_server(http_listener, &settings, readiness, metrics.clone(), payments, verifier)?;

        Ok(Self {
            http_server,
            http_addr,
            grpc_socket,
            grpc_addr,
            migrated: migrated.clone(),
            metrics,
            grpc_service,
            tls,
            background,
            stop_background,
            settings,
        })
    }

    pub fn http_port(&self) -> u16 {
        self.http_addr.port()
    }

    pub fn grpc_port(&self) -> u16 {
        self.grpc_addr.port()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(http_port = self.http_port(), grpc_port = self.grpc_port(), "listening");
        let http_handle = self.http_server.handle();
        let mut http = tokio::spawn(self.http_server);
        let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
        let (socket, migrated, tls, metrics, service, reflection) =
            (self.grpc_socket, self.migrated, self.tls, self.metrics, self.grpc_service, self.settings.grpc_reflection);
        let mut grpc = tokio::spawn(async move {
            let mut stopped = Box::pin(async {
                let _ = grpc_stopped.await;
            });
            let listener = tokio::select! {
                listener = listen_once_migrated(socket, migrated) => listener?,
                () = &mut stopped => return Ok(()),
            };
            grpc::serve(listener, tls, metrics, service, reflection, stopped).await
        });

        tokio::select! {
            signal = shutdown_signal() => tracing::info!(signal, "shutting down: draining in-flight requests"),
            result = &mut http => return Err(anyhow::anyhow!("the HTTP server stopped unexpectedly: {result:?}")),
            result = &mut grpc => return Err(anyhow::anyhow!("the gRPC server stopped unexpectedly: {result:?}")),
        }

        let _ = stop_grpc.send(());
        let drain = async {
            http_handle.stop(true).await;
            grpc.await.context("the gRPC server task died")?
        };
        tokio::time::timeout(self.settings.shutdown_timeout, drain)
            .await
            .context("in-flight requests did not finish within the shutdown timeout")??;
        // The relay finishes its batch, the reconciler its round.
        self.stop_background.send_replace(true);
        for mut task in self.background {
            if tokio::time::timeout(BACKGROUND_STOP_TIMEOUT, &mut task).await.is_err() {
                // Safe anyway: an unsent outbox row is sent by the next start, and a pending
                // payment is picked up again once its lease runs out.
                tracing::warn!("a background task did not stop in time; aborting it");
                task.abort();
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The gateways the settings name: for cards the sandbox, or Stripe with its secret key; and
/// PayPal when its credentials are set (with product's reservations, asked before a capture).
fn gateways(settings: &Settings) -> anyhow::Result<Gateways> {
    let paypal = match &settings.gateway.paypal {
        None => None,
        Some(paypal) => {
            let api = PayPal::new(
                paypal.api_base.clone(),
                paypal.client_id.clone(),
                paypal.client_secret.clone(),
                settings.gateway.timeout,
            )?;
            let gateway = PayPalGateway::new(api, paypal.return_url.clone(), paypal.cancel_url.clone());
            let reservations = Reservations::connect_lazy(
                &settings.sweep.product_grpc_url,
                settings.gateway.timeout,
                &settings.tls.dir,
            )
            .context("product's gRPC client, for PayPal captures")?;
            Some(PayPalCheckout { gateway: Arc::new(gateway), reservations })
        }
    };
    Ok(Gateways { card: card_gateway(settings)?, paypal })
}

/// The card gateway the settings name: the sandbox, or Stripe with its secret key.
fn card_gateway(settings: &Settings) -> anyhow::Result<Arc<dyn Gateway>> {
    Ok(match settings.gateway.kind {
        GatewayKind::Sandbox => Arc::new(Sandbox::default()),
        GatewayKind::Stripe => Arc::new(Stripe::new(
            settings.gateway.stripe_api_base.clone(),
            settings.gateway.stripe_secret_key.clone().context("the Stripe secret key is not set")?,
            settings.gateway.timeout,
        )?),
    })
}

/// Checks callers' access tokens: auth's public keys (JWKS), and auth's `VerifyToken` for
/// revocation (over mutual TLS, with this service's identity).
fn token_verifier(settings: &Settings) -> anyhow::Result<Arc<TokenVerifier>> {
    let jwks = Jwks::new(
        settings.auth.jwks_url.clone(),
        JWKS_FETCH_TIMEOUT,
        settings.auth.jwks_max_age,
        JWKS_MIN_REFETCH_GAP,
    )?;
    let sessions = Sessions::connect_lazy(&settings.auth.grpc_url, JWKS_FETCH_TIMEOUT, &settings.tls.dir)
        .context("auth's gRPC client")?;
    Ok(Arc::new(TokenVerifier::new(jwks, sessions, &settings.auth.issuer, &settings.auth.audience)))
}

/// The REST server (health, metrics, webhooks) on `listener`, started; stopped by `run`'s
/// signal handling, not its own.
fn http_server(
    listener: std::net::TcpListener,
    settings: &Settings,
    readiness: Readiness,
    metrics: Metrics,
    payments: Payments,
    verifier: Arc<TokenVerifier>,
) -> anyhow::Result<HttpServer> {
    let readiness = web::Data::new(readiness);
    let app_metrics = web::Data::new(metrics);
    let payments = web::Data::new(payments);
    // Operators' tokens (http/caller.rs), checked as the gRPC side checks users'.
    let verifier = web::Data::from(verifier);
    let webhook_settings = web::Data::new(WebhookSettings {
        secret: settings.gateway.webhook_secret.clone(),
        tolerance: settings.gateway.webhook_tolerance,
        paypal_webhook_id: settings.gateway.paypal.as_ref().and_then(|paypal| paypal.webhook_id.clone()),
    });
    Ok(actix_web::HttpServer::new(move || {
        App::new()
            .wrap(from_fn(http::limit_request_headers))
            .wrap(from_fn(http::observe))
            .wrap(http::security_headers())
            .app_data(readiness.clone())
            .app_data(app_metrics.clone())
            .app_data(payments.clone())
            .app_data(verifier.clone())
            .app_data(webhook_settings.clone())
            .app_data(web::PayloadConfig::default().limit(MAX_BODY))
            .configure(http::routes)
            .default_service(web::to(http::not_found))
    })
    .listen(listener)?
    // Signals are handled in `run`, once for both servers.
    .disable_signals()
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .run())
}

/// Binds the gRPC port without listening: a port in use fails the start at once, and a test
/// asking for port 0 learns its number. SO_REUSEADDR on a named port, as `TcpListener::bind`
/// sets it, so a replica restarted on its port is not refused it for the old connections'
/// TIME_WAIT; never on port 0, where the kernel could hand two sockets that are bound and not
/// yet listening the same port.
fn bind(host: IpAddr, port: u16) -> std::io::Result<TcpSocket> {
    let socket = if host.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(port != 0)?;
    socket.bind(SocketAddr::new(host, port))?;
    Ok(socket)
}

/// Until the migrations are applied every call would fail UNAVAILABLE, so until then the port
/// refuses connections: a caller that balances over the replicas accepting connections (cart's
/// upstream discovery, a TCP probe) leaves a replica still starting out of its rotation
/// instead of sending it calls. A new replica of a rolling restart joins once it can serve.
async fn listen_once_migrated(socket: TcpSocket, mut migrated: watch::Receiver<bool>) -> anyhow::Result<TcpListener> {
    migrated.wait_for(|done| *done).await.context("the migrations never finished")?;
    socket.listen(GRPC_BACKLOG).context("listening on the gRPC port")
}

/// Connections the gRPC port queues before they are accepted (tokio's default for a listener).
const GRPC_BACKLOG: u32 = 1024;

/// Runs `task` once the migrations are applied (its tables exist).
/// The outbox relay, the product-events consumer, the reconciler and the sweeper, each started
/// once the migrations are applied, and the sender that stops them.
fn start_background(
    settings: &Settings,
    kafka: &Kafka,
    pool: &db::DbPool,
    payments: &Payments,
    outbox_ready: Arc<Notify>,
    metrics: &Metrics,
    migrated: &watch::Receiver<bool>,
) -> anyhow::Result<(Vec<JoinHandle<()>>, watch::Sender<bool>)> {
    let (stop_background, stop) = watch::channel(false);
    let relay = Relay {
        pool: pool.clone(),
        producer: kafka.outbox_producer()?,
        metrics: metrics.clone(),
        wake: outbox_ready,
        idle_poll: Duration::from_secs(1),
        send_timeout: Duration::from_secs(30),
    };
    let events_consumer = Arc::new(kafka.consumer(&settings.kafka.product_events_topic, metrics)?);
    let lag = lag::sample_periodically(
        Arc::clone(&events_consumer),
        vec![settings.kafka.product_events_topic.clone()],
        metrics.clone(),
        settings.kafka.timeout,
        stop.clone(),
    );
    let product_events = ProductEventsConsumer {
        consumer: events_consumer,
        pool: pool.clone(),
        dlq_producer: kafka.producer(),
        metrics: metrics.clone(),
    };
    let reconciler = reconciler::run(
        payments.clone(),
        settings.gateway.reconcile_interval,
        settings.gateway.max_pending_age,
        metrics.clone(),
        stop.clone(),
    );
    let sweeper = Sweeper {
        db: payments.db().clone(),
        product: Reservations::connect_lazy(
            &settings.sweep.product_grpc_url,
            settings.gateway.timeout,
            &settings.tls.dir,
        )?,
        grace: settings.sweep.grace,
        metrics: metrics.clone(),
    };
    let backlog = backlog::sample_periodically(pool.clone(), metrics.clone(), backlog::SAMPLE_EVERY, stop.clone());
    let tasks = vec![
        after_migrations(migrated.clone(), backlog),
        after_migrations(migrated.clone(), relay.run(stop.clone())),
        after_migrations(migrated.clone(), product_events.run(stop.clone())),
        tokio::spawn(lag),
        after_migrations(migrated.clone(), reconciler),
        after_migrations(migrated.clone(), sweeper.run(settings.sweep.interval, stop)),
    ];
    Ok((tasks, stop_background))
}

fn after_migrations(
    mut migrated: watch::Receiver<bool>,
    task: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if migrated.wait_for(|done| *done).await.is_ok() {
            task.await;
        }
    })
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
