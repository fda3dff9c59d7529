//! Who is calling: the address the login and sign-up throttles count. The TCP peer, unless
//! the peer is one of the configured proxies; then the nearest address in `X-Forwarded-For`
//! that is not a proxy. A header from anyone else is ignored: a client could write anything
//! there and so start afresh on every request.
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::{net::IpAddr, str::FromStr};

/// `AUTH_TRUSTED_PROXIES`: addresses and ranges, e.g. `10.0.0.0/8,192.0.2.7`. Empty by default:
/// no header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| ()))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

pub fn client_address(req: &HttpRequest, proxies: &TrustedProxies) -> IpAddr {
    // actix gives every connection a peer; a unit test request has none.
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    resolve(peer, forwarded, proxies)
}

/// Walks the chain from the nearest hop back: every hop a trusted proxy vouches for is
/// believed, the first one that is not a proxy is the client. An unreadable entry stops the
/// walk at the last hop known.
fn resolve<'a>(peer: IpAddr, forwarded: impl DoubleEndedIterator<Item = &'a str>, proxies: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    let hops: Vec<&str> = forwarded.flat_map(|header| header.split(',')).collect();
    for hop in hops.into_iter().rev() {
        if !proxies.contains(client) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => client = ip,
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.0.2.7".parse().unwrap();
        assert_eq!(resolve(ip("203.0.113.9"), ["198.51.100.1"].into_iter(), &proxies), ip("203.0.113.9"));
        assert_eq!(resolve(ip("10.1.2.3"), ["198.51.100.1"].into_iter(), &proxies), ip("198.51.100.1"));
        assert_eq!(resolve(ip("192.0.2.7"), ["198.51.100.1"].into_iter(), &TrustedProxies::default()), ip("192.0.2.7"));
    }

    #[test]
    fn a_forged_first_hop_does_not_hide_the_client() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // The client wrote "1.2.3.4" itself; the proxies appended what they saw.
        let chain = ["1.2.3.4, 198.51.100.1", "10.0.0.5"];
        assert_eq!(resolve(ip("10.0.0.6"), chain.into_iter(), &proxies), ip("198.51.100.1"));
        assert_eq!(resolve(ip("10.0.0.6"), ["junk"].into_iter(), &proxies), ip("10.0.0.6"));
    }

    #[test]
    fn malformed_proxy_lists_are_refused() {
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }
}
