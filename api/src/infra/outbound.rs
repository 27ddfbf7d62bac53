//! Requests to addresses the firm's admins typed in (webhook endpoints), guarded against
//! server-side request forgery: `https` only unless allowed, no redirects, a short timeout,
//! and every address a name resolves to checked at every connection, so that a name which
//! re-resolves to 127.0.0.1 or a cloud metadata address is refused too.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundSettings {
    /// `INTAKE_WEBHOOK_ALLOW_HTTP`: plain `http://` URLs too.
    pub allow_http: bool,
    /// `INTAKE_WEBHOOK_ALLOW_PRIVATE`: loopback, private and link-local addresses too.
    pub allow_private: bool,
}

/// The URL, if it may be called: a scheme allowed, a host, and (for an address written out)
/// an address allowed. Names are checked when they are resolved.
pub fn check_url(raw: &str, settings: OutboundSettings) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http => {}
        "http" => return Err("must be https (plain http is allowed only with INTAKE_WEBHOOK_ALLOW_HTTP=on)".into()),
        other => return Err(format!("must be https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let ip = match url.host() {
        None => return Err("has no host".into()),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(ip) = ip.filter(|ip| !settings.allow_private && is_internal(*ip)) {
        return Err(format!(
            "points at {ip}, a private or reserved address (allowed only with INTAKE_WEBHOOK_ALLOW_PRIVATE=on)"
        ));
    }
    Ok(url)
}

/// Loopback, private, link-local (cloud metadata at 169.254.169.254 among them), unique-local,
/// shared (carrier-grade NAT; Alibaba's metadata at 100.100.100.200), unspecified, broadcast,
/// multicast and reserved addresses, and IPv6 forms of any of them.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // 64:ff9b::/96 translates to IPv4: judge the address it carries.
                || (first == 0x64 && v6.segments()[1] == 0xff9b && {
                    let o = v6.octets();
                    is_internal_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
                })
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || a >= 240
}

/// Resolves names as usual, then keeps only the addresses allowed.
struct Guarded;

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| !is_internal(a.ip())).collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = format!(
                    "refused: {host} resolves to a private or reserved address ({}); allowed only with INTAKE_WEBHOOK_ALLOW_PRIVATE=on",
                    found.first().map(|a| a.ip().to_string()).unwrap_or_else(|| "none".into())
                )
                .into();
                return Err(err);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A client for such requests: `timeout` for the whole exchange, no redirects, no proxies
/// from the environment, and (unless private addresses are allowed) the guarded resolver.
pub fn client(settings: OutboundSettings, timeout: Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Intake-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !settings.allow_private {
        builder = builder.dns_resolver(Arc::new(Guarded));
    }
    builder.build().expect("the HTTP client builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let strict = OutboundSettings::default();
        assert!(check_url("https://hooks.example.com/intake", strict).is_ok());
        assert!(check_url("http://hooks.example.com/intake", strict).unwrap_err().contains("https"));
        assert!(check_url("https://127.0.0.1/x", strict).unwrap_err().contains("private"));
        assert!(check_url("https://[::1]/x", strict).unwrap_err().contains("private"));
        assert!(check_url("https://user:pw@hooks.example.com/", strict).is_err());
        assert!(check_url("ftp://hooks.example.com/", strict).is_err());
        let open = OutboundSettings { allow_http: true, allow_private: true };
        assert!(check_url("http://127.0.0.1:9000/x", open).is_ok());
    }
}
