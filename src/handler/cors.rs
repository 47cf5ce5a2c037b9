//! What a function URL with a CORS config (`[function.url.cors]`) does in front of the function: it answers
//! preflight requests itself, without calling the function, and adds the CORS headers to every answer for
//! an allowed origin. `stackctl dev` applies the same rules, so a frontend sees locally what it will see on
//! AWS.

use crate::config::CorsSpec;

/// The URL's CORS behaviour for one config.
#[derive(Debug, Clone)]
pub struct Cors {
    spec: CorsSpec,
}

impl Cors {
    pub fn new(spec: CorsSpec) -> Cors {
        Cors { spec }
    }

    /// A preflight is an OPTIONS request with an `Origin` and an `Access-Control-Request-Method`.
    pub fn is_preflight(method: &str, headers: &http::HeaderMap) -> bool {
        method == "OPTIONS"
            && headers.contains_key(http::header::ORIGIN)
            && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The value of `Access-Control-Allow-Origin` for this origin, or None when it is not allowed.
    fn allow_origin(&self, origin: &str) -> Option<String> {
        let any = self.spec.allow_origins.iter().any(|o| o == "*");
        if any && !self.spec.allow_credentials {
            return Some("*".into());
        }
        let listed = self
            .spec
            .allow_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin));
        (any || listed).then(|| origin.to_string())
    }

    /// Whether a page on `origin` may call the URL (`allow_origins` lists it, or `*`).
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origin(origin).is_some()
    }

    fn method_allowed(&self, method: &str) -> bool {
        self.spec
            .allow_methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(method))
    }

    fn header_allowed(&self, header: &str) -> bool {
        self.spec
            .allow_headers
            .iter()
            .any(|h| h == "*" || h.eq_ignore_ascii_case(header))
    }

    /// The headers of the URL's answer to a preflight: the CORS headers when the origin, the method and
    /// every requested header are allowed; only `Vary: Origin` otherwise (the browser then blocks the request). Also
    /// returns why it was refused, for the access log.
    pub fn preflight(&self, headers: &http::HeaderMap) -> (Vec<(String, String)>, Option<String>) {
        let text = |name: http::header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let origin = text(http::header::ORIGIN);
        let method = text(http::header::ACCESS_CONTROL_REQUEST_METHOD);
        let requested = text(http::header::ACCESS_CONTROL_REQUEST_HEADERS);
        let Some(allow_origin) = self.allow_origin(&origin) else {
            return (
                vec![("vary".into(), "Origin".into())],
                Some(format!("origin `{origin}` is not in allow_origins")),
            );
        };
        if !self.method_allowed(&method) {
            return (
                vec![("vary".into(), "Origin".into())],
                Some(format!("method `{method}` is not in allow_methods")),
            );
        }
        let requested: Vec<&str> = requested
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(refused) = requested.iter().find(|h| !self.header_allowed(h)) {
            return (
                vec![("vary".into(), "Origin".into())],
                Some(format!("header `{refused}` is not in allow_headers")),
            );
        }
        let mut out = vec![("access-control-allow-origin".to_string(), allow_origin)];
        let methods = if self.spec.allow_methods.iter().any(|m| m == "*") {
            method.clone()
        } else {
            self.spec.allow_methods.join(", ")
        };
        out.push(("access-control-allow-methods".into(), methods));
        if !requested.is_empty() {
            out.push((
                "access-control-allow-headers".into(),
                requested.join(", ").to_ascii_lowercase(),
            ));
        }
        if let Some(max_age) = self.spec.max_age {
            out.push(("access-control-max-age".into(), max_age.to_string()));
        }
        if self.spec.allow_credentials {
            out.push(("access-control-allow-credentials".into(), "true".into()));
        }
        out.push(("vary".into(), "Origin".into()));
        (out, None)
    }

    /// The CORS headers the URL adds to the function's answer for a request with this `Origin` (none for a
    /// request without one, or from an origin that is not allowed).
    /// `Vary: Origin` on every answer: what they carry depends on the Origin, so a cache must not hand one
    /// origin's answer to another.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(String, String)> {
        let Some(allow_origin) = origin.and_then(|o| self.allow_origin(o)) else {
            return vec![("vary".into(), "Origin".into())];
        };
        let mut out = vec![("access-control-allow-origin".to_string(), allow_origin)];
        if !self.spec.expose_headers.is_empty() {
            out.push((
                "access-control-expose-headers".into(),
                self.spec.expose_headers.join(", "),
            ));
        }
        if self.spec.allow_credentials {
            out.push(("access-control-allow-credentials".into(), "true".into()));
        }
        out.push(("vary".into(), "Origin".into()));
        out
    }
}

/// What a Host header or an origin names, read from its `name[:port]` (an IPv6 address in brackets).
pub enum HostName {
    Localhost,
    Ip(std::net::IpAddr),
}

impl HostName {
    /// `localhost` or a loopback IP: this machine.
    pub fn is_loopback(&self) -> bool {
        match self {
            HostName::Localhost => true,
            HostName::Ip(ip) => ip.is_loopback(),
        }
    }
}

/// The name and port of an authority `name[:port]` as Host headers and origins write it (`[::1]:3000`,
/// `127.0.0.1`, `localhost:5173`); None for anything else: another name, a bad port, or anything after it.
pub fn host_and_port(authority: &str) -> Option<(HostName, Option<u16>)> {
    let port = |after: &str| match after {
        "" => Some(None),
        _ => after.strip_prefix(':')?.parse::<u16>().ok().map(Some),
    };
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip = inside.parse::<std::net::Ipv6Addr>().ok()?;
        return Some((HostName::Ip(ip.into()), port(after)?));
    }
    let (name, after) = authority
        .find(':')
        .map_or((authority, ""), |i| authority.split_at(i));
    let host = match name.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => HostName::Ip(ip.into()),
        Err(_) if name.eq_ignore_ascii_case("localhost") => HostName::Localhost,
        Err(_) => return None,
    };
    Some((host, port(after)?))
}

/// Whether `origin` is a page on this machine: `http://` or `https://` and `localhost` or a loopback IP
/// (`127.0.0.1`, `[::1]`), with any port. What `stackctl dev` answers when the stack has no CORS config.
pub fn is_loopback_origin(origin: &str) -> bool {
    // An origin is scheme://host[:port], nothing after.
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .and_then(host_and_port)
        .is_some_and(|(host, _)| host.is_loopback())
}

/// The browser's error for an answer that carries `Access-Control-Allow-Origin` twice (the handler's own and
/// the URL's), as Chromium words it; None when there is at most one.
pub fn duplicate_allow_origin(
    headers: &[(String, String)],
    origin: Option<&str>,
) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("access-control-allow-origin"))
        .map(|(_, v)| v.as_str())
        .collect();
    (values.len() > 1).then(|| {
        format!(
            "a browser refuses this answer: \"Access to fetch from origin '{}' has been blocked by CORS policy: \
             The 'Access-Control-Allow-Origin' header contains multiple values '{}', but only one is allowed.\" \
             The handler sends Access-Control-Allow-Origin itself while [function.url.cors] adds it too: CORS \
             must live in one place (the handler reads STACKCTL_CORS)",
            origin.unwrap_or("(none)"),
            values.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(CorsSpec {
            allow_origins: vec!["https://app.example.com".into()],
            allow_methods: vec!["GET".into(), "POST".into(), "PATCH".into(), "DELETE".into()],
            allow_headers: vec!["content-type".into()],
            expose_headers: vec![],
            max_age: Some(300),
            allow_credentials: false,
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn an_allowed_preflight_gets_the_cors_headers() {
        let request = headers(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "Content-Type"),
        ]);
        assert!(Cors::is_preflight("OPTIONS", &request));
        let (out, refused) = cors().preflight(&request);
        assert_eq!(refused, None);
        assert_eq!(
            out,
            vec![
                (
                    "access-control-allow-origin".to_string(),
                    "https://app.example.com".to_string()
                ),
                (
                    "access-control-allow-methods".into(),
                    "GET, POST, PATCH, DELETE".into()
                ),
                ("access-control-allow-headers".into(), "content-type".into()),
                ("access-control-max-age".into(), "300".into()),
                ("vary".into(), "Origin".into()),
            ]
        );
    }

    #[test]
    fn other_origins_methods_and_headers_get_none() {
        for (origin, method, header, why) in [
            ("https://evil.example", "GET", "", "origin"),
            ("https://app.example.com", "PUT", "", "method"),
            ("https://app.example.com", "GET", "x-api-key", "header"),
        ] {
            let (out, refused) = cors().preflight(&headers(&[
                ("origin", origin),
                ("access-control-request-method", method),
                ("access-control-request-headers", header),
            ]));
            assert_eq!(
                out,
                vec![("vary".to_string(), "Origin".to_string())],
                "{why}"
            );
            assert!(refused.unwrap().starts_with(why));
        }
        let vary_only = vec![("vary".to_string(), "Origin".to_string())];
        assert_eq!(
            cors().response_headers(Some("https://evil.example")),
            vary_only
        );
        assert_eq!(cors().response_headers(None), vary_only);
    }

    #[test]
    fn a_wildcard_origin_answers_star_unless_credentials_are_allowed() {
        let mut spec = CorsSpec {
            allow_origins: vec!["*".into()],
            allow_methods: vec!["*".into()],
            ..CorsSpec::default()
        };
        let star = Cors::new(spec.clone());
        assert_eq!(
            star.response_headers(Some("https://a.example"))[0].1,
            "*".to_string()
        );
        spec.allow_credentials = true;
        let echo = Cors::new(spec);
        assert_eq!(
            echo.response_headers(Some("https://a.example"))[0].1,
            "https://a.example".to_string()
        );
    }

    #[test]
    fn only_pages_on_this_machine_are_loopback_origins() {
        for origin in [
            "http://localhost:5173",
            "http://localhost",
            "https://LOCALHOST:8443",
            "http://127.0.0.1:3000",
            "http://[::1]:3000",
            "http://[::1]",
        ] {
            assert!(is_loopback_origin(origin), "{origin}");
        }
        for origin in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://localhost:5173.evil.example",
            "http://127.0.0.1.nip.io:3000",
            "http://evil.example:3000",
            "http://[::2]:3000",
            "http://localhost:3000/path",
            "http://localhost:99999",
            "null",
            "file://",
            "",
        ] {
            assert!(!is_loopback_origin(origin), "{origin}");
        }
        assert!(cors().allows("https://app.example.com"));
        assert!(!cors().allows("http://localhost:5173"));
    }

    #[test]
    fn two_allow_origin_values_are_named_as_the_browser_error() {
        let answer = vec![
            ("access-control-allow-origin".to_string(), "*".to_string()),
            (
                "access-control-allow-origin".to_string(),
                "https://app.example.com".to_string(),
            ),
        ];
        let error = duplicate_allow_origin(&answer, Some("https://app.example.com")).unwrap();
        assert!(error.contains("contains multiple values '*, https://app.example.com'"));
        assert_eq!(duplicate_allow_origin(&answer[..1], None), None);
    }
}
