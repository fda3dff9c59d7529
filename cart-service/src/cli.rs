//! Command line: `cart-service [serve]` runs the service; `cart-service openapi` prints the
//! REST API's OpenAPI document.
use crate::{configuration::Settings, startup::Application, telemetry, SERVICE_NAME};
use std::process::ExitCode;

const USAGE: &str = "usage: cart-service [serve | openapi | healthcheck]\n\
  serve    run the HTTP server (the default)\n\
  openapi  print the REST API's OpenAPI document (what GET /openapi.json serves)\n\
  healthcheck  exit 0 when this machine's instance answers GET /readyz with 200\n\
Settings come from CART_* environment variables; see README.md.";

pub async fn run(args: Vec<String>) -> ExitCode {
    match args.first().map(String::as_str) {
        None | Some("serve") => {}
        Some("openapi") => {
            // Needs no settings: the document is the code's.
            print!("{}", crate::http::openapi::document());
            return ExitCode::SUCCESS;
        }
        // The container image's health probe (no shell or curl in it): crate::healthcheck.
        Some("healthcheck") => return crate::healthcheck::run(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("{SERVICE_NAME}: unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{SERVICE_NAME}: {error}");
            return ExitCode::from(1);
        }
    };
    let telemetry = match telemetry::init(&settings.log_filter, std::io::stdout) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{SERVICE_NAME}: starting telemetry failed: {error:#}");
            return ExitCode::from(1);
        }
    };

    let code = match serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "exiting on error");
            eprintln!("{SERVICE_NAME}: {error:#}");
            ExitCode::FAILURE
        }
    };
    // Flushing spans blocks; keep it off the runtime's worker threads.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings).await?.run_until_stopped().await
}
