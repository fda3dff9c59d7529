//! The event envelope and payment events from ../contracts: the auditor decodes the outbox's
//! PaymentSucceeded records to see which payments were announced.
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let contracts = env::var("CONTRACTS_DIR").unwrap_or_else(|_| "../contracts".to_owned());
    let proto_root = PathBuf::from(&contracts).join("proto");
    tonic_prost_build::configure().build_client(false).build_server(false).compile_protos(
        &[proto_root.join("shop/events/v1/envelope.proto"), proto_root.join("shop/events/v1/payment_events.proto")],
        std::slice::from_ref(&proto_root),
    )?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-env-changed=CONTRACTS_DIR");
    Ok(())
}
