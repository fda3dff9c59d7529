use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    payment_service::cli::run(std::env::args().skip(1).collect()).await
}
