//! Which requests dev serves at all: only those for this server (its Host) from the developer's own pages
//! (their Origin), so that another site's page cannot call the API with the developer's credentials.

use std::net::SocketAddr;

use crate::handler::cors::{host_and_port, is_loopback_origin, Cors, HostName};

/// Whether dev serves this request: its Host must name this server (a loopback name or the bound address,
/// so a page that rebinds its own DNS name to 127.0.0.1 is refused) and its Origin, when it has one, must be
/// allowed by [function.url.cors] (or, without it, be a loopback origin). A request without an Origin (curl,
/// the CLI, a same-origin GET) passes. Err: the status (421 or 403) and why.
pub(super) fn admit(
    parts: &http::request::Parts,
    origin: Option<&str>,
    cors: Option<&Cors>,
    bound: SocketAddr,
) -> Result<(), (u16, String)> {
    // Every copy of the header counts: an allowed first Host or Origin does not vouch for a second one.
    let hosts: Vec<String> = parts
        .headers
        .get_all(http::header::HOST)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .chain(parts.uri.authority().map(|a| a.as_str().to_string()))
        .collect();
    if hosts.is_empty() {
        return Err((
            421,
            "stackctl dev refuses a request without a Host header".into(),
        ));
    }
    if let Some(host) = hosts.iter().find(|h| !host_allowed(h, bound)) {
        return Err((
            421,
            format!(
                "stackctl dev answers requests for localhost, 127.0.0.1, [::1] or {} only, not for Host `{host}` \
                 (a page that points its own name at this machine is refused)",
                bound
            ),
        ));
    }
    let origins = parts.headers.get_all(http::header::ORIGIN);
    if origins.iter().count() > 1 {
        return Err((
            403,
            "stackctl dev refuses a request with more than one Origin header".into(),
        ));
    }
    // An Origin that is there but not text is not "no Origin".
    if origin.is_none() && origins.iter().next().is_some() {
        return Err((
            403,
            "stackctl dev refuses a request whose Origin header is not text".into(),
        ));
    }
    let Some(origin) = origin else {
        // No Origin: curl and the CLI, a same-origin GET, a link the developer follows. A browser marks a
        // request another site's page makes without one (an <img>, a <script>: a no-cors GET) with
        // `Sec-Fetch-Site: cross-site`; only a top-level navigation of those is served.
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        if header("sec-fetch-site").as_deref() == Some("cross-site")
            && header("sec-fetch-mode").as_deref() != Some("navigate")
        {
            return Err((
                403,
                "stackctl dev refuses a request another site's page made without an Origin \
                 (Sec-Fetch-Site: cross-site): open the URL yourself, or call it with fetch from an allowed origin"
                    .into(),
            ));
        }
        return Ok(());
    };
    match cors {
        Some(cors) if cors.allows(origin) => Ok(()),
        Some(_) => Err((
            403,
            format!(
                "stackctl dev refuses requests from origin `{origin}`: it is not in [function.url.cors] \
                 allow_origins (add it there to call the API from that page)"
            ),
        )),
        None if is_loopback_origin(origin) => Ok(()),
        None => Err((
            403,
            format!(
                "stackctl dev refuses requests from origin `{origin}`: without [function.url.cors] it answers \
                 pages on http://localhost, http://127.0.0.1 and http://[::1] (any port) only; add the page's \
                 origin to [function.url.cors] allow_origins"
            ),
        )),
    }
}

/// Whether a Host (`name[:port]`) names this server: `localhost` or a loopback IP with any port (a local
/// proxy may forward its own Host), or the address dev is bound to, with its port or none.
fn host_allowed(host: &str, bound: SocketAddr) -> bool {
    match host_and_port(host.trim()) {
        Some((name, _)) if name.is_loopback() => true,
        Some((HostName::Ip(ip), port)) => {
            ip == bound.ip() && port.is_none_or(|p| p == bound.port())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_and_the_bound_address_are_hosts() {
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        for host in [
            "127.0.0.1:3000",
            "127.0.0.1",
            "localhost:3000",
            "LocalHost",
            "localhost:5173",
            "[::1]:3000",
            "[::1]",
            "127.0.0.2:3000",
        ] {
            assert!(host_allowed(host, local), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example:3000",
            "127.0.0.1.nip.io:3000",
            "192.168.1.5:3000",
            "localhost:notaport",
            "[::1",
            "[::1]x",
            "::1",
            "",
        ] {
            assert!(!host_allowed(host, local), "{host}");
        }
        // Bound to a LAN address (`--host`): that address, with its port or none, too.
        let lan: SocketAddr = "192.168.1.5:3000".parse().unwrap();
        assert!(host_allowed("192.168.1.5:3000", lan));
        assert!(host_allowed("192.168.1.5", lan));
        assert!(!host_allowed("192.168.1.5:8080", lan));
        assert!(host_allowed("localhost:3000", lan));
        let v6: SocketAddr = "[fd00::5]:3000".parse().unwrap();
        assert!(host_allowed("[fd00::5]:3000", v6));
        assert!(!host_allowed("[fd00::6]:3000", v6));
    }
}
