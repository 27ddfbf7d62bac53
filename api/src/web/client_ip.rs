//! Who the client is, by address: the socket's peer, or — only when that peer is a proxy listed
//! in INTAKE_TRUSTED_PROXIES — the address the proxies recorded in X-Forwarded-For.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client behind `peer`. X-Forwarded-For is read from the right (nearest hop first), skipping
/// our own trusted proxies; the first address that is not one of them is the client. Anything a
/// client writes further left is ignored, since it cannot be told from forgery.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.iter().rev().find(|ip| !is_trusted(ip)).copied().or(hops.first().copied()).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        assert_eq!(resolve(proxy, &headers("198.51.100.7"), &trusted).to_string(), "198.51.100.7");
        // A client-supplied entry to the left is not believed.
        assert_eq!(resolve(proxy, &headers("6.6.6.6, 198.51.100.7, 10.0.0.1"), &trusted).to_string(), "198.51.100.7");
        // Untrusted peers cannot choose their address.
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(resolve(stranger, &headers("198.51.100.7"), &trusted), stranger);
        assert_eq!(resolve(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
