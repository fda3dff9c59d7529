//! Load generator for the shop platform.
//!
//!   loadgen bench [--warm-up S] [--duration S] [--out DIR]
//!       the whole `make bench` run and its report (bench/results/<date>.{json,md,png})
//!   loadgen run SCENARIO (--concurrency N | --rate R) [--warm-up S] [--duration S]
//!       one scenario against the running platform, printed
//!   loadgen report FILE.json
//!       the markdown report and plots again from a run's JSON, beside it
//!
//! Scenarios: journey, get-product, list-products, view-cart, add-to-cart, checkout, login,
//! charge, healthz-auth, healthz-product, healthz-cart, healthz-payment.
//! Addresses: LOADGEN_{AUTH,PRODUCT,CART,PAYMENT}_URL, LOADGEN_PAYMENT_GRPC (make run's ports
//! by default), LOADGEN_AUTH_BIN (auth-service's binary, for create-admin), LOADGEN_PID_DIR.
mod ceilings;
mod checkout_ceiling;
mod driver;
mod goals;
mod journey;
mod platform;
mod plots;
mod proto;
mod report;
mod resources;
mod scenarios;
mod suite;

use anyhow::{bail, Context, Result};
use driver::{Load, Timing};
use std::{path::PathBuf, time::Duration};

struct Args {
    command: String,
    scenario: Option<String>,
    load: Option<Load>,
    timing: Timing,
    out_dir: PathBuf,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let command = args.next().context("usage: loadgen bench | loadgen run SCENARIO (--concurrency N | --rate R)")?;
    let mut parsed = Args {
        command,
        scenario: None,
        load: None,
        timing: Timing { warm_up: Duration::from_secs(2), duration: Duration::from_secs(8) },
        out_dir: PathBuf::from("../bench/results"),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        let seconds = |v: String| -> Result<Duration> { Ok(Duration::from_secs_f64(v.parse().context("seconds")?)) };
        match arg.as_str() {
            "--warm-up" => parsed.timing.warm_up = seconds(value("--warm-up")?)?,
            "--duration" => parsed.timing.duration = seconds(value("--duration")?)?,
            "--out" => parsed.out_dir = PathBuf::from(value("--out")?),
            "--concurrency" => {
                parsed.load = Some(Load::Concurrency(value("--concurrency")?.parse().context("--concurrency")?))
            }
            "--rate" => {
                let per_s: f64 = value("--rate")?.parse().context("--rate")?;
                parsed.load = Some(Load::Rate { per_s, in_flight: 256 });
            }
            other if !other.starts_with("--") && parsed.scenario.is_none() => parsed.scenario = Some(other.to_owned()),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(parsed)
}

async fn run_one(name: &str, load: Load, timing: Timing) -> Result<()> {
    let at = platform::Endpoints::from_env();
    let client = platform::http_client()?;
    suite::ready(&client, &at).await?;
    let shoppers = match load {
        Load::Concurrency(n) => n,
        Load::Rate { in_flight, .. } => in_flight,
    };
    let shared = suite::connect(client, &at, shoppers).await?;
    let (service, op): (&'static str, scenarios::Op) = match name {
        "journey" => ("all", journey::journey(&shared)),
        "get-product" => ("product-service", scenarios::get_product(&shared)),
        "list-products" => ("product-service", scenarios::list_products(&shared)),
        "view-cart" => ("cart-service", scenarios::view_cart(&shared)),
        "add-to-cart" => ("cart-service", scenarios::add_to_cart(&shared)),
        "checkout" => ("cart-service", scenarios::checkout(&shared)),
        "login" => ("auth-service", scenarios::login(&shared)),
        "charge" => ("payment-service", scenarios::charge(&shared)),
        "healthz-auth" => ("auth-service", scenarios::healthz(&shared, &at.auth)),
        "healthz-product" => ("product-service", scenarios::healthz(&shared, &at.product)),
        "healthz-cart" => ("cart-service", scenarios::healthz(&shared, &at.cart)),
        "healthz-payment" => ("payment-service", scenarios::healthz(&shared, &at.payment)),
        other => bail!("unknown scenario {other}"),
    };
    // Whoever drives a fault around this run (tools/chaos) waits for this line.
    println!("measuring {name}");
    let result = suite::measure(name, service, load, timing, op).await;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse(std::env::args().skip(1))?;
    match args.command.as_str() {
        "bench" => suite::run(suite::Options { timing: args.timing, out_dir: args.out_dir }).await.map(drop),
        "run" => {
            let scenario = args.scenario.context("loadgen run SCENARIO: which scenario?")?;
            let load = args.load.context("loadgen run: --concurrency N or --rate R")?;
            run_one(&scenario, load, args.timing).await
        }
        "report" => {
            let file = PathBuf::from(args.scenario.context("loadgen report FILE.json")?);
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let report: report::Report =
                serde_json::from_str(&text).with_context(|| format!("{} is not a report", file.display()))?;
            suite::write(&report, file.parent().unwrap_or(std::path::Path::new(".")))
        }
        other => bail!("unknown command {other}: loadgen bench | loadgen run SCENARIO | loadgen report FILE.json"),
    }
}
