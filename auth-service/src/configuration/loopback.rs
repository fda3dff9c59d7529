//! Production's guard against a deployment that forgot an address: a remote dependency (a
//! database, the broker, another service) left at its local default points at the pod itself,
//! and the service would start and fail every request instead of refusing to start.
use std::net::IpAddr;

/// The first host in `address` that is this machine: `address` is a URL
/// (`scheme://[user[:password]@]host[:port][/…]`) or a comma-separated `host:port` list. Only
/// the host is returned, so a secret URL's password never reaches an error message.
pub fn loopback_host(address: &str) -> Option<&str> {
    address.split(',').map(host_of).find(|host| is_loopback(host))
}

fn host_of(address: &str) -> &str {
    let address = address.trim();
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or(bracketed);
    }
    host_port.rsplit_once(':').map_or(host_port, |(host, _)| host)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_unspecified(),
            Ok(IpAddr::V6(ip)) => {
                ip.is_loopback() || ip.is_unspecified() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
            Err(_) => false,
        }
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn every_spelling_of_this_machine_is_found() {
        for address in [
            "http://127.0.0.1:8081",
            "http://localhost:8081/.well-known/jwks.json",
            "postgres://u:p@127.0.0.1:5432/db",
            "redis://:secret@LOCALHOST.:6379",
            "kafka:9092,127.0.0.2:9092",
            "http://[::1]:50052",
            "http://[::ffff:127.0.0.1]:50052",
            "0.0.0.0:9092",
            "mysql://u@db.localhost/x",
        ] {
            assert!(loopback_host(address).is_some(), "{address}");
        }
    }

    #[test]
    fn remote_hosts_pass_and_a_password_is_never_returned() {
        for address in [
            "http://auth-service:8081",
            "postgres://u:127.0.0.1@db:5432/x",
            "kafka-0.kafka:9092,kafka-1.kafka:9092",
            "https://api.stripe.com",
            "http://[2001:db8::1]:80",
            "10.0.0.7:9092",
        ] {
            assert_eq!(loopback_host(address), None, "{address}");
        }
        assert_eq!(loopback_host("redis://:hunter2@127.0.0.1:6379"), Some("127.0.0.1"));
    }
}
