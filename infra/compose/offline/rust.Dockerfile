# Stand-in for Docker Hub's rust:1.95-bookworm (offline harness only; base-images.sh): Debian
# bookworm with the build tools that image carries and this machine's Rust 1.95 toolchain.
FROM shop-offline/bookworm:minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libssl-dev git curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ADD toolchain.tar /usr/local/rust/
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN cargo --version && rustc --version
