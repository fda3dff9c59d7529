//! Builds the application (binds its listener, so tests can ask for port 0 and read the port
//! they got) and runs it until SIGTERM or SIGINT, then drains in-flight requests.
use crate::{
    configuration::Settings, http, kafka::Kafka, metrics::Metrics, readiness::Readiness, redis_store::Redis,
    upstream::Upstream,
};
use actix_web::{dev::Server as HttpServer, middleware::from_fn, web, App};
use anyhow::Context;
use std::net::SocketAddr;

/// Largest JSON body accepted; larger ones get 413.
const MAX_JSON_BODY: usize = 64 * 1024;

pub struct Application {
    http_server: HttpServer,
    http_addr: SocketAddr,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new().context("registering metrics")?;
        let redis = Redis::new(&settings.redis)?;
        let kafka = Kafka::new(&settings.kafka)?;
        let upstream = Upstream::new(&settings.upstream)?;
        let readiness = Readiness { redis, kafka, timeout: settings.redis.timeout.max(settings.kafka.timeout) };

        let http_listener = std::net::TcpListener::bind((settings.listen_host, settings.http_port))
            .with_context(|| format!("binding the HTTP port {}:{}", settings.listen_host, settings.http_port))?;
        let http_addr = http_listener.local_addr()?;

        let readiness = web::Data::new(readiness);
        let metrics = web::Data::new(metrics);
        let upstream = web::Data::new(upstream);
        let http_server = actix_web::HttpServer::new(move || {
            App::new()
                .wrap(from_fn(http::observe))
                .app_data(readiness.clone())
                .app_data(metrics.clone())
                .app_data(upstream.clone())
                .app_data(web::JsonConfig::default().limit(MAX_JSON_BODY))
                .configure(http::routes)
                .default_service(web::to(http::not_found))
        })
        .listen(http_listener)?
        // Signals are handled below so that shutdown is logged and bounded like the other services.
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .run();

        Ok(Self { http_server, http_addr, settings })
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
        tracing::info!("stopped");
        Ok(())
    }
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
