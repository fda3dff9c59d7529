//! Compiles the contracts cart-service uses from ../contracts (or $CONTRACTS_DIR, which the
//! Dockerfile sets) into OUT_DIR: gRPC clients for product and payment, cart's stored
//! shapes, and the event envelope and payloads it consumes. Cart serves REST only; the servers'
//! traits are generated too (with stubs answering UNIMPLEMENTED) for its tests, which stand in
//! for replicas of product in-process.
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let contracts = env::var("CONTRACTS_DIR").unwrap_or_else(|_| "../contracts".to_owned());
    let proto_root = PathBuf::from(&contracts).join("proto");
    let protos = [
        "shop/cart/v1/cart.proto",
        "shop/auth/v1/auth_service.proto",
        "shop/product/v1/product_service.proto",
        "shop/payment/v1/payment_service.proto",
        "shop/events/v1/envelope.proto",
        "shop/events/v1/product_events.proto",
        "shop/events/v1/payment_events.proto",
        "shop/events/v1/auth_events.proto",
    ]
    .map(|p| proto_root.join(p));

    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .compile_protos(&protos, std::slice::from_ref(&proto_root))?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-env-changed=CONTRACTS_DIR");
    Ok(())
}
