//! `[auth]`: who is calling, verified by the handler from a token (issue 23). Two forms: an external OIDC
//! issuer (`issuer` + `audience`, optional `jwks_url`), or `cognito = true`: a user pool and its public app
//! client that stackctl creates and owns (resources/user_pool.rs, resources/user_pool_client.rs), named
//! after the stack and stage. The handler reads the result from `AUTH_VARIABLES`, which stackctl sets on
//! the function (resources/function) and on local runs; the managed form's values (the pool id, the
//! client id) are known only once the pool exists, so the resources give them, not this spec.

use super::errors::line_col;
use super::raw::RawAuth;
use super::resolve::Checker;
use super::{ConfigError, CorsSpec};

/// The issuer the token's `iss` must equal.
pub const AUTH_ISSUER_VARIABLE: &str = "STACKCTL_AUTH_ISSUER";
/// The audience the token's `aud` must contain.
pub const AUTH_AUDIENCE_VARIABLE: &str = "STACKCTL_AUTH_AUDIENCE";
/// The JWKS to verify against (else the issuer's discovery document gives it).
pub const AUTH_JWKS_URL_VARIABLE: &str = "STACKCTL_AUTH_JWKS_URL";
/// Cognito access tokens' client id (the managed pool, a later slice): reserved already.
pub const AUTH_CLIENT_ID_VARIABLE: &str = "STACKCTL_AUTH_CLIENT_ID";

/// Every variable `[auth]` sets: reserved in `[function.environment]`, and removed from the function by the
/// up that follows the section's removal (they are stackctl's own, never someone else's).
pub const AUTH_VARIABLES: [&str; 4] = [
    AUTH_ISSUER_VARIABLE,
    AUTH_AUDIENCE_VARIABLE,
    AUTH_JWKS_URL_VARIABLE,
    AUTH_CLIENT_ID_VARIABLE,
];

/// The request header the token travels in: allowed by the URL's CORS config whenever `[auth]` is on.
pub const AUTHORIZATION_HEADER: &str = "authorization";

/// `[auth] cognito = true`: the pool's and its app client's physical names (`<stack>[-<stage>]-users`, the
/// same for both: a pool's client names are its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedAuth {
    pub pool_name: String,
    pub client_name: String,
}

/// Cognito's rule for a user pool's (and an app client's) name: 1-128 characters of `[\w\s+=,.@-]`
/// (CreateUserPool's `PoolName`, CreateUserPoolClient's `ClientName`).
pub fn pool_name_problem(name: &str) -> Option<String> {
    let len = name.chars().count();
    if len == 0 || len > 128 {
        return Some(format!("is {len} characters long; Cognito allows 1 to 128"));
    }
    let bad = name.chars().find(|c| {
        !(c.is_alphanumeric() || *c == '_' || c.is_whitespace() || "+=,.@-".contains(*c))
    });
    bad.map(|c| format!("has `{}`, which Cognito does not allow in a pool name (letters, digits, spaces and _+=,.@- only)", c.escape_debug()))
}

/// `[auth]`, checked: an external OIDC issuer, or the managed pool (`managed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSpec {
    /// `auth.issuer`: an https URL without query or fragment, compared exactly with the token's `iss`.
    /// Empty for the managed pool (its issuer names the pool's id, known once it exists).
    pub issuer: String,
    /// `auth.audience`: what the token's `aud` must contain. Empty for the managed pool.
    pub audience: String,
    /// `auth.jwks_url`: https, or http on a loopback host (a local issuer for dev and tests).
    pub jwks_url: Option<String>,
    /// Whether stackctl added `authorization` to `[function.url.cors] allow_headers` (the file's list did
    /// not have it): plan says so.
    pub added_cors_header: bool,
    /// `cognito = true`: the pool and client stackctl manages (None: the issuer form).
    pub managed: Option<ManagedAuth>,
}

impl AuthSpec {
    /// Whether the issuer is a Cognito user pool (`https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    /// Cognito's access tokens carry no `aud`: the app client is their `client_id`, and only its ID tokens
    /// have `aud`. An API must take access tokens, never ID tokens, so for a pool the audience is checked
    /// as the client id (with `token_use = access`), not as `aud`.
    pub fn is_cognito(&self) -> bool {
        url::Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .is_some_and(|host| {
                host.starts_with("cognito-idp.")
                    && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
            })
    }

    /// The function's variables for it (AUTH-CONTRACT: the issuer; the audience, or for a Cognito pool the
    /// app client id; the JWKS URL when given). None for the managed pool: the pool and its client give
    /// theirs (resources/user_pool_client.rs, `managed_variables`).
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        if self.managed.is_some() {
            return Vec::new();
        }
        let audience = if self.is_cognito() {
            AUTH_CLIENT_ID_VARIABLE
        } else {
            AUTH_AUDIENCE_VARIABLE
        };
        let mut variables = vec![
            (AUTH_ISSUER_VARIABLE, self.issuer.clone()),
            (audience, self.audience.clone()),
        ];
        if let Some(jwks) = &self.jwks_url {
            variables.push((AUTH_JWKS_URL_VARIABLE, jwks.clone()));
        }
        variables
    }
}

/// `authorization` added to a CORS config's allowed request headers, unless already there (in any case; a
/// `*` does not cover it: browsers never let a wildcard allow `Authorization`). True when added.
pub fn allow_authorization(cors: &mut CorsSpec) -> bool {
    if cors
        .allow_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case(AUTHORIZATION_HEADER))
    {
        return false;
    }
    cors.allow_headers.push(AUTHORIZATION_HEADER.to_string());
    true
}

/// Why `url` is not an acceptable URL for `what` (None: it is). `loopback_http`: http allowed on a loopback
/// host. The URL must also parse as the handler's `new URL()` parses it (the WHATWG rules, which the `url`
/// crate follows): a port out of range or a malformed host is refused here, not by every request at run time.
fn url_problem(url: &str, loopback_http: bool) -> Option<String> {
    let parsed = url::Url::parse(url);
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        // The host as the handler will connect to it, not as written (`http://[::1]evil.com/` does not
        // parse; `http://127.0.0.1:80evil.com/` neither).
        let loopback = match parsed.as_ref().ok().and_then(|u| u.host()) {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            None => false,
        };
        if !(loopback_http && loopback) {
            return Some(if loopback_http {
                "is http on a host that is not loopback: tokens' keys must come over https"
                    .to_string()
            } else {
                "is not https".to_string()
            });
        }
        rest
    } else {
        return Some("is not an https URL".to_string());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Some("has no host".to_string());
    }
    if authority.contains('@') {
        return Some("has a user name in it".to_string());
    }
    if url.contains(['?', '#']) {
        return Some("has a query or a fragment".to_string());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("has a space or a control character in it".to_string());
    }
    match parsed {
        Err(err) => Some(format!("is not a valid URL ({err})")),
        Ok(u) if u.host_str().is_none_or(|h| h.is_empty() || h.contains('%')) => {
            Some("has no valid host".to_string())
        }
        Ok(_) => None,
    }
}

impl Checker<'_> {
    /// `[auth]` (None: the section is absent).
    pub(super) fn auth(
        &self,
        raw: Option<&RawAuth>,
        stack_name: &str,
    ) -> Result<Option<AuthSpec>, ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        if let Some(cognito) = raw.cognito.as_ref().filter(|c| *c.get_ref()) {
            // The managed pool: its issuer, client and keys are the pool's own, never written.
            let given = [
                ("issuer", raw.issuer.as_ref().map(|v| v.span())),
                ("audience", raw.audience.as_ref().map(|v| v.span())),
                ("jwks_url", raw.jwks_url.as_ref().map(|v| v.span())),
            ];
            if let Some((key, Some(span))) = given.into_iter().find(|(_, s)| s.is_some()) {
                return Err(self.error(
                    span,
                    &format!("auth.{key}"),
                    format!(
                        "`{key}` with `cognito = true`: the pool stackctl manages is the issuer, its app \
                         client the audience and its keys the JWKS"
                    ),
                    "remove `issuer`, `audience` and `jwks_url` to use the managed pool, or remove \
                     `cognito = true` to trust an existing issuer",
                ));
            }
            let name = match self.stage {
                Some(stage) => format!("{stack_name}-{stage}-users"),
                None => format!("{stack_name}-users"),
            };
            if let Some(problem) = pool_name_problem(&name) {
                return Err(self.error(
                    cognito.span(),
                    "auth.cognito",
                    format!("the user pool's name `{}` {problem}", name.escape_debug()),
                    "use a shorter stack or stage name (the pool is named `<stack>[-<stage>]-users`)",
                ));
            }
            return Ok(Some(AuthSpec {
                issuer: String::new(),
                audience: String::new(),
                jwks_url: None,
                added_cors_header: false,
                managed: Some(ManagedAuth {
                    pool_name: name.clone(),
                    client_name: name,
                }),
            }));
        }
        let Some(issuer) = &raw.issuer else {
            return Err(ConfigError {
                file: self.file.to_path_buf(),
                position: self.section_line("auth"),
                field: Some("auth.issuer".to_string()),
                message: "[auth] has no `issuer`: the handler cannot know whose tokens to trust".to_string(),
                fix: Some(
                    "write `issuer = \"https://your-tenant.example.com/\"` (your OIDC provider's issuer, \
                     exactly as its tokens' `iss`) and `audience = \"...\"`, or remove [auth]"
                        .to_string(),
                ),
            });
        };
        if let Some(problem) = url_problem(issuer.get_ref(), false) {
            return Err(self.error(
                issuer.span(),
                "auth.issuer",
                format!("the issuer `{}` {problem}", issuer.get_ref().escape_debug()),
                "write the issuer exactly as its tokens' `iss`, an https URL without query or fragment, \
                 e.g. `issuer = \"https://your-tenant.auth0.com/\"`",
            ));
        }
        let audience = match &raw.audience {
            Some(a) if !a.get_ref().trim().is_empty() => a.get_ref().clone(),
            Some(a) => {
                return Err(self.error(
                    a.span(),
                    "auth.audience",
                    "the audience is empty",
                    "write the audience your provider puts in its tokens' `aud` (an API identifier or \
                     a client id), e.g. `audience = \"api\"`",
                ))
            }
            None => {
                return Err(self.error(
                    issuer.span(),
                    "auth.audience",
                    "`issuer` without `audience`: any token the issuer signs for any app would be accepted",
                    "add `audience = \"...\"` under [auth]: the value your provider puts in its tokens' \
                     `aud` (an API identifier or a client id)",
                ))
            }
        };
        let jwks_url = match &raw.jwks_url {
            None => None,
            Some(url) => {
                if let Some(problem) = url_problem(url.get_ref(), true) {
                    return Err(self.error(
                        url.span(),
                        "auth.jwks_url",
                        format!("the JWKS URL `{}` {problem}", url.get_ref().escape_debug()),
                        "use an https URL without query or fragment (http only on 127.0.0.1, ::1 or \
                         localhost, for a local issuer), or remove `jwks_url` to use the issuer's \
                         discovery document",
                    ));
                }
                Some(url.get_ref().clone())
            }
        };
        Ok(Some(AuthSpec {
            issuer: issuer.get_ref().clone(),
            audience,
            jwks_url,
            added_cors_header: false,
            managed: None,
        }))
    }

    /// The line of the section's `[name]` header, if the file writes one.
    fn section_line(&self, name: &str) -> Option<(usize, usize)> {
        let header = format!("[{name}]");
        let mut offset = 0;
        for line in self.source.split_inclusive('\n') {
            if line.trim() == header {
                return Some(line_col(self.source, offset + line.find('[').unwrap_or(0)));
            }
            offset += line.len();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error_of, parse_with, project};

    fn with_auth(body: &str) -> impl Fn(String) -> String {
        let body = body.to_string();
        move |t: String| format!("{t}\n[auth]\n{body}\n")
    }

    #[test]
    fn an_external_issuer_is_resolved_with_its_variables() {
        let dir = project();
        let stack = parse_with(
            dir.path(),
            with_auth("issuer = \"https://issuer.example\"\naudience = \"api\"\njwks_url = \"http://127.0.0.1:9/jwks.json\""),
        )
        .unwrap();
        let auth = stack.auth.unwrap();
        assert_eq!(
            auth.variables(),
            vec![
                (AUTH_ISSUER_VARIABLE, "https://issuer.example".to_string()),
                (AUTH_AUDIENCE_VARIABLE, "api".to_string()),
                (
                    AUTH_JWKS_URL_VARIABLE,
                    "http://127.0.0.1:9/jwks.json".to_string()
                ),
            ]
        );
        let plain = parse_with(dir.path(), |t| t).unwrap();
        assert_eq!(plain.auth, None);
    }

    /// Cognito's access tokens have no `aud` (their app client is `client_id`); only its ID tokens do. An
    /// existing pool as `issuer` must therefore be checked by client id and `token_use = access`, or the API
    /// would accept ID tokens and refuse access tokens.
    #[test]
    fn a_cognito_pools_audience_is_its_client_id_for_access_tokens() {
        let dir = project();
        let auth = |issuer: &str| {
            parse_with(
                dir.path(),
                with_auth(&format!("issuer = \"{issuer}\"\naudience = \"client123\"")),
            )
            .unwrap()
            .auth
            .unwrap()
        };
        let pool = auth("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf");
        assert!(pool.is_cognito());
        assert_eq!(
            pool.variables(),
            vec![
                (
                    AUTH_ISSUER_VARIABLE,
                    "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf".to_string()
                ),
                (AUTH_CLIENT_ID_VARIABLE, "client123".to_string()),
            ]
        );
        // A look-alike host is not a pool.
        for other in [
            "https://cognito-idp.eu-west-1.amazonaws.com.evil.example/x",
            "https://evil.example/cognito-idp.eu-west-1.amazonaws.com",
        ] {
            assert!(!auth(other).is_cognito(), "{other}");
            assert_eq!(auth(other).variables()[1].0, AUTH_AUDIENCE_VARIABLE);
        }
    }

    /// A public URL under [auth] without a CORS config warns: the handler then answers preflights and
    /// allows any origin.
    #[test]
    fn a_public_url_without_cors_under_auth_warns() {
        let dir = project();
        let warned = |url: &str| {
            parse_with(dir.path(), |t| {
                format!("{t}\n{url}\n[auth]\nissuer = \"https://i.example\"\naudience = \"api\"\n")
            })
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("preflight"))
        };
        assert!(warned("[function.url]\nauth = \"none\""));
        assert!(!warned(
            "[function.url]\nauth = \"none\"\n[function.url.cors]\nallow_origins = [\"https://app.example\"]"
        ));
    }

    #[test]
    fn every_key_is_checked_with_its_field() {
        let field = |body: &str| error_of(with_auth(body)).field.unwrap();
        assert_eq!(
            field("issuer = \"http://issuer.example\"\naudience = \"a\""),
            "auth.issuer"
        );
        assert_eq!(
            field("issuer = \"https://i.example/?x=1\"\naudience = \"a\""),
            "auth.issuer"
        );
        assert_eq!(
            field("issuer = \"https://i.example/#f\"\naudience = \"a\""),
            "auth.issuer"
        );
        assert_eq!(
            field("issuer = \"https:///\"\naudience = \"a\""),
            "auth.issuer"
        );
        assert_eq!(field("issuer = \"https://i.example\""), "auth.audience");
        assert_eq!(
            field("issuer = \"https://i.example\"\naudience = \" \""),
            "auth.audience"
        );
        assert_eq!(field("audience = \"a\""), "auth.issuer");
        let jwks = |url: &str| {
            format!("issuer = \"https://i.example\"\naudience = \"a\"\njwks_url = \"{url}\"")
        };
        assert_eq!(
            field(&jwks("http://example.com/jwks.json")),
            "auth.jwks_url"
        );
        assert_eq!(field(&jwks("ftp://127.0.0.1/jwks.json")), "auth.jwks_url");
        for ok in [
            "http://localhost:8080/j",
            "http://[::1]:9/j",
            "https://keys.example/j",
        ] {
            let dir = project();
            assert!(parse_with(dir.path(), with_auth(&jwks(ok))).is_ok(), "{ok}");
        }
        let err = error_of(with_auth("cognito = true\naudience = \"a\""));
        assert_eq!(err.field.as_deref(), Some("auth.audience"));
        assert!(err.message.contains("with `cognito = true`"), "{err}");
    }

    /// `cognito = true`: the managed pool and client, named after the stack and the stage; no variables of
    /// its own (the pool's and the client's ids are learnt from them).
    #[test]
    fn cognito_true_names_the_pool_after_the_stack_and_stage() {
        let dir = project();
        let stack = parse_with(dir.path(), with_auth("cognito = true")).unwrap();
        let auth = stack.auth.unwrap();
        let managed = auth.managed.clone().unwrap();
        assert_eq!(managed.pool_name, format!("{}-users", stack.name));
        assert_eq!(managed.client_name, managed.pool_name);
        assert!(auth.variables().is_empty());
    }

    /// With a stage, the pool is the stage's own: `<stack>-<stage>-users`.
    #[test]
    fn with_a_stage_the_pool_is_named_after_it() {
        let dir = project();
        let path = dir.path().join("stack.toml");
        let text = std::fs::read_to_string(&path).unwrap() + "\n[auth]\ncognito = true\n";
        let stack = crate::config::parse_selected(
            &path,
            &text,
            crate::config::test_support::TODAY,
            crate::config::Selection {
                stage: Some("pr-7"),
                region: None,
            },
            &crate::resources::contributed(),
        )
        .unwrap();
        let managed = stack.auth.unwrap().managed.unwrap();
        assert_eq!(managed.pool_name, format!("{}-pr-7-users", stack.name));
    }

    #[test]
    fn pool_names_follow_cognitos_rule() {
        assert_eq!(pool_name_problem("my-app_prod-users"), None);
        assert_eq!(pool_name_problem("a b+=,.@-"), None);
        assert!(pool_name_problem("").is_some());
        assert!(pool_name_problem(&"a".repeat(129)).is_some());
        assert!(pool_name_problem("a/b").unwrap().contains("`/`"));
    }

    #[test]
    fn with_a_cors_config_the_resolved_headers_allow_authorization() {
        let dir = project();
        let auth = "[auth]\nissuer = \"https://i.example\"\naudience = \"a\"\n";
        let url = |headers: &str| {
            format!("\n[function.url]\nauth = \"none\"\n[function.url.cors]\nallow_origins = [\"*\"]\n{headers}\n")
        };
        let stack = parse_with(dir.path(), |t| format!("{t}{}{auth}", url(""))).unwrap();
        let cors = stack.url.unwrap().cors.unwrap();
        assert_eq!(cors.allow_headers, ["authorization"]);
        assert!(stack.auth.unwrap().added_cors_header);
        let written = url("allow_headers = [\"Authorization\"]");
        let stack = parse_with(dir.path(), |t| format!("{t}{written}{auth}")).unwrap();
        assert_eq!(
            stack.url.unwrap().cors.unwrap().allow_headers,
            ["Authorization"]
        );
        assert!(!stack.auth.unwrap().added_cors_header);
        // Without [auth], the file's list as written.
        let stack = parse_with(dir.path(), |t| format!("{t}{}", url(""))).unwrap();
        assert!(stack.url.unwrap().cors.unwrap().allow_headers.is_empty());
    }

    #[test]
    fn authorization_is_added_to_the_allowed_headers_once() {
        let mut cors = CorsSpec {
            allow_headers: vec!["Content-Type".into()],
            ..CorsSpec::default()
        };
        assert!(allow_authorization(&mut cors));
        assert!(!allow_authorization(&mut cors));
        assert_eq!(cors.allow_headers, ["Content-Type", "authorization"]);
        let mut upper = CorsSpec {
            allow_headers: vec!["Authorization".into()],
            ..CorsSpec::default()
        };
        assert!(!allow_authorization(&mut upper));
    }
}
