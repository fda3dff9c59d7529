//! Compiles the gRPC and event contracts from ../contracts (or $CONTRACTS_DIR, which the
//! Dockerfile sets) into OUT_DIR, with a descriptor set for gRPC server reflection.
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let contracts = env::var("CONTRACTS_DIR").unwrap_or_else(|_| "../contracts".to_owned());
    let proto_root = PathBuf::from(&contracts).join("proto");
    let protos = [
        "shop/product/v1/product_service.proto",
        "shop/events/v1/envelope.proto",
        "shop/events/v1/product_events.proto",
        "shop/events/v1/payment_events.proto",
    ]
    .map(|p| proto_root.join(p));

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Methods later work fills in answer UNIMPLEMENTED until they exist.
        .generate_default_stubs(true)
        .file_descriptor_set_path(out_dir.join("product_descriptor.bin"))
        .compile_protos(&protos, std::slice::from_ref(&proto_root))?;
    // auth's API, which this service calls (its session check): generated apart so that it is
    // not in the descriptor set above, which lists what this service serves (reflection).
    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .compile_protos(&[proto_root.join("shop/auth/v1/auth_service.proto")], std::slice::from_ref(&proto_root))?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=CONTRACTS_DIR");
    Ok(())
}
