//! The consistency auditor (`make audit`): reads every store of the platform and reports what
//! breaks its promises; exit 1 when anything does, 2 when a store cannot be read.
//!
//!   auditor [--grace SECONDS] [--json]
//!
//! Checks (each violation names the ids involved):
//!   stock       a product's reserved count differs from the lines of its open reservations
//!   ledger      stock on hand is not initial ± adjustments − sold by its stock ledger, a change
//!               of stock has no reason (made outside the service), or the units the ledger
//!               sold differ from the lines of committed reservations
//!   paid-lines  a committed checkout's payment names other products or quantities than its
//!               reservation sold
//!   paid-open   a payment succeeded for a checkout whose reservation is not committed
//!   committed   a reservation committed with no successful payment for its checkout
//!   double      more than one successful payment for one checkout (a double charge)
//!   event       a succeeded payment whose PaymentSucceeded event is not marked sent
//!   order       an order in auth's history with no payment behind it
//!   refund-stuck  a refund still pending after the grace period
//!   history-refund  an order whose history shows less refunded than the gateway gave back
//!   outbox      outbox rows older than the grace period still unsent (any service)
//!
//! Rows younger than --grace (60 s) are left alone: a checkout in flight is not a violation.
//! Databases: AUDIT_AUTH_DB, AUDIT_PRODUCT_DB, AUDIT_PAYMENT_DB (auth, product, payment);
//! servers: PGHOST/PGPORT, AUDIT_MYSQL_HOST/AUDIT_MYSQL_PORT; logins as `make setup` creates
//! them. Read-only: every session is set read-only before the first query.
mod checks;
mod proto;
mod stores;

use std::process::ExitCode;

const USAGE: &str = "usage: auditor [--grace SECONDS] [--json]";

#[tokio::main]
async fn main() -> ExitCode {
    let (mut grace, mut json) = (60_i64, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--grace" => match args.next().and_then(|s| s.parse().ok()).filter(|s: &i64| *s >= 0) {
                Some(seconds) => grace = seconds,
                None => {
                    eprintln!("auditor: --grace needs a number of seconds\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}\nSee the top of src/main.rs or README.md for the checks.");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("auditor: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let found = match run(grace).await {
        Ok(found) => found,
        Err(error) => {
            eprintln!("audit: cannot read a store: {error:#} — is the platform set up (make run)?");
            return ExitCode::from(2);
        }
    };
    if json {
        match serde_json::to_string_pretty(&found) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("audit: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        for violation in &found {
            let ids: Vec<String> = violation.ids.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("VIOLATION {}: {} {}", violation.check, violation.detail, ids.join(" "));
        }
        println!("audit: {} violation(s)", found.len());
    }
    if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn run(grace: i64) -> anyhow::Result<Vec<checks::Violation>> {
    let mut stores = stores::Stores::connect().await?;
    checks::audit(&mut stores, grace).await
}
