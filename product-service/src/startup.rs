//! Builds the application (binds both ports, so tests can ask for port 0 and read the
//! port they got) and runs it until SIGTERM or SIGINT, then drains in-flight requests.
use crate::{
    admin::Admin,
    auth::{Jwks, TokenVerifier},
    cache::{Committed, ProductCache},
    catalogue::Catalogue,
    configuration::Settings,
    db::{self, Db},
    events::{backlog, relay::Relay},
    grpc::{self, ProductGrpc},
    http,
    kafka::Kafka,
    metrics::Metrics,
    readiness::Readiness,
    reservations::{self, Reservations},
    tls::ServerTls,
    upstream::auth::Sessions,
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

/// Bound on one fetch of auth's public keys, and the least time between two fetches.
/// For auth's JWKS and its session check alike.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const JWKS_MIN_REFETCH_GAP: Duration = Duration::from_secs(1);

/// How long the relay and the expiry get to finish what they hold at shutdown.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Application {
    http_server: HttpServer,
    http_addr: SocketAddr,
    /// Bound, listening only once the migrations are applied (`listen_once_migrated`).
    grpc_socket: TcpSocket,
    grpc_addr: SocketAddr,
    migrated: watch::Receiver<bool>,
    metrics: Metrics,
    grpc_service: ProductGrpc,
    /// The gRPC port's mutual TLS, reloaded by a background task when its files change.
    tls: Arc<ServerTls>,
    /// The outbox relay, the reservation expiry and the TLS reload, and how to stop them.
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
        let kafka = Kafka::new(&settings.kafka)?;
        let (migrated_tx, migrated) = watch::channel(!settings.database.migrate_on_start);
        if settings.database.migrate_on_start {
            tokio::spawn(db::migrate_until_done(settings.database.clone(), migrated_tx));
        }
        let outbox_ready = Arc::new(Notify::new());
        let cache = Arc::new(ProductCache::default());
        let committed = Committed { cache: Arc::clone(&cache), outbox_ready: Arc::clone(&outbox_ready) };
        let db = Db::new(pool.clone(), migrated.clone());
        let reservations = Reservations::new(
            db.clone(),
            settings.reservations.ttl,
            settings.kafka.events_topic.clone(),
            committed.clone(),
        );
        let relay = Relay {
            pool: pool.clone(),
            producer: kafka.outbox_producer()?,
            metrics: metrics.clone(),
            wake: Arc::clone(&outbox_ready),
            idle_poll: Duration::from_secs(1),
            send_timeout: Duration::from_secs(30),
        };
        let (mut background, stop_background) = start_background(&settings, relay, &reservations, &metrics, &migrated);
        background
            .push(tokio::spawn(Arc::clone(&tls).watch(settings.tls.reload_interval, stop_background.subscribe())));
        let admin = Admin::new(db.clone(), settings.kafka.events_topic.clone(), committed);
        let catalogue = Catalogue::new(db);
        let grpc_service = ProductGrpc::new(catalogue.clone(), reservations);
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

        let rest =
            Rest { readiness, metrics: metrics.clone(), catalogue, cache, admin, verifier: token_verifier(&settings)? };
        let http_server = http_server(http_listener, &settings, rest)?;

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
        // The relay finishes its batch, the expiry its round.
        self.stop_background.send_replace(true);
        for mut task in self.background {
            if tokio::time::timeout(BACKGROUND_STOP_TIMEOUT, &mut task).await.is_err() {
                // Safe anyway: an unsent outbox row is sent by the next start, and an expiry
                // round is one transaction.
                tracing::warn!("a background task did not stop in time; aborting it");
                task.abort();
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Checks callers' access tokens: auth's public keys (JWKS), and auth's `VerifyToken` for
/// revocation (over mutual TLS, with this service's identity).
fn token_verifier(settings: &Settings) -> anyhow::Result<TokenVerifier> {
    let jwks = Jwks::new(
        settings.auth.jwks_url.clone(),
        JWKS_FETCH_TIMEOUT,
        settings.auth.jwks_max_age,
        JWKS_MIN_REFETCH_GAP,
    )?;
    let sessions = Sessions::connect_lazy(&settings.auth.grpc_url, JWKS_FETCH_TIMEOUT, &settings.tls.dir)
        .context("auth's gRPC client")?;
    Ok(TokenVerifier::new(jwks, sessions, &settings.auth.issuer, &settings.auth.audience))
}

/// What the REST handlers are given.
struct Rest {
    readiness: Readiness,
    metrics: Metrics,
    catalogue: Catalogue,
    cache: Arc<ProductCache>,
    admin: Admin,
    verifier: TokenVerifier,
}

/// The REST server on `listener`, started; stopped by `run`'s signal handling, not its own.
fn http_server(listener: std::net::TcpListener, settings: &Settings, rest: Rest) -> anyhow::Result<HttpServer> {
    let readiness = web::Data::new(rest.readiness);
    let app_metrics = web::Data::new(rest.metrics);
    let catalogue = web::Data::new(rest.catalogue);
    let cache = web::Data::from(rest.cache);
    let admin = web::Data::new(rest.admin);
    let verifier = web::Data::new(rest.verifier);
    Ok(actix_web::HttpServer::new(move || {
        App::new()
            .wrap(from_fn(http::limit_request_headers))
            .wrap(from_fn(http::observe))
            .wrap(http::security_headers())
            .app_data(readiness.clone())
            .app_data(app_metrics.clone())
            .app_data(catalogue.clone())
            .app_data(cache.clone())
            .app_data(admin.clone())
            .app_data(verifier.clone())
            .configure(http::payload_config)
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
/// The outbox relay, its backlog's sampling and the reservations' expiry, each started once the
/// migrations are applied, and the sender that stops them.
fn start_background(
    settings: &Settings,
    relay: Relay,
    reservations: &Reservations,
    metrics: &Metrics,
    migrated: &watch::Receiver<bool>,
) -> (Vec<JoinHandle<()>>, watch::Sender<bool>) {
    let (stop_background, stop) = watch::channel(false);
    let expiry = reservations::expire_periodically(
        reservations.clone(),
        settings.reservations.expiry_interval,
        metrics.clone(),
        stop.clone(),
    );
    let backlog =
        backlog::sample_periodically(relay.pool.clone(), metrics.clone(), backlog::SAMPLE_EVERY, stop.clone());
    let tasks = vec![
        after_migrations(migrated.clone(), relay.run(stop)),
        after_migrations(migrated.clone(), expiry),
        after_migrations(migrated.clone(), backlog),
    ];
    (tasks, stop_background)
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
