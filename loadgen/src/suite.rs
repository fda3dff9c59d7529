//! `loadgen bench`: the whole measured run behind `make bench` — ceilings, every scenario,
//! the mixed journey stepped up to the highest rate it sustains, resource use — and its report.
use crate::{
    ceilings,
    checkout_ceiling::{self, CheckoutCeiling},
    driver::{drive, Load, Measurement, Timing},
    journey,
    platform::{http_client, Endpoints, Fixtures},
    plots,
    proto::shop::payment::v1::payment_service_client::PaymentServiceClient,
    report::{Ceilings, CheckoutSaturation, Journey, Machine, Ratio, Report, Resources, ScenarioResult},
    resources::{self, Usage},
    scenarios::{self, Op, Shared},
};
use anyhow::{Context, Result};
use std::{path::PathBuf, sync::Arc, time::Instant};

/// Connections per service, as in each service's own earlier benchmarks: a login holds a core
/// for ~40 ms, so 16 keep both busy; the reads need more in flight to fill two cores.
const AUTH_CONNECTIONS: usize = 16;
const PRODUCT_CONNECTIONS: usize = 64;
const CART_CONNECTIONS: usize = 32;
/// Checkout is stepped up through these connection counts (issue 18: 8 to 64).
const CHECKOUT_STEPS: [usize; 4] = [8, 16, 32, 64];
/// pgbench's clients for a checkout's reservation rows.
const RESERVATION_CLIENTS: usize = 32;
const PAYMENT_STREAMS: usize = 32;
/// The journey's shoppers (one per worker): more than ever wait at once at the rates it meets.
const JOURNEY_SHOPPERS: usize = 64;
/// Offered journey calls per second, tried in turn until one misses p99 < 100 ms or errs.
const JOURNEY_RATES: [f64; 10] = [250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0, 1750.0, 2000.0, 2500.0, 3000.0];
const PRODUCTS: usize = 20;

/// A journey step's shopper requests/s and each service's usage before and after it.
type Window = (f64, Vec<(&'static str, Usage)>, Vec<(&'static str, Usage)>);

pub struct Options {
    pub timing: Timing,
    pub out_dir: PathBuf,
}

fn load_text(load: Load) -> String {
    match load {
        Load::Concurrency(n) => format!("{n} connections"),
        Load::Rate { per_s, .. } => format!("{per_s:.0}/s offered"),
    }
}

pub async fn measure(name: &str, service: &'static str, load: Load, timing: Timing, op: Op) -> ScenarioResult {
    let m: Measurement = drive(load, timing, move |w, n| op(w, n)).await;
    let result = ScenarioResult::new(name, service, load_text(load), &m);
    println!(
        "  {:<28} {:<18} {:>9.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  errors {}",
        result.name, result.load, result.calls_per_s, result.p50_ms, result.p99_ms, result.p999_ms, result.errors
    );
    result
}

/// How long the services are watched at rest, before any load, for their idle CPU.
const IDLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Each service at rest: its memory, and the CPU it spends over `IDLE_WINDOW` doing nothing
/// asked of it (its timers and pollers: a platform of many replicas pays this on each).
async fn idle_usage(at: &Endpoints, ticks: f64) -> Result<Vec<(&'static str, Idle)>> {
    let before = usages(at, ticks)?;
    let started = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let after = usages(at, ticks)?;
    let seconds = started.elapsed().as_secs_f64();
    let idle = before
        .iter()
        .zip(&after)
        .map(|((service, b), (_, a))| {
            (*service, Idle { rss_mib: a.rss_mib(), cpu_percent: (a.cpu_s - b.cpu_s) / seconds * 100.0 })
        })
        .collect();
    Ok(idle)
}

/// A service at rest.
struct Idle {
    rss_mib: f64,
    /// Percent of one core.
    cpu_percent: f64,
}

fn usages(at: &Endpoints, ticks: f64) -> Result<Vec<(&'static str, Usage)>> {
    at.services()
        .iter()
        .map(|(service, _)| Ok((*service, resources::usage(resources::pid_of(&at.pid_dir, service)?, ticks)?)))
        .collect()
}

fn machine() -> Machine {
    let memory_kib: f64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0.0);
    Machine {
        cores: std::thread::available_parallelism().map_or(2, |n| n.get()),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
    }
}

/// Fixtures for this run and the clients every scenario shares.
pub async fn connect(client: reqwest::Client, at: &Endpoints, shoppers: usize) -> Result<Arc<Shared>> {
    let fixtures = Fixtures::create(&client, at, PRODUCTS, shoppers).await?;
    let channel = tonic::transport::Endpoint::from_shared(at.payment_grpc.clone())?
        .tls_config(cart_identity(&at.tls_dir)?)?
        .connect()
        .await
        .with_context(|| format!("payment gRPC at {}", at.payment_grpc))?;
    Ok(Arc::new(Shared { client, at: at.clone(), fixtures, payments: PaymentServiceClient::new(channel) }))
}

/// cart's workload certificate from the platform CA (infra/local/pki.sh), and payment's name to
/// check on its certificate.
fn cart_identity(dir: &std::path::Path) -> Result<tonic::transport::ClientTlsConfig> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {} (make setup makes it)", path.display()))
    };
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.crt")?))
        .identity(Identity::from_pem(read("tls.crt")?, read("tls.key")?))
        .domain_name("payment-service"))
}

pub async fn ready(client: &reqwest::Client, at: &Endpoints) -> Result<()> {
    for url in &at.ready_urls {
        let answer = client.get(url).send().await;
        if !matches!(&answer, Ok(r) if r.status() == 200) {
            anyhow::bail!("{url} does not answer 200: start the platform with `make run` (or `make bench`)");
        }
    }
    Ok(())
}

pub async fn run(options: Options) -> Result<Report> {
    let started = Instant::now();
    let run = chrono::Utc::now();
    let timing = options.timing;
    let at = Endpoints::from_env();
    let client = http_client()?;
    ready(&client, &at).await?;
    let ticks = resources::clock_ticks();
    let idle = idle_usage(&at, ticks).await?;
    let ceilings = measure_ceilings(timing).await?;

    println!("fixtures: {PRODUCTS} products, {JOURNEY_SHOPPERS} shoppers");
    let shared = connect(client, &at, JOURNEY_SHOPPERS).await?;
    let (healthz, scenarios) = run_scenarios(&shared, &at, timing).await;
    let checkout = step_up_checkout(&shared, &ceilings, timing).await?;
    let (steps, sustained, window) = step_up_journey(&shared, &at, ticks, timing).await?;
    // This machine has slow moments: a ceiling measured in one understates the machine and
    // flatters its ratio (run 2026-12-08T0219Z: login at 0.98 of an argon2id rate measured at
    // 83.5 hashes/s, where the run two hours before measured 110). The higher of two
    // measurements, at the run's start and at its end, is the ceiling.
    let again = raw_argon2(timing).await?;
    println!("  raw argon2id again, at the end: {again:.1} hashes/s");
    let ceilings = Measured { argon2: ceilings.argon2.max(again), ..ceilings };

    let report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        run: run.format("%Y-%m-%dT%H%MZ").to_string(),
        machine: machine(),
        warm_up_s: timing.warm_up.as_secs_f64(),
        duration_s: timing.duration.as_secs_f64(),
        headline: headline(&ceilings, &healthz, &scenarios),
        ceilings: ceilings.with_healthz(healthz),
        scenarios,
        journey: Journey { steps, sustained_requests_per_s: sustained.map(|(r, _, _)| r) },
        checkout: Some(checkout),
        resources: resource_use(&idle, window, timing),
        wall_time_s: started.elapsed().as_secs_f64(),
    };
    write(&report, &options.out_dir)?;
    Ok(report)
}

/// What the machine's own tools reach without the services: the ceilings the headline ratios
/// are taken against.
struct Measured {
    argon2: f64,
    pgbench: f64,
    redis_get: f64,
    redis_set: f64,
    mariadb: f64,
    reservations: f64,
}

impl Measured {
    fn with_healthz(&self, healthz: Vec<ScenarioResult>) -> Ceilings {
        Ceilings {
            pgbench_select_tps: self.pgbench,
            pgbench_clients: PRODUCT_CONNECTIONS,
            redis_get_per_s: self.redis_get,
            redis_set_per_s: self.redis_set,
            redis_clients: CART_CONNECTIONS,
            argon2_hashes_per_s: self.argon2,
            mariadb_charge_rows_per_s: self.mariadb,
            mariadb_clients: PAYMENT_STREAMS,
            healthz,
        }
    }
}

async fn measure_ceilings(timing: Timing) -> Result<Measured> {
    println!("ceilings");
    let argon2 = raw_argon2(timing).await?;
    println!("  raw argon2id {argon2:.1} hashes/s");
    let pgbench =
        tokio::task::spawn_blocking(move || ceilings::pgbench_select(PRODUCT_CONNECTIONS, timing.duration)).await??;
    println!("  pgbench -S {pgbench:.0} tx/s at {PRODUCT_CONNECTIONS} clients");
    let (redis_get, redis_set) = tokio::task::spawn_blocking(|| ceilings::redis_benchmark(CART_CONNECTIONS)).await??;
    println!("  redis-benchmark GET {redis_get:.0}/s SET {redis_set:.0}/s at {CART_CONNECTIONS} clients");
    let mariadb =
        tokio::task::spawn_blocking(move || ceilings::mariadb_charge_rows(PAYMENT_STREAMS, timing.duration)).await??;
    println!("  mariadb-slap {mariadb:.0} charges' rows/s at {PAYMENT_STREAMS} clients");
    let reservations = tokio::task::spawn_blocking(move || {
        checkout_ceiling::pgbench_reservations(RESERVATION_CLIENTS, timing.duration)
    })
    .await??;
    println!("  pgbench {reservations:.0} reservations (and their commits)/s at {RESERVATION_CLIENTS} clients");
    Ok(Measured { argon2, pgbench, redis_get, redis_set, mariadb, reservations })
}

async fn raw_argon2(timing: Timing) -> Result<f64> {
    tokio::task::spawn_blocking(move || ceilings::raw_argon2(timing.duration.min(std::time::Duration::from_secs(4))))
        .await?
}

/// Each scenario alone at its service's connections: the /healthz ceilings and the rest.
async fn run_scenarios(
    shared: &Arc<Shared>,
    at: &Endpoints,
    timing: Timing,
) -> (Vec<ScenarioResult>, Vec<ScenarioResult>) {
    println!(
        "scenarios ({:.0} s warm-up, {:.0} s measured each)",
        timing.warm_up.as_secs_f64(),
        timing.duration.as_secs_f64()
    );
    // (name, service, connections, operation, whether it is the service's /healthz ceiling)
    let plan: Vec<(&str, &'static str, usize, Op, bool)> = vec![
        ("auth /healthz", "auth-service", AUTH_CONNECTIONS, scenarios::healthz(shared, &at.auth), true),
        ("POST /v1/auth/login", "auth-service", AUTH_CONNECTIONS, scenarios::login(shared), false),
        ("product /healthz", "product-service", PRODUCT_CONNECTIONS, scenarios::healthz(shared, &at.product), true),
        ("GET /v1/products/{id}", "product-service", PRODUCT_CONNECTIONS, scenarios::get_product(shared), false),
        ("GET /v1/products", "product-service", PRODUCT_CONNECTIONS, scenarios::list_products(shared), false),
        ("cart /healthz", "cart-service", CART_CONNECTIONS, scenarios::healthz(shared, &at.cart), true),
        ("GET /v1/cart", "cart-service", CART_CONNECTIONS, scenarios::view_cart(shared), false),
        ("POST /v1/cart/items", "cart-service", CART_CONNECTIONS, scenarios::add_to_cart(shared), false),
        ("payment /healthz", "payment-service", PAYMENT_STREAMS, scenarios::healthz(shared, &at.payment), true),
        ("Charge (gRPC)", "payment-service", PAYMENT_STREAMS, scenarios::charge(shared), false),
    ];
    let (mut healthz, mut scenarios) = (Vec::new(), Vec::new());
    for (name, service, connections, op, ceiling) in plan {
        let result = measure(name, service, Load::Concurrency(connections), timing, op).await;
        if ceiling { &mut healthz } else { &mut scenarios }.push(result);
    }
    (healthz, scenarios)
}

/// Checkout at each of `CHECKOUT_STEPS` connections, and its ceiling: the stores' rates of the
/// run with the Redis commands a checkout took, counted over the steps (warm-ups included, at
/// the rate of their windows, as the CPU of the journey is).
async fn step_up_checkout(shared: &Arc<Shared>, ceilings: &Measured, timing: Timing) -> Result<CheckoutSaturation> {
    println!("checkout, stepping the connections up");
    let before = checkout_ceiling::redis_commands_processed()?;
    let mut steps = Vec::new();
    for connections in CHECKOUT_STEPS {
        let load = Load::Concurrency(connections);
        steps.push(
            measure("checkout (add + checkout)", "cart-service", load, timing, scenarios::checkout(shared)).await,
        );
    }
    let commands = checkout_ceiling::redis_commands_processed()? - before;
    let seconds = (timing.warm_up + timing.duration).as_secs_f64();
    let checkouts: f64 = steps.iter().map(|s| s.calls_per_s * seconds).sum();
    let per_checkout = if checkouts > 0.0 { commands / checkouts } else { 0.0 };
    let ceiling = CheckoutCeiling::new(ceilings.reservations, ceilings.mariadb, ceilings.redis_set, per_checkout);
    Ok(CheckoutSaturation::new(steps, ceiling))
}

/// The mixed journey at each of `JOURNEY_RATES` until one misses p99 < 100 ms, errs or falls
/// short of its rate: every step, the highest sustained one, and the window resource use is
/// read from (the highest sustained step, or the only one tried if none was).
async fn step_up_journey(
    shared: &Arc<Shared>,
    at: &Endpoints,
    ticks: f64,
    timing: Timing,
) -> Result<(Vec<ScenarioResult>, Option<Window>, Option<Window>)> {
    println!("mixed journey, stepping the offered rate up");
    let mut steps = Vec::new();
    let mut sustained: Option<Window> = None;
    let mut last_window = None;
    for rate in JOURNEY_RATES {
        let before = usages(at, ticks)?;
        let load = Load::Rate { per_s: rate, in_flight: JOURNEY_SHOPPERS };
        let step = measure("mixed journey", "all", load, timing, journey::journey(shared)).await;
        let after = usages(at, ticks)?;
        let passed = step.errors == 0 && step.p99_ms < 100.0 && step.calls_per_s >= rate * 0.95;
        let requests = step.requests_per_s;
        steps.push(step);
        last_window = Some((requests, before.clone(), after.clone()));
        if !passed {
            break;
        }
        sustained = Some((requests, before, after));
    }
    let window = sustained.clone().or(last_window);
    Ok((steps, sustained, window))
}

/// Each service's memory idle and under the journey, and its CPU per 1000 shopper requests
/// over `window`.
fn resource_use(idle: &[(&'static str, Idle)], window: Option<Window>, timing: Timing) -> Vec<Resources> {
    idle.iter()
        .map(|(service, idle)| {
            let (requests_per_s, before, after) = window.clone().unwrap_or((0.0, Vec::new(), Vec::new()));
            let find = |list: &[(&str, Usage)]| list.iter().find(|(s, _)| s == service).map(|(_, u)| *u);
            let (cpu, rss) = match (find(&before), find(&after)) {
                (Some(b), Some(a)) => (a.cpu_s - b.cpu_s, a.rss_mib()),
                _ => (0.0, 0.0),
            };
            // The CPU counters span warm-up and window alike, at the same offered rate.
            let requests = requests_per_s * (timing.warm_up + timing.duration).as_secs_f64();
            Resources {
                service: service.to_string(),
                idle_rss_mib: idle.rss_mib,
                idle_cpu_percent: Some(idle.cpu_percent),
                journey_rss_mib: rss,
                cpu_s_per_1000_requests: if requests > 0.0 { cpu / requests * 1000.0 } else { 0.0 },
            }
        })
        .collect()
}

/// The scenarios against what bounds them: the ratios the report leads with.
fn headline(ceilings: &Measured, healthz: &[ScenarioResult], scenarios: &[ScenarioResult]) -> Vec<Ratio> {
    let rate_of = |name: &str| scenarios.iter().chain(healthz).find(|r| r.name == name).map_or(0.0, |r| r.calls_per_s);
    vec![
        Ratio::new(
            "GET /v1/products/{id}",
            rate_of("GET /v1/products/{id}"),
            "pgbench -S",
            ceilings.pgbench,
            Some(0.7),
        ),
        Ratio::new(
            "GET /v1/products (20 a page)",
            rate_of("GET /v1/products"),
            "pgbench -S",
            ceilings.pgbench,
            Some(0.5),
        ),
        Ratio::new("GET /v1/cart", rate_of("GET /v1/cart"), "cart /healthz", rate_of("cart /healthz"), Some(0.5)),
        Ratio::new(
            "POST /v1/cart/items",
            rate_of("POST /v1/cart/items"),
            "cart /healthz",
            rate_of("cart /healthz"),
            None,
        ),
        Ratio::new("POST /v1/auth/login", rate_of("POST /v1/auth/login"), "raw argon2id", ceilings.argon2, Some(0.9)),
        Ratio::new("Charge (gRPC)", rate_of("Charge (gRPC)"), "raw MariaDB charge rows", ceilings.mariadb, Some(0.5)),
        Ratio::new("Charge (gRPC)", rate_of("Charge (gRPC)"), "payment /healthz", rate_of("payment /healthz"), None),
    ]
}

/// `<run>.json`, `<run>.md` and the plots in `dir`; `latest.md` is the newest report, with the
/// history of the runs in `dir`.
pub fn write(report: &Report, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let runs = crate::goals::runs_in(dir, report);
    let json = dir.join(format!("{}.json", report.run_id()));
    std::fs::write(&json, serde_json::to_string_pretty(report)?)?;
    let plots = match plots::draw(report, dir, report.run_id()) {
        Ok(plots) => plots,
        Err(e) => {
            eprintln!("no plots: {e:#}");
            Vec::new()
        }
    };
    let markdown = report.markdown(&plots, &runs);
    std::fs::write(dir.join(format!("{}.md", report.run_id())), &markdown)?;
    std::fs::write(dir.join("latest.md"), &markdown)?;
    println!("\nreport: {} (and .md, plots, latest.md)", json.display());
    Ok(())
}
