//! Command line: `auth-service [serve]` runs the service, `auth-service migrate` applies the
//! database migrations and exits (the Kubernetes pre-install/pre-upgrade hook),
//! `auth-service create-admin EMAIL` makes an admin account.
use crate::{
    accounts::Accounts, configuration::Settings, db, startup::Application, telemetry, tokens::AccessTokens,
    SERVICE_NAME,
};
use anyhow::Context;
use std::{io::Read, process::ExitCode, sync::Arc};

const USAGE: &str =
    "usage: auth-service [serve | migrate | create-admin EMAIL | openapi | healthcheck | sleep SECONDS]\n\
  serve               run the HTTP and gRPC servers (the default)\n\
  migrate             apply pending database migrations and exit\n\
  create-admin EMAIL  create an admin account (or make an existing one admin), reading\n\
                      the password from standard input\n\
  openapi             print the REST API's OpenAPI document (what GET /openapi.json serves)\n\
  healthcheck         exit 0 when this machine's instance answers GET /readyz with 200\n\
  sleep SECONDS       wait, then exit 0 (the pods' preStop pause: the image has no sleep)\n\
Settings come from AUTH_* environment variables; see README.md.";

enum Command {
    Serve,
    Migrate,
    CreateAdmin(String),
}

pub async fn run(args: Vec<String>) -> ExitCode {
    let command = match args.first().map(String::as_str) {
        None | Some("serve") => Command::Serve,
        Some("migrate") => Command::Migrate,
        Some("create-admin") => match args.get(1) {
            Some(email) => Command::CreateAdmin(email.clone()),
            None => {
                eprintln!("{SERVICE_NAME}: create-admin needs an e-mail address\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        Some("openapi") => {
            // Needs no settings: the document is the code's.
            print!("{}", crate::http::openapi::document());
            return ExitCode::SUCCESS;
        }
        // The container image's health probe (no shell or curl in it): crate::healthcheck.
        Some("healthcheck") => return crate::healthcheck::run(),
        // The chart's preStop hook: the image has no `sleep` program.
        Some("sleep") => return pause(args.get(1).map(String::as_str)).await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("{SERVICE_NAME}: unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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

    let result = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => db::run_migrations(&settings.database).await,
        Command::CreateAdmin(email) => create_admin(settings, &email).await,
    };
    let code = match result {
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

async fn create_admin(settings: Settings, email: &str) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    db::run_migrations(&settings.database).await?;
    let pool = db::build_pool(&settings.database)?;
    let (_, migrated) = tokio::sync::watch::channel(true);
    let tokens = Arc::new(AccessTokens::new(&settings.tokens)?);
    // No relay runs here: the service's relay publishes the event within its idle poll.
    let accounts = Accounts::new(&settings, pool, migrated, tokens, Arc::new(tokio::sync::Notify::new()))?;
    let user_id = accounts.create_admin(email, password).await.map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    println!("{user_id}");
    tracing::info!(%user_id, "admin account ready");
    Ok(())
}

/// The longest preStop pause taken: longer belongs to terminationGracePeriodSeconds.
const MAX_PAUSE_SECS: u64 = 300;

/// `sleep SECONDS`: waits while the endpoints controller takes the pod out of rotation, so it
/// stops being sent requests before SIGTERM makes it stop accepting them. The image is FROM
/// scratch, so the hook cannot run a `sleep` program.
async fn pause(seconds: Option<&str>) -> ExitCode {
    match seconds.and_then(|s| s.parse::<u64>().ok()).filter(|s| *s <= MAX_PAUSE_SECS) {
        Some(seconds) => {
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("{SERVICE_NAME}: sleep takes a whole number of seconds, 0 to {MAX_PAUSE_SECS}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
