//! `payment-service healthcheck`: the container's health probe. The runtime image has no shell and no
//! curl (it holds the binary and the libraries it links), so the binary asks its own
//! `GET /readyz` on loopback and exits 0 when the answer is 200, 1 otherwise.
use crate::{configuration::Settings, SERVICE_NAME};
use std::{
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    process::ExitCode,
    time::Duration,
};

/// Docker kills a probe at its own timeout; answer well before a 3 s one.
const TIMEOUT: Duration = Duration::from_secs(2);

pub fn run() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{SERVICE_NAME}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match ready(settings.http_port) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("{SERVICE_NAME}: /readyz did not answer 200");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("{SERVICE_NAME}: /readyz on port {}: {error}", settings.http_port);
            ExitCode::FAILURE
        }
    }
}

/// True when `GET /readyz` on 127.0.0.1:`port` answers 200.
pub fn ready(port: u16) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line)?;
    Ok(&status_line[9..12] == b"200")
}
