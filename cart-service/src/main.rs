use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    cart_service::cli::run(std::env::args().skip(1).collect()).await
}
